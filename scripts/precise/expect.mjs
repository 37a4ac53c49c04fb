#!/usr/bin/env node
// Extract ground-truth facts from the precise-intel fixtures for lens Stage-B
// round-trip tests. Reads, under FIXTURE_DIR:
//   src-ts/ + ts/index.scip (scip-typescript) + ts/dump.lsif (lsif-tsc)
//   src-py/ + py/index.scip (scip-python)
// and prints expectations.json on stdout.
//
//   LENS_PRECISE_DIR=... node scripts/precise/expect.mjs FIXTURE_DIR > expectations.json
//
// SCIP is decoded with the protobuf bindings generated from scip.proto that ship
// inside @sourcegraph/scip-typescript (dist/src/scip.js, google-protobuf), taken
// from the install dir (install.sh). LSIF is walked by hand (JSON lines).
//
// Conventions (all of them are also spelled out in the output's "conventions"):
//  * positions are 0-based line / 0-based UTF-16 code-unit character; ranges are
//    {start:{line,character}, end:{line,character}}, end exclusive;
//  * paths are relative to the project root (src-ts/ or src-py/);
//  * a target is a *reference* occurrence (not a definition) picked by name
//    (n-th matching occurrence in the file, in document order);
//  * SCIP "local N" symbols are document-scoped: they are matched per document;
//  * reference_count = occurrences of the symbol without the Definition role,
//    over all documents (SCIP), or ranges under the "references" property of the
//    referenceResult, following referenceResults edges (LSIF);
//  * definition_count / definitions = SCIP occurrences with the Definition role,
//    LSIF ranges in the definitionResult;
//  * hover_first_line = first non-empty line of the hover text that is not a
//    markdown code fence (``` or ```lang), trimmed: SCIP uses
//    Occurrence.override_documentation else SymbolInformation.documentation
//    (joined with "\n"), LSIF uses hoverResult.result.contents (MarkedString
//    values / MarkupContent value, joined with "\n").

import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { createRequire } from 'node:module';

const fixtureDir = process.argv[2];
if (!fixtureDir) {
  console.error('usage: node expect.mjs FIXTURE_DIR');
  process.exit(2);
}
const installDir = process.env.LENS_PRECISE_DIR || path.join(os.homedir(), '.cache/lens/precise');
const require = createRequire(path.join(installDir, 'node_modules', 'noop.js'));
const { scip } = require('@sourcegraph/scip-typescript/dist/src/scip.js');

