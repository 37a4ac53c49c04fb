#!/usr/bin/env python3
"""Turn a retrieval set in the CoSQA layout into what `lens index` and `lens search --batch` take.

    python3 validation/python/cosqa_layout.py DATA_DIR OUT_DIR [--force] [--extra '{"limit": 100}']
    lens index OUT_DIR/tree --out OUT_DIR/bundle
    lens search --bundle OUT_DIR/bundle --batch OUT_DIR/queries.batch.jsonl > OUT_DIR/batch.out.jsonl
    python3 validation/python/score_batch.py OUT_DIR/batch.out.jsonl --data DATA_DIR

DATA_DIR holds corpus.jsonl ({doc_id, code}), queries.jsonl or queries.dev.jsonl ({query_id, query}) and
qrels.tsv or qrels.dev.tsv (query_id doc_id relevance, optional header): ../shared/data/cosqa-dev and
validation/data/docstring-set both are. Writes
    OUT_DIR/tree/<doc_id>.py          one file per function (the code, plus a final newline)
    OUT_DIR/queries.batch.jsonl       {"id": QUERY_ID, "query": QUERY_TEXT} per line, in the query file's order
The batch file lives outside the tree so that indexing the tree never indexes the queries. `--extra` merges
a JSON object into every batch line (e.g. a "limit": lens' default is 50 matches, which may be fewer than
50 distinct files, and recall@50 counts files).
"""
import argparse
import json
import os
import shutil
import sys


def first_existing(data, names):
    for n in names:
        p = os.path.join(data, n)
        if os.path.exists(p):
            return p
    sys.exit(f"FAIL: none of {', '.join(names)} in {data}")


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_corpus(data):
    return read_jsonl(first_existing(data, ["corpus.jsonl"]))


def read_queries(data):
    return read_jsonl(first_existing(data, ["queries.jsonl", "queries.dev.jsonl"]))


def read_qrels(path):
    """{query_id: {doc_id: relevance}} from a TSV (or whitespace-separated) file; a header line is skipped."""
    if os.path.isdir(path):
        path = first_existing(path, ["qrels.tsv", "qrels.dev.tsv"])
    qrels = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 3:
                sys.exit(f"FAIL: {path}:{n + 1}: expected query_id doc_id relevance")
            q, d, r = parts
            try:
                rel = int(r)
            except ValueError:
                if n == 0:
                    continue  # header
                raise
            qrels.setdefault(q, {})[d] = rel
    return qrels


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", help="directory in the CoSQA layout")
    ap.add_argument("out", help="output directory (gets tree/ and queries.batch.jsonl)")
    ap.add_argument("--force", action="store_true", help="replace an existing OUT_DIR/tree")
    ap.add_argument("--extra", default="{}", help="JSON object merged into every batch line")
    a = ap.parse_args()
    extra = json.loads(a.extra)
    if not isinstance(extra, dict):
        sys.exit("FAIL: --extra must be a JSON object")

    corpus, queries = read_corpus(a.data), read_queries(a.data)
    tree = os.path.join(a.out, "tree")
    if os.path.exists(tree):
        if not a.force:
            sys.exit(f"FAIL: {tree} exists (--force replaces it)")
        shutil.rmtree(tree)
    os.makedirs(tree)
    seen = set()
    for doc in corpus:
        did = doc["doc_id"]
        if did in seen or "/" in did or did.startswith("."):
            sys.exit(f"FAIL: doc_id {did!r} is duplicated or not a plain file name")
        seen.add(did)
        code = doc["code"]
        with open(os.path.join(tree, did + ".py"), "w", encoding="utf-8", newline="") as f:
            f.write(code if code.endswith("\n") else code + "\n")

    batch = os.path.join(a.out, "queries.batch.jsonl")
    with open(batch, "w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps(dict({"id": q["query_id"], "query": q["query"]}, **extra), ensure_ascii=False) + "\n")
    print(f"{len(corpus)} files in {tree}; {len(queries)} queries in {batch}")


if __name__ == "__main__":
    main()
