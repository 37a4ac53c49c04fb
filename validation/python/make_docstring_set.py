#!/usr/bin/env python3
"""Build a held-out code-retrieval set from the docstrings of pinned PyPI packages (CoSQA layout).

    python3 validation/python/make_docstring_set.py [--out validation/data/docstring-set]

Downloads pinned pure-Python wheels (`pip download --no-deps`, checked against their sha256), parses every
module with `ast` and keeps each function or method that has a docstring and a real body. The document is
the function's source (from its `def` line, decorators left out, de-indented) without its docstring and
those of the functions and classes nested in it; the query is the docstring's first sentence, lower-cased,
markup stripped, trailing punctuation removed, kept only with 4-40 words and when it does not contain the
function's name (leading/trailing underscores stripped) as a word. Documents are deduplicated on their
code; a query text that several functions share is dropped for all of them (they stay in the corpus). A
fixed-seed sample of the queries is written with one relevant document each:

    corpus.jsonl   {doc_id, code, origin}     origin = "package==version:path/in/wheel.py:Qual.name"
    queries.jsonl  {query_id, query}
    qrels.tsv      query_id doc_id relevance  (header line, tab-separated, relevance 1)
    README.md      how it was built and the counts
    LICENSES.txt   the packages' licence files

The output is deterministic for the same pins, seed and Python version (ast).
"""
import argparse
import ast
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Recent, well-documented pure-Python packages that post-date CodeSearchNet's 2019 crawl or, for pydantic,
# were rewritten since (v2, 2023): (name, version, wheel sha256).
PINS = [
    ("textual", "8.2.8", "267375fd402dc8d981457212efa71f0e3365fd17bba144ba9bb3ed7563cb374a"),
    ("pydantic", "2.14.4", "653a2ad9f6d8858529c77c72717d0ea991d6c6837fe683246b2f4b2bbfc3fadc"),
    ("httpx", "0.28.1", "d909fcccc110f8c7faf814ca82a9a4d816bc5a6dbfea25d6591d6985b8ba59ad"),
]
SEED = 20240611
N_QUERIES = 400
MIN_WORDS, MAX_WORDS = 4, 40
# Dense baseline (validation/python/cosqa_dense.py, all-MiniLM-L6-v2 ONNX), measured on the files whose sha256
# prefixes (corpus, queries, qrels) are the key; the README shows it only while the built files still match.
BASELINES = {
    ("93340a0043df8703", "c923b8a8b9a048cb", "9e84cfd240de0f87"): [
        ("dense fp32 (model.onnx)", 0.6133, 0.9175, 0.5533),
        ("dense int8 (model.int8.onnx)", 0.6116, 0.9175, 0.5535),
    ],
}
ABBREVIATIONS = {"e.g", "i.e", "etc", "vs", "cf", "approx", "resp"}


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fetch(name, version, digest, cache):
    """The wheel from the cache, else `pip download --no-deps`; its sha256 must match the pin."""
    os.makedirs(cache, exist_ok=True)
    prefix = f"{name.replace('-', '_')}-{version}-"
    found = [f for f in os.listdir(cache) if f.startswith(prefix) and f.endswith(".whl")]
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
                        "--only-binary", ":all:", "--dest", cache, f"{name}=={version}"], check=True)
        found = [f for f in os.listdir(cache) if f.startswith(prefix) and f.endswith(".whl")]
    if len(found) != 1:
        sys.exit(f"FAIL: expected one wheel {prefix}*.whl in {cache}, found {found}")
    path = os.path.join(cache, found[0])
    if sha256(path) != digest:
        sys.exit(f"FAIL: {path} sha256 {sha256(path)} is not the pinned {digest}")
    return path


def licence(wheel, label):
    """The wheel's licence file(s) from its .dist-info, headed by the package label."""
    z = zipfile.ZipFile(wheel)
    names = sorted(n for n in z.namelist() if ".dist-info/" in n and re.search(r"/(licenses/)?(LICEN[CS]E|COPYING)", n))
    if not names:
        sys.exit(f"FAIL: no licence file in {wheel}")
    return "\n".join(f"==== {label}: {n}\n\n" + z.read(n).decode("utf-8").strip() + "\n" for n in names)