// --------------------------------------------------------------- targets
// name: identifier text; path: file (relative to the project root) holding the
// reference occurrence; nth: which matching reference occurrence in that file
// (0-based, document order), optionally only among occurrences whose SCIP symbol
// contains `symbol`. `via: "text"` locates the identifier in the source text
// instead (for identifiers the indexer may not emit an occurrence for).
const TS_TARGETS = [
  { id: 'createStore-call', path: 'src/createStore.ts', name: 'createStore', nth: 0,
    note: 'overloaded function: call in legacy_createStore; definitions are all overload signatures' },
  { id: 'Reducer-type', path: 'src/combineReducers.ts', name: 'Reducer', nth: 0,
    note: 'type alias, imported from ./types/reducers' },
  { id: 'isPlainObject-call', path: 'src/createStore.ts', name: 'isPlainObject', nth: 1,
    note: 'default-exported function (default import). lsif-tsc treats the import binding as a renamed alias (export name "default") with its own referenceResult and NO definitionResult, so LSIF has no definition here while SCIP does' },
  { id: 'kindOf-call', path: 'src/createStore.ts', name: 'kindOf', nth: 1,
    note: 'named import of a function (LSIF: alias resultSet -> next -> original resultSet)' },
  { id: 'ActionTypes-member', path: 'src/combineReducers.ts', name: 'ActionTypes', nth: 1,
    note: 'const object (default export of utils/actionTypes.ts)' },
  { id: 'compose-call', path: 'src/applyMiddleware.ts', name: 'compose', nth: 1,
    note: 'overloaded function, 8 signatures, default import (LSIF: no definition, see isPlainObject-call)' },
  { id: 'dispatch-property', path: 'src/applyMiddleware.ts', name: 'dispatch', symbol: 'Store#dispatch.', nth: 0,
    note: 'property access store.dispatch on an instantiated generic type (Store<S, A, ...> & Ext). lsif-tsc: transient symbol, its resultSet has only a referenceResult whose referenceLinks moniker leads to the declared Store.dispatch (definition + hover there)' },
  { id: 'currentReducer-local', path: 'src/createStore.ts', name: 'currentReducer', nth: 0,
    note: 'function-local variable (SCIP: document-scoped "local N" symbol)' },
  { id: 'process-unresolved', path: 'src/combineReducers.ts', name: 'process', nth: 0, via: 'text',
    note: 'no @types/node: unresolved global, expect no definition' },
];
const PY_TARGETS = [
  { id: '_multicall-ref', path: 'pluggy/_manager.py', name: '_multicall', nth: 1,
    note: 'module-level function from another module (not the import line)' },
  { id: 'HookCaller-ref', path: 'pluggy/_manager.py', name: 'HookCaller', nth: 1,
    note: 'class from another module; scip-python 0.6.6 emits no SymbolInformation for it (also HookImpl, HookSpec), so no hover' },
  { id: 'Result-ref', path: 'pluggy/_callers.py', name: 'Result', nth: 1,
    note: 'class from another module' },
  { id: 'HookimplMarker-import', path: 'pluggy/__init__.py', name: 'HookimplMarker', nth: 0,
    note: 're-export import in the package __init__' },
  { id: 'get_result-method', path: 'pluggy/_callers.py', name: 'get_result', nth: 0,
    note: 'method call on an instance' },
  { id: 'firstresult-param', path: 'pluggy/_callers.py', name: 'firstresult', nth: 0,
    note: 'parameter (global symbol with a (param) descriptor in scip-python); SymbolInformation present but documentation empty' },
  { id: '_callers-module', path: 'pluggy/_manager.py', name: '._callers', nth: 0,
    note: 'relative module in `from ._callers import _multicall`: the occurrence covers "._callers" (dot included) and its symbol has no package prefix and no definition in the index' },
];

// ---------------------------------------------------------------- helpers
const readLines = (p) => fs.readFileSync(p, 'utf8').split(/\r\n|\n|\r/);
const pos = (line, character) => ({ line, character });
const rng = (sl, sc, el, ec) => ({ start: pos(sl, sc), end: pos(el, ec) });
const scipRange = (r) => (r.length === 3 ? rng(r[0], r[1], r[0], r[2]) : rng(r[0], r[1], r[2], r[3]));
const cmpPos = (a, b) => a.line - b.line || a.character - b.character;
const sliceRange = (lines, r) =>
  r.start.line === r.end.line ? lines[r.start.line].slice(r.start.character, r.end.character) : null;

