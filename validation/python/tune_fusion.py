#!/usr/bin/env python3
"""Tune Stage-C's fusion weights, calibration and cutoff on half of a set; report the other half.

    tune_fusion.py SIGNALS.jsonl --data DATA_DIR [--calib-scale A --calib-bias B] [--json]

SIGNALS is `lens search --batch` output over every candidate with its signals: run the set's
queries with `"limit": 1000, "fusion": {"min_confidence": 0}` (cosqa_layout.py --extra) so that
nothing is cut and every candidate of the union (BM25 top 200 ∪ nearest chunks) is listed.

Queries are split by their position in the qrels: even positions tune, odd positions are held out.
1. Weights: grid search of the BM25 and symbol weights (cosine weight 1) for nDCG@10 on the tuning half.
2. Calibration: given (from calibrate_confidence.py: human judgements of CoSQA pairs), else a
   logistic regression P(relevant | fused score) on the tuning half's candidates (whose base rate,
   one relevant file in ~200 candidates, makes every probability small).
3. Cutoff: the highest min_confidence whose recall@50 on the tuning half stays within 0.005 of
   no cutoff; the share of candidates it drops is the confidence cutoff rate.
Every figure is printed for both halves; only the held-out half's is an estimate of quality.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cosqa_layout import read_qrels  # noqa: E402
from score_batch import doc_id, score_query  # noqa: E402

BM25_GRID = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.7, 1.0]
SYMBOL_GRID = [0.0, 0.05, 0.1, 0.2, 0.3]
RECALL_SLACK = 0.005


def load(path):
    per_query = {}
    with open(path) as f:
        for line in f:
            d = json.loads(line)
            if "error" in d:
                continue
            rows = []
            for r in d["results"]:
                s = r.get("signals")
                if s is None:
                    continue
                rows.append((doc_id(r["path"]), s["bm25"], s["symbol"], s.get("cosine") or 0.0))
            per_query[d["id"]] = rows
    return per_query


def rank(rows, wb, ws, min_score=None):
    scored = [(1.0 * c + wb * b + ws * s, d) for d, b, s, c in rows]
    if min_score is not None:
        scored = [x for x in scored if x[0] >= min_score]
    scored.sort(key=lambda x: (-x[0], x[1]))
    return [d for _, d in scored]


def evaluate(per_query, qrels, qids, wb, ws, min_score=None):
    m = np.array([score_query(rank(per_query.get(q, []), wb, ws, min_score), qrels[q]) for q in qids])
    return m.mean(axis=0) if len(m) else np.zeros(3)


def fit_logistic(x, y, iters=200):
    """Two-parameter logistic regression by Newton's method."""
    a, b = 1.0, 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(a * x + b)))
        w = p * (1 - p) + 1e-9
        g = np.array([np.sum((p - y) * x), np.sum(p - y)])
        h = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]])
        step = np.linalg.solve(h + 1e-6 * np.eye(2), g)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-9:
            break
    return float(a), float(b)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("signals")
    ap.add_argument("--data", required=True)
    ap.add_argument("--calib-scale", type=float)
    ap.add_argument("--calib-bias", type=float)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    qrels = read_qrels(a.data)
    per_query = load(a.signals)
    qids = list(qrels)
    tune, held = qids[0::2], qids[1::2]

    best = max(((evaluate(per_query, qrels, tune, wb, ws)[0], wb, ws) for wb in BM25_GRID for ws in SYMBOL_GRID))
    _, wb, ws = best
    # Calibration on the tuning half's candidates.
    xs, ys = [], []
    for q in tune:
        rel = qrels[q]
        for d, b, s, c in per_query.get(q, []):
            xs.append(c + wb * b + ws * s)
            ys.append(1.0 if rel.get(d, 0) > 0 else 0.0)
    if a.calib_scale is not None and a.calib_bias is not None:
        scale, bias = a.calib_scale, a.calib_bias
    else:
        scale, bias = fit_logistic(np.array(xs), np.array(ys))
    base = evaluate(per_query, qrels, tune, wb, ws)
    chosen = 0.0
    for p in [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.25, 0.3]:
        score = (math.log(p / (1 - p)) - bias) / scale
        if evaluate(per_query, qrels, tune, wb, ws, score)[1] >= base[1] - RECALL_SLACK:
            chosen = p
    min_score = (math.log(chosen / (1 - chosen)) - bias) / scale if chosen > 0 else None

    def cut_rate(qs):
        total = cut = 0
        for q in qs:
            for d, b, s, c in per_query.get(q, []):
                total += 1
                cut += int(min_score is not None and c + wb * b + ws * s < min_score)
        return cut / total if total else 0.0

    report = {
        "fusion": {"cosine": 1.0, "bm25": wb, "symbol": ws, "calib_scale": round(scale, 4),
                   "calib_bias": round(bias, 4), "min_confidence": chosen},
        "tune_queries": len(tune), "held_queries": len(held),
    }
    for name, qs in (("tune", tune), ("held_out", held)):
        report[name] = {
            "dense_only": evaluate(per_query, qrels, qs, 0.0, 0.0).round(4).tolist(),
            "bm25_only": evaluate(per_query, qrels, qs, 1e6, 0.0).round(4).tolist(),
            "fused": evaluate(per_query, qrels, qs, wb, ws).round(4).tolist(),
            "fused_with_cutoff": evaluate(per_query, qrels, qs, wb, ws, min_score).round(4).tolist(),
            "confidence_cutoff_rate": round(cut_rate(qs), 4),
        }
    if a.json:
        print(json.dumps(report))
    else:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