# ---------------------------------------------------------------- queries
def clean_markup(text):
    text = re.sub(r"\[`?([^\]`]+?)`?\]\[[^\]]*\]", r"\1", text)  # mkdocs autorefs: [`Foo`][pkg.Foo]
    text = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", text)  # markdown links
    text = re.sub(r":[a-z]+(?::[a-z]+)?:`~?([^`]+)`", r"\1", text)  # reST roles: :class:`~pkg.Foo`
    text = re.sub(r"`+", "", text)
    text = re.sub(r"\*\*?([^*]+)\*\*?", r"\1", text)  # emphasis
    return " ".join(text.split())


def first_sentence(doc):
    para = clean_markup(doc.strip().split("\n\n")[0])
    for m in re.finditer(r"[.!?](?=\s|$)", para):
        words = para[:m.start()].split()
        if words and words[-1].lower().lstrip("(") in ABBREVIATIONS:
            continue
        return para[:m.end()]
    return para


def make_query(doc, name):
    """The query for a docstring, or (None, reason)."""
    q = first_sentence(doc).lower().strip()
    q = re.sub(r"[\s.:;,]+$", "", q)
    if not q:
        return None, "empty"
    if q.startswith(("deprecated", ">>>", "alias", "see ", "args", "returns", "example", "note")):
        return None, "not a description"
    if not re.match(r"[a-z]", q):
        return None, "not a description"
    words = q.split()
    if len(words) < MIN_WORDS:
        return None, f"< {MIN_WORDS} words"
    if len(words) > MAX_WORDS:
        return None, f"> {MAX_WORDS} words"
    bare = name.strip("_").lower()
    if bare and re.search(r"(?<![\w])" + re.escape(bare) + r"(?![\w])", q):
        return None, "contains the function name"
    return q, None


# ---------------------------------------------------------------- documents
def is_stub(body):
    """`...`, `pass` or `raise NotImplementedError` alone: an abstract method or protocol stub."""
    if len(body) != 1:
        return False
    s = body[0]
    if isinstance(s, ast.Pass):
        return True
    if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and s.value.value is Ellipsis:
        return True
    if isinstance(s, ast.Raise) and s.exc is not None:
        exc = s.exc.func if isinstance(s.exc, ast.Call) else s.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def is_overload(node):
    for d in node.decorator_list:
        d = d.func if isinstance(d, ast.Call) else d
        if (isinstance(d, ast.Name) and d.id == "overload") or (isinstance(d, ast.Attribute) and d.attr == "overload"):
            return True
    return False


def docstring_node(node):
    body = getattr(node, "body", None)
    if (isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body
            and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        return body[0]
    return None


def strip_docstring(lines, node):
    """The function's source without its docstring and those of the functions and classes nested in it (a
    nested function's docstring may be a query: it must not sit in its enclosing function's document),
    de-indented by the `def` line's indent; or (None, reason). A body left empty becomes `...`."""
    cut = {}  # 0-based first line -> (last line, replacement lines)
    for owner in ast.walk(node):
        ds = docstring_node(owner)
        if ds is None:
            continue
        if ds.lineno == owner.lineno:
            return None, "docstring on the def line"
        before = lines[ds.lineno - 1][:ds.col_offset]
        after = lines[ds.end_lineno - 1][ds.end_col_offset:]
        if before.strip() or (after.strip() and not after.strip().startswith("#")):
            return None, "docstring shares a line"
        keep = [before + "..."] if len(owner.body) == 1 else []
        cut[ds.lineno - 1] = (ds.end_lineno - 1, keep)
    src, i = [], node.lineno - 1
    while i < node.end_lineno:
        if i in cut:
            last, keep = cut[i]
            src += keep
            i = last + 1
        else:
            src.append(lines[i])
            i += 1
    indent = node.col_offset
    out = [l[indent:] if l[:indent].strip() == "" else l for l in src]
    while out and not out[-1].strip():
        out.pop()
    code = "\n".join(l.rstrip() for l in out)
    try:
        ast.parse(code)
    except SyntaxError:
        return None, "does not parse without its docstring"
    return code, None


def functions(tree):
    """(qualname, node) for every function and method, in source order."""
    def walk(node, scope):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield ".".join(scope + [child.name]), child
                yield from walk(child, scope + [child.name, "<locals>"])
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, scope + [child.name])
            else:
                yield from walk(child, scope)
    yield from walk(tree, [])