function hoverFirstLine(text) {
  if (!text) return null;
  for (const raw of text.split(/\r\n|\n|\r/)) {
    const l = raw.trim();
    if (l === '' || /^```\w*$/.test(l) || l === '---') continue;
    return l;
  }
  return null;
}

function findTextOccurrence(lines, name, nth) {
  const re = new RegExp(`(?<![A-Za-z0-9_$])${name.replace(/[$]/g, '\\$')}(?![A-Za-z0-9_$])`, 'g');
  let k = 0;
  for (let i = 0; i < lines.length; i++) {
    for (const m of lines[i].matchAll(re)) {
      if (k++ === nth) return rng(i, m.index, i, m.index + name.length);
    }
  }
  return null;
}

// ------------------------------------------------------------------- SCIP
function loadScip(file) {
  const index = scip.Index.deserializeBinary(new Uint8Array(fs.readFileSync(file))).toObject();
  const docs = new Map(index.documents.map((d) => [d.relative_path, d]));
  // symbol key: global symbols by name, local symbols by (document, name).
  const key = (doc, sym) => (sym.startsWith('local ') ? `${doc}\u0000${sym}` : sym);
  const defs = new Map(), refs = new Map(), infos = new Map();
  for (const d of index.documents) {
    for (const o of d.occurrences) {
      if (!o.symbol) continue;
      const k = key(d.relative_path, o.symbol);
      const bucket = o.symbol_roles & 1 ? defs : refs;
      if (!bucket.has(k)) bucket.set(k, []);
      bucket.get(k).push({ path: d.relative_path, range: scipRange(o.range), roles: o.symbol_roles });
    }
    for (const s of d.symbols) infos.set(key(d.relative_path, s.symbol), s);
  }
  for (const s of index.external_symbols || []) if (!infos.has(s.symbol)) infos.set(s.symbol, s);
  return { index, docs, key, defs, refs, infos, file };
}

function scipSummary(S, root) {
  const m = S.index.metadata;
  let occ = 0, syms = 0;
  for (const d of S.index.documents) { occ += d.occurrences.length; syms += d.symbols.length; }
  return {
    file: path.relative(root, S.file),
    bytes: fs.statSync(S.file).size,
    tool: { name: m.tool_info.name, version: m.tool_info.version },
    project_root: m.project_root,
    text_document_encoding: ['Unspecified', 'UTF8', 'UTF16'][m.text_document_encoding] ?? m.text_document_encoding,
    position_encoding_field: 'absent (Document.position_encoding is not in the schema these indexers were built with); columns are UTF-16 code units',
    documents: S.index.documents.map((d) => d.relative_path).sort(),
    document_language_field: [...new Set(S.index.documents.map((d) => d.language))],
    occurrence_count: occ,
    document_symbol_count: syms,
    external_symbol_count: (S.index.external_symbols || []).length,
  };
}

function scipTargets(S, srcRoot, targets) {
  const out = [];
  for (const t of targets) {
    const lines = readLines(path.join(srcRoot, t.path));
    const doc = S.docs.get(t.path);
    if (!doc) throw new Error(`SCIP index has no document ${t.path}`);
    let at;
    if (t.via === 'text') {
      at = findTextOccurrence(lines, t.name, t.nth);
    } else {
      const cands = doc.occurrences
        .filter((o) => o.symbol && !(o.symbol_roles & 1) && (!t.symbol || o.symbol.includes(t.symbol)))
        .map((o) => ({ o, r: scipRange(o.range) }))
        .filter(({ r }) => sliceRange(lines, r) === t.name)
        .sort((a, b) => cmpPos(a.r.start, b.r.start));
      if (!cands[t.nth]) throw new Error(`${t.id}: no reference occurrence #${t.nth} of ${t.name} in ${t.path}`);
      at = cands[t.nth].r;
    }
    if (!at) throw new Error(`${t.id}: ${t.name} not found in ${t.path}`);
    const occ = doc.occurrences.find(
      (o) => o.symbol && !(o.symbol_roles & 1) && cmpPos(scipRange(o.range).start, at.start) === 0,
    );
    const e = {
      id: t.id, name: t.name, note: t.note, path: t.path,
      line: at.start.line, character: at.start.character,
      line_text: lines[at.start.line],
    };
    if (!occ) {
      Object.assign(e, { occurrence: null, symbol: null, definitions: [], definition_count: 0, reference_count: 0, hover_first_line: null, hover_text: null });
      out.push(e);
      continue;
    }
    const k = S.key(t.path, occ.symbol);
    const defs = (S.defs.get(k) || []).map(({ path: p, range }) => ({ path: p, range }));
    const info = S.infos.get(k);
    const docText = occ.override_documentation?.length
      ? occ.override_documentation.join('\n')
      : info?.documentation?.join('\n') ?? null;
    Object.assign(e, {
      occurrence: { range: scipRange(occ.range), symbol_roles: occ.symbol_roles },
      symbol: occ.symbol,
      symbol_is_local: occ.symbol.startsWith('local '),
      definitions: defs,
      definition_count: defs.length,
      reference_count: (S.refs.get(k) || []).length,
      reference_files: [...new Set((S.refs.get(k) || []).map((r) => r.path))].sort(),
      has_symbol_information: info !== undefined,
      hover_first_line: hoverFirstLine(docText),
      hover_text: docText,
    });
    out.push(e);
  }
  return out;
}

