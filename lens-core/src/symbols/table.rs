//! The symbol table of a bundle: fixed-size records per definition, grouped by
//! doc and ordered by definition start, plus a sorted name dictionary.
//!
//! | file | content |
//! |---|---|
//! | `sym.rec` | 36-byte records ([`SymbolRecord`]), doc-major, by definition start |
//! | `sym.docs` | u32 per doc + 1: first record id of each doc |
//! | `sym.names` | 16-byte entries (string offset, length, first, count), sorted by (lower-case name, name) |
//! | `sym.byname` | u32 record ids, grouped by name entry |
//! | `sym.str` | names and scopes, UTF-8 |

use std::collections::HashMap;
use std::path::Path;

use super::kind::SymbolKind;
use crate::error::{Error, Result};

pub const RECORDS_FILE: &str = "sym.rec";
pub const DOCS_FILE: &str = "sym.docs";
pub const NAMES_FILE: &str = "sym.names";
pub const BYNAME_FILE: &str = "sym.byname";
pub const STRINGS_FILE: &str = "sym.str";

const RECORD_BYTES: usize = 36;
const NAME_ENTRY_BYTES: usize = 16;
const NONE: u32 = u32::MAX;

/// A definition found in one file, as the indexer hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolDef {
    pub kind: SymbolKind,
    /// Byte span of the name within the file.
    pub name_start: u32,
    pub name_end: u32,
    /// Byte span of the whole definition within the file.
    pub def_start: u32,
    pub def_end: u32,
    /// 1-based line of the name.
    pub line: u32,
    /// Index of the enclosing definition within the same file's list.
    pub parent: Option<u32>,
    /// Container path, e.g. `Foo::bar` or `pkg.Class`.
    pub scope: Option<String>,
}

/// A stored definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolRecord {
    pub doc: u32,
    pub name_start: u32,
    pub name_end: u32,
    pub def_start: u32,
    pub def_end: u32,
    pub line: u32,
    /// Record id of the enclosing definition.
    pub parent: Option<u32>,
    scope_off: u32,
    scope_len: u16,
    pub kind: SymbolKind,
}

/// Collects definitions while a bundle is built.
#[derive(Default)]
pub struct SymbolTableWriter {
    records: Vec<u8>,
    doc_starts: Vec<u32>,
    count: u32,
    strings: Vec<u8>,
    interned: HashMap<String, (u32, u16)>,
    /// (name bytes offset in `names_tmp`, len, record id), sorted at finish.
    names_tmp: Vec<u8>,
    name_refs: Vec<(u32, u16, u32)>,
}

impl SymbolTableWriter {
    pub fn new() -> Self {
        Self::default()
    }

    fn intern(&mut self, s: &str) -> (u32, u16) {
        if let Some(&v) = self.interned.get(s) {
            return v;
        }
        let len = s.len().min(u16::MAX as usize);
        let v = (self.strings.len() as u32, len as u16);
        self.strings.extend_from_slice(&s.as_bytes()[..len]);
        self.interned.insert(s.to_string(), v);
        v
    }

    /// Adds the definitions of doc `doc` (docs arrive in id order), sorted by
    /// definition start. Names must lie within `content` and be UTF-8.
    pub fn add_doc(&mut self, doc: u32, content: &[u8], defs: &[SymbolDef]) {
        while self.doc_starts.len() <= doc as usize {
            self.doc_starts.push(self.count);
        }
        // Stored record id of each def (skipped ones have none), so parents
        // stay right when a def is dropped; a parent always precedes its child.
        let mut stored: Vec<Option<u32>> = Vec::with_capacity(defs.len());
        for (i, d) in defs.iter().enumerate() {
            let Some(name) = content
                .get(d.name_start as usize..d.name_end as usize)
                .filter(|n| !n.is_empty() && n.len() <= u16::MAX as usize)
            else {
                stored.push(None);
                continue;
            };
            let (scope_off, scope_len) = match &d.scope {
                Some(s) if !s.is_empty() => self.intern(s),
                _ => (NONE, 0),
            };
            let parent = d
                .parent
                .filter(|&p| (p as usize) < i)
                .and_then(|p| stored[p as usize])
                .unwrap_or(NONE);
            stored.push(Some(self.count));
            let r = &mut self.records;
            for v in [
                doc,
                d.name_start,
                d.name_end,
                d.def_start,
                d.def_end,
                d.line,
                parent,
                scope_off,
            ] {
                r.extend_from_slice(&v.to_le_bytes());
            }
            r.extend_from_slice(&scope_len.to_le_bytes());
            r.push(d.kind as u8);
            r.push(0);
            self.name_refs
                .push((self.names_tmp.len() as u32, name.len() as u16, self.count));
            self.names_tmp.extend_from_slice(name);
            self.count += 1;
        }
    }