def extract(wheel, label, stats):
    z = zipfile.ZipFile(wheel)
    for path in sorted(n for n in z.namelist() if n.endswith(".py")):
        text = z.read(path).decode("utf-8")
        try:
            tree = ast.parse(text)
        except SyntaxError:
            stats["module does not parse"] = stats.get("module does not parse", 0) + 1
            continue
        lines = text.split("\n")
        for qual, node in functions(tree):
            doc = ast.get_docstring(node, clean=True)
            if not doc or not doc.strip():
                continue
            stats["functions with a docstring"] += 1
            if len(node.body) < 2 or is_stub(node.body[1:]) or is_overload(node):
                reason = "stub or overload"
            else:
                code, reason = strip_docstring(lines, node)
            if reason:
                stats[reason] = stats.get(reason, 0) + 1
                continue
            yield {"origin": f"{label}:{path}:{qual}", "name": node.name, "doc": doc, "code": code}


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "validation", "data", "docstring-set"))
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/lens/docstring-set/wheels"))
    ap.add_argument("--queries", type=int, default=N_QUERIES)
    ap.add_argument("--seed", type=int, default=SEED)
    a = ap.parse_args()

    stats = {"functions with a docstring": 0}
    funcs, per_package, licences = [], {}, []
    for name, version, digest in PINS:
        label = f"{name}=={version}"
        wheel = fetch(name, version, digest, a.cache)
        licences.append(licence(wheel, label))
        before = stats["functions with a docstring"]
        funcs += extract(wheel, label, stats)
        per_package[label] = [stats["functions with a docstring"] - before, 0, 0]

    # documents: one per distinct code (normalised whitespace), first occurrence wins
    seen, docs = set(), []
    for f in funcs:
        key = " ".join(f["code"].split())
        if key in seen:
            stats["duplicate code"] = stats.get("duplicate code", 0) + 1
            continue
        seen.add(key)
        f["doc_id"] = f"ds-code-{len(docs):05d}"
        docs.append(f)

    # queries: the first sentence; a text shared by several documents is ambiguous and dropped
    qstats, by_text = {}, {}
    for f in docs:
        q, reason = make_query(f["doc"], f["name"])
        if reason:
            qstats[reason] = qstats.get(reason, 0) + 1
            continue
        by_text.setdefault(q, []).append(f)
    eligible = []
    for q, fs in by_text.items():
        if len(fs) > 1:
            qstats["query text shared by several functions"] = qstats.get("query text shared by several functions", 0) + len(fs)
        else:
            eligible.append((q, fs[0]))
    eligible.sort(key=lambda e: e[1]["doc_id"])
    sample = sorted(random.Random(a.seed).sample(eligible, min(a.queries, len(eligible))), key=lambda e: e[1]["doc_id"])

    package = lambda d: d["origin"].split(":", 1)[0]
    for d in docs:
        per_package[package(d)][1] += 1
    for _, d in sample:
        per_package[package(d)][2] += 1

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "corpus.jsonl"), "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"doc_id": d["doc_id"], "code": d["code"], "origin": d["origin"]}, ensure_ascii=False) + "\n")
    with open(os.path.join(a.out, "queries.jsonl"), "w", encoding="utf-8") as fq, \
            open(os.path.join(a.out, "qrels.tsv"), "w", encoding="utf-8") as fr:
        fr.write("query_id\tdoc_id\trelevance\n")
        for i, (q, d) in enumerate(sample):
            qid = f"ds-q{i:03d}"
            fq.write(json.dumps({"query_id": qid, "query": q}, ensure_ascii=False) + "\n")
            fr.write(f"{qid}\t{d['doc_id']}\t1\n")

    with open(os.path.join(a.out, "LICENSES.txt"), "w", encoding="utf-8") as f:
        f.write("The functions in corpus.jsonl are excerpts of these packages, under their licences:\n\n"
                + "\n\n".join(licences))
    sizes = {n: os.path.getsize(os.path.join(a.out, n)) for n in ("corpus.jsonl", "queries.jsonl", "qrels.tsv")}
    write_readme(a, per_package, stats, qstats, len(docs), len(eligible), len(sample), sizes)
    print(f"docstring-set: {len(docs)} functions, {len(eligible)} eligible queries, {len(sample)} sampled -> {a.out} "
          f"({sum(sizes.values()) / 1e6:.2f} MB)")