// ------------------------------------------------------------------- LSIF
function loadLsif(file) {
  const V = new Map(); // id -> vertex
  const out = new Map(); // outV -> [edge]
  const into = new Map(); // inV -> [edge]
  const labels = { vertex: {}, edge: {} };
  const docOfRange = new Map();
  let first = null, last = null, lines = 0;
  let forwardRefs = 0; // edges naming a vertex id not emitted yet (LSIF wants vertices first)
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const o = JSON.parse(line);
    lines++;
    first ??= o;
    last = o;
    labels[o.type][o.label] = (labels[o.type][o.label] || 0) + 1;
    if (o.type === 'vertex') V.set(o.id, o);
    else {
      for (const i of [o.outV, ...(o.inVs ?? [o.inV])]) if (!V.has(i)) forwardRefs++;
      if (!out.has(o.outV)) out.set(o.outV, []);
      out.get(o.outV).push(o);
      for (const i of o.inVs ?? [o.inV]) {
        if (!into.has(i)) into.set(i, []);
        into.get(i).push(o);
      }
      if (o.label === 'contains' && V.get(o.outV)?.label === 'document') {
        for (const r of o.inVs) docOfRange.set(r, o.outV);
      }
    }
  }
  const group = [...V.values()].find((v) => v.label === 'group');
  const project = [...V.values()].find((v) => v.label === 'project' && v.resource);
  const rootUri = (group?.rootUri ?? path.dirname(project.resource)).replace(/\/?$/, '/');
  return { V, out, into, labels, docOfRange, first, last, lines, rootUri, file, forwardRefs };
}

function lsifEdges(L, id, label) {
  return (L.out.get(id) || []).filter((e) => e.label === label);
}
// range -> next -> resultSet -> next -> ... ; first vertex on the chain with `label`.
function lsifResult(L, rangeId, label) {
  const seen = new Set();
  for (let cur = rangeId; cur !== undefined && !seen.has(cur); ) {
    seen.add(cur);
    const e = lsifEdges(L, cur, label)[0];
    if (e) return L.V.get(e.inV);
    cur = lsifEdges(L, cur, 'next')[0]?.inV;
  }
  return null;
}
function lsifRel(L, uri) {
  return uri.startsWith(L.rootUri) ? decodeURIComponent(uri.slice(L.rootUri.length)) : uri;
}
function lsifRangeOut(L, id) {
  const v = L.V.get(id);
  const doc = L.V.get(L.docOfRange.get(id));
  return { path: doc ? lsifRel(L, doc.uri) : null, range: rng(v.start.line, v.start.character, v.end.line, v.end.character) };
}
function lsifItems(L, resultId, property) {
  const ids = [];
  for (const e of lsifEdges(L, resultId, 'item')) {
    if (property === undefined || e.property === property) ids.push(...e.inVs);
  }
  return ids;
}
function lsifReferenceRanges(L, refResultId, property, seen = new Set()) {
  if (seen.has(refResultId)) return [];
  seen.add(refResultId);
  const ids = lsifItems(L, refResultId, property);
  for (const sub of lsifItems(L, refResultId, 'referenceResults')) ids.push(...lsifReferenceRanges(L, sub, property, seen));
  return [...new Set(ids)];
}
function hoverText(contents) {
  const one = (c) => (typeof c === 'string' ? c : c?.value ?? '');
  return Array.isArray(contents) ? contents.map(one).join('\n') : one(contents);
}