    pub fn len(&self) -> usize {
        self.count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Writes the table's files into `dir`; `docs` is the bundle's doc count.
    pub fn finish(
        mut self,
        docs: usize,
        write: &dyn Fn(&Path, &[u8]) -> Result<()>,
        dir: &Path,
    ) -> Result<()> {
        while self.doc_starts.len() <= docs {
            self.doc_starts.push(self.count);
        }
        let tmp = std::mem::take(&mut self.names_tmp);
        let name_of =
            |&(off, len, _): &(u32, u16, u32)| &tmp[off as usize..off as usize + len as usize];
        let mut refs = std::mem::take(&mut self.name_refs);
        refs.sort_unstable_by(|a, b| {
            let (na, nb) = (name_of(a), name_of(b));
            cmp_folded(na, nb)
                .then_with(|| na.cmp(nb))
                .then(a.2.cmp(&b.2))
        });
        let mut names = Vec::new();
        let mut byname = Vec::with_capacity(refs.len() * 4);
        let mut i = 0;
        while i < refs.len() {
            let name = name_of(&refs[i]);
            let mut j = i;
            while j < refs.len() && name_of(&refs[j]) == name {
                byname.extend_from_slice(&refs[j].2.to_le_bytes());
                j += 1;
            }
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(name);
            for v in [off, name.len() as u32, i as u32, (j - i) as u32] {
                names.extend_from_slice(&v.to_le_bytes());
            }
            i = j;
        }
        let starts: Vec<u8> = self
            .doc_starts
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        write(&dir.join(RECORDS_FILE), &self.records)?;
        write(&dir.join(DOCS_FILE), &starts)?;
        write(&dir.join(NAMES_FILE), &names)?;
        write(&dir.join(BYNAME_FILE), &byname)?;
        write(&dir.join(STRINGS_FILE), &self.strings)?;
        Ok(())
    }
}

/// ASCII case-folded comparison (the order of the name dictionary).
pub fn cmp_folded(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    let fa = a.iter().map(u8::to_ascii_lowercase);
    let fb = b.iter().map(u8::to_ascii_lowercase);
    fa.cmp(fb)
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
}

/// A name dictionary entry: one distinct name and its record ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameEntry {
    str_off: u32,
    str_len: u32,
    first: u32,
    count: u32,
}

/// Read view over the table's (memory-mapped) files, validated at open.
pub struct SymbolTable<B> {
    records: B,
    doc_starts: B,
    names: B,
    byname: B,
    strings: B,
}

impl<B: std::ops::Deref<Target = [u8]>> SymbolTable<B> {
    /// Checks sizes and cross-references; `dir` names files in errors.
    pub fn new(
        records: B,
        doc_starts: B,
        names: B,
        byname: B,
        strings: B,
        docs: usize,
        dir: &Path,
    ) -> Result<Self> {
        let bad = |f: &str, why: &str| Err(Error::corrupt(dir.join(f), why.to_string()));
        if !records.len().is_multiple_of(RECORD_BYTES) {
            return bad(RECORDS_FILE, "size is not a whole number of records");
        }
        let n = (records.len() / RECORD_BYTES) as u32;
        if doc_starts.len() != (docs + 1) * 4 {
            return bad(DOCS_FILE, "does not have one entry per doc");
        }
        let mut prev = 0;
        for i in 0..=docs {
            let v = u32_at(&doc_starts, i * 4);
            if v < prev || v > n {
                return bad(DOCS_FILE, "offsets out of order");
            }
            prev = v;
        }
        if !names.len().is_multiple_of(NAME_ENTRY_BYTES) || byname.len() != n as usize * 4 {
            return bad(NAMES_FILE, "sizes disagree with the records");
        }
        let t = SymbolTable {
            records,
            doc_starts,
            names,
            byname,
            strings,
        };
        for e in t.name_entries() {
            if (e.str_off as usize + e.str_len as usize) > t.strings.len()
                || (e.first as u64 + e.count as u64) > n as u64
            {
                return bad(NAMES_FILE, "entry out of range");
            }
        }
        for i in 0..n {
            let r = t.record_unchecked(i);
            if r.kind_byte() == 0 || r.u32(0) as usize >= docs {
                return bad(RECORDS_FILE, "bad kind or doc");
            }
        }
        Ok(t)
    }

