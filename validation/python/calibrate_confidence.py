#!/usr/bin/env python3
"""Calibrate Stage-C's confidence on human judgements: CoSQA's labelled dev pairs.

    calibrate_confidence.py [--data ../shared/data/cosqa-dev] [--model-dir ~/.cache/lens/models/all-minilm-l6-v2]

`pairs.dev-labeled.jsonl` holds 604 (query, function, label) pairs judged by people, 291 of them
negative (hard negatives: functions that look relevant). Each pair's cosine under the model (as lens
computes it: max_seq_len 256, unit-length mean-pooled embeddings) feeds a two-parameter logistic
regression P(relevant | cosine); the printed `calib_scale` and `calib_bias` are what
`lens_core::semantic::Fusion` applies to the fused score (cosine + small lexical and symbol terms).
Also prints the calibrated probability at a few cosines, and the accuracy of P >= 0.5.
"""
import argparse
import json
import os
import sys

import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "scripts", "model"))
sys.path.insert(0, HERE)
import tokenize_ref  # noqa: E402
from cosqa_dense import embed  # noqa: E402
from tune_fusion import fit_logistic  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "data", "cosqa-dev"))
    ap.add_argument("--model-dir", default=os.environ.get(
        "LENS_MODEL_DIR", os.path.expanduser("~/.cache/lens/models/all-minilm-l6-v2")))
    a = ap.parse_args()
    with open(os.path.join(a.data, "pairs.dev-labeled.jsonl")) as f:
        pairs = [json.loads(line) for line in f]
    tok = tokenize_ref.load("auto", os.path.join(a.model_dir, "vocab.txt"),
                            os.path.join(a.model_dir, "tokenizer.json"))
    sess = ort.InferenceSession(os.path.join(a.model_dir, "model.onnx"), providers=["CPUExecutionProvider"])
    q = embed(sess, [tok.encode(p["query"], 256)[1] for p in pairs], 32)
    d = embed(sess, [tok.encode(p["code"], 256)[1] for p in pairs], 32)
    cos = (q * d).sum(axis=1)
    y = np.array([float(p["label"]) for p in pairs])
    scale, bias = fit_logistic(cos, y)
    p = 1 / (1 + np.exp(-(scale * cos + bias)))
    report = {
        "pairs": len(pairs), "positives": int(y.sum()),
        "calib_scale": round(scale, 4), "calib_bias": round(bias, 4),
        "accuracy_at_0.5": round(float(((p >= 0.5) == (y > 0)).mean()), 4),
        "mean_cosine": {"relevant": round(float(cos[y > 0].mean()), 4), "not_relevant": round(float(cos[y == 0].mean()), 4)},
        "confidence_at_cosine": {f"{c:.2f}": round(float(1 / (1 + np.exp(-(scale * c + bias)))), 4)
                                 for c in (0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7)},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
