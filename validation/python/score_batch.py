#!/usr/bin/env python3
"""Score `lens search --batch` output against qrels: nDCG@10, recall@50, MRR@10.

    python3 validation/python/score_batch.py BATCH_OUT.jsonl --data DATA_DIR [--json] [--per-query FILE]
    python3 validation/python/score_batch.py BATCH_OUT.jsonl --qrels QRELS.tsv [--json]

BATCH_OUT lines are `{"id", "results": [{"path": "<doc_id>.py", "score", ...}, ...], "stats"}` or
`{"id", "error": ...}` (what `lens search --batch` prints for a file written by cosqa_layout.py). A result's
document is its path's file name without the extension. Results are taken in the order given, each file
counted once at its first occurrence (lens returns one result per match, several per file).

Metrics, averaged over every query in the qrels (a query with an error line or no line scores 0 and is
counted): nDCG@10 with gain 2^rel - 1 and the ideal DCG from the qrels; recall@50 = relevant documents
(rel > 0) among the first 50 distinct files / all relevant documents; MRR@10 = 1 / rank of the first
relevant file within the first 10, else 0. The same definitions as cosqa_dense.py.
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cosqa_layout import read_qrels  # noqa: E402


def doc_id(path):
    return os.path.splitext(os.path.basename(path))[0]


def ranking(results):
    """Distinct documents in first-occurrence order."""
    seen, out = set(), []
    for r in results:
        d = doc_id(r["path"])
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


def score_query(ranked, rel):
    dcg = lambda gains: sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    ideal = sorted((2 ** r - 1 for r in rel.values()), reverse=True)[:10]
    ndcg = dcg([2 ** rel.get(d, 0) - 1 for d in ranked[:10]]) / dcg(ideal) if ideal and dcg(ideal) > 0 else 0.0
    pos = [d for d, r in rel.items() if r > 0]
    top50 = set(ranked[:50])
    recall = sum(d in top50 for d in pos) / len(pos) if pos else 0.0
    mrr = next((1 / (i + 1) for i, d in enumerate(ranked[:10]) if rel.get(d, 0) > 0), 0.0)
    return ndcg, recall, mrr


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("batch", help="lens search --batch output (JSON lines)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="directory in the CoSQA layout (its qrels.tsv or qrels.dev.tsv)")
    src.add_argument("--qrels", help="qrels file: query_id doc_id relevance")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    ap.add_argument("--per-query", metavar="FILE", help="also write query_id, nDCG@10, recall@50, MRR@10, rank as TSV")
    a = ap.parse_args()

    qrels = read_qrels(a.data or a.qrels)
    lines, errors, extra = {}, {}, 0
    with open(a.batch, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if not line.strip():
                continue
            obj = json.loads(line)
            qid = str(obj.get("id"))
            if qid in lines or qid in errors:
                sys.exit(f"FAIL: {a.batch}:{n + 1}: id {qid} appears twice")
            if "error" in obj:
                errors[qid] = obj["error"]
            else:
                lines[qid] = ranking(obj.get("results") or [])
            extra += qid not in qrels

    per = []
    for qid in sorted(qrels):
        ranked = lines.get(qid, [])
        nd, rec, mrr = score_query(ranked, qrels[qid])
        first = next((i + 1 for i, d in enumerate(ranked) if qrels[qid].get(d, 0) > 0), None)
        per.append((qid, nd, rec, mrr, first))
    mean = lambda k: sum(p[k] for p in per) / len(per) if per else 0.0
    missing = sum(q not in lines and q not in errors for q in qrels)
    errored = sum(q in errors for q in qrels)
    out = {"ndcg@10": mean(1), "recall@50": mean(2), "mrr@10": mean(3), "queries": len(per),
           "errors": errored, "missing": missing, "unjudged_lines": extra,
           "mean_distinct_files": (sum(len(lines.get(q, [])) for q in qrels) / len(per)) if per else 0.0}

    if a.per_query:
        with open(a.per_query, "w", encoding="utf-8") as f:
            f.write("query_id\tndcg@10\trecall@50\tmrr@10\tfirst_relevant_rank\n")
            for qid, nd, rec, mrr, first in per:
                f.write(f"{qid}\t{nd:.6f}\t{rec:.6f}\t{mrr:.6f}\t{first or ''}\n")
    if a.json:
        print(json.dumps(out))
    else:
        print(f"nDCG@10 {out['ndcg@10']:.4f}  recall@50 {out['recall@50']:.4f}  MRR@10 {out['mrr@10']:.4f}  "
              f"({out['queries']} queries, {errored} errors, {missing} missing, "
              f"{out['mean_distinct_files']:.1f} distinct files per query)")
        for qid, err in list(errors.items())[:3]:
            print(f"  error {qid}: {json.dumps(err)[:200]}", file=sys.stderr)


if __name__ == "__main__":
    main()