function lsifSummary(L, root) {
  const meta = L.V.get(1)?.label === 'metaData' ? L.V.get(1) : [...L.V.values()].find((v) => v.label === 'metaData');
  const docs = [...L.V.values()].filter((v) => v.label === 'document').map((v) => v.uri);
  const inRoot = docs.filter((u) => u.startsWith(L.rootUri)).map((u) => lsifRel(L, u)).sort();
  const last = L.last;
  return {
    file: path.relative(root, L.file),
    bytes: fs.statSync(L.file).size,
    lines: L.lines,
    meta_data: meta,
    root_uri: L.rootUri,
    projects: [...L.V.values()].filter((v) => v.label === 'project').map((v) => v.name),
    documents_total: docs.length,
    documents_in_root: inRoot,
    documents_outside_root: docs.length - inRoot.length,
    document_contents_embedded: [...L.V.values()].some((v) => v.label === 'document' && v.contents),
    vertex_labels: L.labels.vertex,
    edge_labels: L.labels.edge,
    first_line: { id: L.first.id, type: L.first.type, label: L.first.label },
    last_line: { id: last.id, type: last.type, label: last.label, scope: last.scope, kind: last.kind },
    complete: last.label === '$event' && last.scope === 'group' && last.kind === 'end',
    integrity: {
      edges_referencing_unknown_or_later_vertices: L.forwardRefs,
      documents_without_contains_edge: [...L.V.values()].filter(
        (v) => v.label === 'document' && !lsifEdges(L, v.id, 'contains').length).length,
      ranges_not_contained_in_a_document: [...L.V.values()].filter(
        (v) => v.label === 'range' && !L.docOfRange.has(v.id)).length,
      document_begin_events: [...L.V.values()].filter((v) => v.label === '$event' && v.scope === 'document' && v.kind === 'begin').length,
      document_end_events: [...L.V.values()].filter((v) => v.label === '$event' && v.scope === 'document' && v.kind === 'end').length,
    },
  };
}

function lsifTargets(L, scipTs) {
  const out = [];
  for (const t of scipTs) {
    const doc = [...L.V.values()].find((v) => v.label === 'document' && lsifRel(L, v.uri) === t.path);
    const e = { id: t.id, name: t.name, path: t.path, line: t.line, character: t.character };
    const p = pos(t.line, t.character);
    const containing = lsifEdges(L, doc.id, 'contains')
      .flatMap((c) => c.inVs)
      .map((id) => L.V.get(id))
      .filter((r) => r.label === 'range' && cmpPos(r.start, p) <= 0 && cmpPos(p, r.end) < 0)
      .sort((a, b) => cmpPos(b.start, a.start) || cmpPos(a.end, b.end));
    const r = containing[0];
    if (!r) {
      Object.assign(e, { range: null, definitions: [], definition_count: 0, reference_count: 0, hover_first_line: null, hover_text: null, reference_links: [] });
      out.push(e);
      continue;
    }
    const defResult = lsifResult(L, r.id, 'textDocument/definition');
    const refResult = lsifResult(L, r.id, 'textDocument/references');
    const hover = lsifResult(L, r.id, 'textDocument/hover');
    const defs = defResult ? lsifItems(L, defResult.id).map((id) => lsifRangeOut(L, id)) : [];
    defs.sort((a, b) => (a.path ?? '').localeCompare(b.path ?? '') || cmpPos(a.range.start, b.range.start));
    const refIds = refResult ? lsifReferenceRanges(L, refResult.id, 'references') : [];
    const refDefIds = refResult ? lsifReferenceRanges(L, refResult.id, 'definitions') : [];
    // "referenceLinks" point at monikers of other result sets (lsif-tsc uses this
    // for transient symbols, e.g. properties of instantiated generic types): report
    // what the linked result sets say, separately from the direct answers.
    const links = (refResult ? lsifItems(L, refResult.id, 'referenceLinks') : []).map((mid) => {
      const m = L.V.get(mid);
      const sets = (L.into.get(mid) || []).filter((e) => e.label === 'moniker').map((e) => e.outV);
      const defs = sets.flatMap((rs) => {
        const dr = lsifResult(L, rs, 'textDocument/definition');
        return dr ? lsifItems(L, dr.id).map((id) => lsifRangeOut(L, id)) : [];
      });
      const hv = sets.map((rs) => lsifResult(L, rs, 'textDocument/hover')).find(Boolean);
      return {
        moniker: { scheme: m.scheme, identifier: m.identifier, kind: m.kind, unique: m.unique },
        definitions: defs,
        hover_first_line: hv ? hoverFirstLine(hoverText(hv.result.contents)) : null,
      };
    });
    Object.assign(e, {
      range: { id: r.id, ...rng(r.start.line, r.start.character, r.end.line, r.end.character), tag: r.tag ?? null },
      definitions: defs,
      definition_count: defs.length,
      reference_count: refIds.length,
      reference_result_definitions: refDefIds.length,
      reference_files: [...new Set(refIds.map((id) => lsifRangeOut(L, id).path))].sort(),
      hover_first_line: hover ? hoverFirstLine(hoverText(hover.result.contents)) : null,
      hover_text: hover ? hoverText(hover.result.contents) : null,
      reference_links: links,
    });
    out.push(e);
  }
  return out;
}