    pub fn len(&self) -> usize {
        self.records.len() / RECORD_BYTES
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Record ids of one doc, in definition-start order.
    pub fn doc_range(&self, doc: u32) -> std::ops::Range<u32> {
        let i = doc as usize * 4;
        if i + 8 > self.doc_starts.len() {
            return 0..0;
        }
        u32_at(&self.doc_starts, i)..u32_at(&self.doc_starts, i + 4)
    }

    fn record_unchecked(&self, id: u32) -> RawRecord<'_> {
        let o = id as usize * RECORD_BYTES;
        RawRecord(&self.records[o..o + RECORD_BYTES])
    }

    pub fn record(&self, id: u32) -> SymbolRecord {
        self.record_unchecked(id).decode()
    }

    /// The record's scope (container path), if any.
    pub fn scope(&self, r: &SymbolRecord) -> Option<&str> {
        if r.scope_off == NONE {
            return None;
        }
        let b = self
            .strings
            .get(r.scope_off as usize..r.scope_off as usize + r.scope_len as usize)?;
        std::str::from_utf8(b).ok()
    }

    pub fn name_entries(&self) -> impl Iterator<Item = NameEntry> + '_ {
        self.names
            .chunks_exact(NAME_ENTRY_BYTES)
            .map(|c| NameEntry {
                str_off: u32_at(c, 0),
                str_len: u32_at(c, 4),
                first: u32_at(c, 8),
                count: u32_at(c, 12),
            })
    }

    /// Distinct names in the dictionary.
    pub fn name_count(&self) -> usize {
        self.names.len() / NAME_ENTRY_BYTES
    }

    /// The `i`-th dictionary entry (in case-folded name order).
    pub fn name_entry(&self, i: usize) -> NameEntry {
        let c = &self.names[i * NAME_ENTRY_BYTES..(i + 1) * NAME_ENTRY_BYTES];
        NameEntry {
            str_off: u32_at(c, 0),
            str_len: u32_at(c, 4),
            first: u32_at(c, 8),
            count: u32_at(c, 12),
        }
    }

    pub fn name_bytes(&self, e: &NameEntry) -> &[u8] {
        &self.strings[e.str_off as usize..(e.str_off + e.str_len) as usize]
    }

    /// Record ids of a name entry.
    pub fn ids(&self, e: &NameEntry) -> impl Iterator<Item = u32> + '_ {
        let from = e.first as usize * 4;
        self.byname[from..from + e.count as usize * 4]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
    }

    /// Entries whose name equals `name` (ASCII case-folded when asked).
    pub fn lookup(&self, name: &[u8], case_insensitive: bool) -> Vec<NameEntry> {
        let n = self.names.len() / NAME_ENTRY_BYTES;
        let (mut lo, mut hi) = (0, n);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if cmp_folded(self.name_bytes(&self.name_entry(mid)), name).is_lt() {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut out = Vec::new();
        for i in lo..n {
            let e = self.name_entry(i);
            let b = self.name_bytes(&e);
            if !cmp_folded(b, name).is_eq() {
                break;
            }
            if case_insensitive || b == name {
                out.push(e);
            }
        }
        out
    }

    /// The innermost definition of `doc` whose span contains `[start, end)`.
    pub fn enclosing(&self, doc: u32, start: u32, end: u32) -> Option<u32> {
        let range = self.doc_range(doc);
        // Last definition starting at or before `start`; parents precede children.
        let (mut lo, mut hi) = (range.start, range.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.record_unchecked(mid).def_start() <= start {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut cand = if lo > range.start { Some(lo - 1) } else { None };
        // Walk back over siblings that ended before `end`, then up the parents.
        let mut steps = 0;
        while let Some(id) = cand {
            let r = self.record_unchecked(id);
            if r.def_start() <= start && r.def_end() >= end {
                return Some(id);
            }
            steps += 1;
            cand = match r.parent() {
                Some(p) if p >= range.start && p < id => Some(p),
                _ if steps < 64 && id > range.start => Some(id - 1),
                _ => None,
            };
        }
        None
    }

    /// Whether `[start, end)` in `doc` is exactly the name of a definition.
    pub fn is_definition_name(&self, doc: u32, start: u32, end: u32) -> Option<u32> {
        self.definition_name_within(self.enclosing(doc, start, end), start, end)
    }

    /// [`Self::is_definition_name`] given the span's enclosing definition,
    /// for callers that already looked it up.
    pub fn definition_name_within(
        &self,
        enclosing: Option<u32>,
        start: u32,
        end: u32,
    ) -> Option<u32> {
        let mut cand = enclosing;
        while let Some(id) = cand {
            let r = self.record_unchecked(id);
            if r.name_start() == start && r.name_end() == end {
                return Some(id);
            }
            // Parents precede children; anything else is not followed.
            cand = r.parent().filter(|&p| p < id);
        }
        None
    }
}

struct RawRecord<'a>(&'a [u8]);

impl RawRecord<'_> {
    fn u32(&self, i: usize) -> u32 {
        u32_at(self.0, i * 4)
    }
    fn def_start(&self) -> u32 {
        self.u32(3)
    }
    fn def_end(&self) -> u32 {
        self.u32(4)
    }
    fn name_start(&self) -> u32 {
        self.u32(1)
    }
    fn name_end(&self) -> u32 {
        self.u32(2)
    }
    fn parent(&self) -> Option<u32> {
        Some(self.u32(6)).filter(|&p| p != NONE)
    }
    fn kind_byte(&self) -> u8 {
        SymbolKind::from_u8(self.0[34])
            .map(|k| k as u8)
            .unwrap_or(0)
    }
    fn decode(&self) -> SymbolRecord {
        SymbolRecord {
            doc: self.u32(0),
            name_start: self.u32(1),
            name_end: self.u32(2),
            def_start: self.u32(3),
            def_end: self.u32(4),
            line: self.u32(5),
            parent: self.parent(),
            scope_off: self.u32(7),
            scope_len: u16::from_le_bytes([self.0[32], self.0[33]]),
            kind: SymbolKind::from_u8(self.0[34]).unwrap_or(SymbolKind::Variable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: SymbolKind, name: (u32, u32), span: (u32, u32), parent: Option<u32>) -> SymbolDef {
        SymbolDef {
            kind,
            name_start: name.0,
            name_end: name.1,
            def_start: span.0,
            def_end: span.1,
            line: 1,
            parent,
            scope: None,
        }
    }

    /// A def dropped at write time (empty name) must not shift its siblings' parents.
    #[test]
    fn parents_survive_dropped_definitions() {
        let content = b"struct A { b: u8 } fn c() {}";
        let defs = [
            def(SymbolKind::Struct, (7, 8), (0, 18), None),
            def(SymbolKind::Field, (11, 11), (11, 16), Some(0)),
            def(SymbolKind::Field, (11, 12), (11, 16), Some(0)),
            def(SymbolKind::Function, (22, 23), (19, 28), Some(7)),
        ];
        let mut w = SymbolTableWriter::new();
        w.add_doc(0, content, &defs);
        let dir = tempfile::tempdir().unwrap();
        let write = |p: &Path, b: &[u8]| std::fs::write(p, b).map_err(|e| Error::io(p, e));
        w.finish(1, &write, dir.path()).unwrap();
        let r = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
        let t = SymbolTable::new(
            r(RECORDS_FILE),
            r(DOCS_FILE),
            r(NAMES_FILE),
            r(BYNAME_FILE),
            r(STRINGS_FILE),
            1,
            dir.path(),
        )
        .unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(
            t.record(1).parent,
            Some(0),
            "the field's parent is the struct"
        );
        assert_eq!(
            t.record(2).parent,
            None,
            "a parent after the child is dropped"
        );
        assert_eq!(t.is_definition_name(0, 11, 12), Some(1));
        assert_eq!(t.enclosing(0, 12, 13), Some(1));
        assert_eq!(t.lookup(b"a", true).len(), 1);
        assert!(t.lookup(b"a", false).is_empty());
    }
}