def write_readme(a, per_package, stats, qstats, n_docs, n_eligible, n_queries, sizes):
    rows = "\n".join(f"| `{label}` | `{digest}` | {per_package[label][0]:,} | {per_package[label][1]:,} | "
                     f"{per_package[label][2]} |" for label, digest in ((f"{n}=={v}", h) for n, v, h in PINS))
    drop = "\n".join(f"| {k} | {v:,} |" for k, v in stats.items() if k != "functions with a docstring")
    key = tuple(sha256(os.path.join(a.out, n))[:16] for n in ("corpus.jsonl", "queries.jsonl", "qrels.tsv"))
    base = "\n".join(f"| {name} | {nd:.4f} | {r:.4f} | {m:.4f} |" for name, nd, r, m in BASELINES.get(key, []))
    base = (f"""
## Baselines

| system | nDCG@10 | recall@50 | MRR@10 |
|---|---|---|---|
{base}

all-MiniLM-L6-v2 embeddings of query and function (max 256 tokens, cosine over the whole corpus):
`nice -n 10 ~/.cache/lens/venv/bin/python validation/python/cosqa_dense.py --data validation/data/docstring-set`.
On CoSQA dev the same model scores 0.6031 / 0.9620 / 0.5336 (fp32).
""" if base else "")
    qdrop = "\n".join(f"| {k} | {v:,} |" for k, v in sorted(qstats.items()))
    text = f"""# Docstring retrieval set (held out)

A second code-retrieval set for lens, built so that nothing was tuned on it: CoSQA dev
(`../shared/data/cosqa-dev`) is the tuning set; report figures on this one as unseen. Queries are the
first sentences of docstrings, documents are the same functions with the docstring removed. Made by
`validation/python/make_docstring_set.py` (deterministic: rerun it to rebuild these files).

## Source

Pure-Python wheels from PyPI (`pip download --no-deps`, sha256-checked), chosen because they are
well documented and post-date CodeSearchNet's 2019 crawl (pydantic: the 2023 v2 rewrite), so the
functions are unlikely to be in the training data of CodeSearchNet-era models. Licences: textual MIT,
pydantic MIT, httpx BSD-3-Clause; their texts and copyright notices are in `LICENSES.txt`.

| package | wheel sha256 | functions with a docstring | documents | queries |
|---|---|---|---|---|
{rows}

## How it was built

1. Every function and method (nested ones too) with a docstring, parsed with `ast`: {stats['functions with a docstring']:,}.
2. Dropped, with counts:

| reason | functions |
|---|---|
{drop}

   A stub is a body of only `...`, `pass` or `raise NotImplementedError` after the docstring; `@overload`
   signatures go too.
3. Document = the source from the `def` line to the end of the function (decorators left out), with the
   lines of its docstring and of the docstrings of functions and classes nested in it removed (a body
   left empty gets `...`), de-indented by the `def` line's indent. Deduplicated on the code with
   whitespace normalised. **{n_docs:,} documents.**
4. Query = the docstring's first sentence (first paragraph up to `.`, `!` or `?` followed by a space;
   `e.g.`, `i.e.`, `etc.` do not end it), mkdocs/markdown/reST markup stripped (`[Foo][pkg.Foo]` → `Foo`,
   `` :class:`~pkg.Foo` `` → `pkg.Foo`, backticks, emphasis), lower-cased, trailing `.:;,` removed.
   Not a query (the function stays in the corpus as a distractor):

| reason | functions |
|---|---|
{qdrop}

   "Contains the function name": the name, leading and trailing underscores stripped, appears in the
   query as a whole word. "Not a description": starts with `deprecated`, `alias`, `see `, `args`,
   `returns`, `example`, `note`, `>>>` or a non-letter. A query text shared by several documents would
   have several right answers, so it is dropped for all of them.
5. {n_eligible:,} eligible queries; {n_queries} sampled with `random.Random({a.seed})`, one relevant document each.

## Files (CoSQA layout)

| file | content | bytes |
|---|---|---|
| `corpus.jsonl` | `{{doc_id, code, origin}}`: {n_docs:,} functions; `origin` = `package==version:path:Qual.name` (for debugging only, never index it) | {sizes['corpus.jsonl']:,} |
| `queries.jsonl` | `{{query_id, query}}`: {n_queries} queries | {sizes['queries.jsonl']:,} |
| `qrels.tsv` | `query_id doc_id relevance`, tab-separated with a header line, relevance 1 | {sizes['qrels.tsv']:,} |

Scoring as for CoSQA: nDCG@10 (gain 2^rel − 1), recall@50, MRR@10 (`validation/python/score_batch.py`
for lens' batch output, `validation/python/cosqa_dense.py --data validation/data/docstring-set` for the
dense baseline). Caveats: docstring first sentences are terser and more identifier-laden than web
queries, and some are loose or copied between methods; a nested function is its own document and also
part of its enclosing function's (docstrings removed from both), so the enclosing function is a
defensible wrong answer for such queries.
{base}"""
    with open(os.path.join(a.out, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