// ------------------------------------------------------------------- main
const root = path.resolve(fixtureDir);
const tsScip = loadScip(path.join(root, 'ts/index.scip'));
const pyScip = loadScip(path.join(root, 'py/index.scip'));
const tsLsif = loadLsif(path.join(root, 'ts/dump.lsif'));
const tsScipTargets = scipTargets(tsScip, path.join(root, 'src-ts'), TS_TARGETS);

const result = {
  generated_by: 'scripts/precise/make-fixtures.sh -> scripts/precise/expect.mjs',
  conventions: {
    position: '0-based line, 0-based UTF-16 code-unit character; ranges {start,end}, end exclusive',
    path: 'relative to the project root (src-ts/ or src-py/); LSIF URIs relativised against group.rootUri',
    target: 'a reference (non-definition) occurrence; line/character is its start',
    scip_reference_count: 'occurrences of the symbol without the Definition role (bit 0x1), all documents; "local N" symbols counted within their own document only',
    scip_definitions: 'occurrences of the symbol with the Definition role',
    lsif_reference_count: 'distinct ranges under item edges with property "references" of the referenceResult, following "referenceResults" item edges recursively ("referenceLinks" monikers are not followed)',
    lsif_definitions: 'ranges of the definitionResult reached from the range (directly or via next->resultSet)',
    lsif_reference_links: 'for each moniker under "referenceLinks" items of the referenceResult: the definitions/hover of the result sets carrying that moniker (how lsif-tsc links transient symbols to their declaration)',
    hover_first_line: 'first non-empty line of the hover markdown that is not a ``` fence or ---, trimmed',
    hover_text: 'SCIP: override_documentation else SymbolInformation.documentation joined with "\\n"; LSIF: hoverResult contents values joined with "\\n"',
  },
  sources: {
    ts: { package: 'redux', version: '5.0.1', from: 'npm tarball redux-5.0.1.tgz (package/src, package.json, LICENSE.md)', root: 'src-ts', added: ['tsconfig.json'] },
    py: { package: 'pluggy', version: '1.5.0', from: 'PyPI wheel pluggy-1.5.0-py3-none-any.whl (pluggy/, LICENSE)', root: 'src-py' },
  },
  ts_scip: { summary: scipSummary(tsScip, root), targets: tsScipTargets },
  ts_lsif: { summary: lsifSummary(tsLsif, root), targets: lsifTargets(tsLsif, tsScipTargets) },
  py_scip: { summary: scipSummary(pyScip, root), targets: scipTargets(pyScip, path.join(root, 'src-py'), PY_TARGETS) },
};
process.stdout.write(JSON.stringify(result, null, 2) + '\n');
