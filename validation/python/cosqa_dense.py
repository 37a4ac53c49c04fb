#!/usr/bin/env python3
"""Dense-retrieval baseline on CoSQA dev with the exported all-MiniLM-L6-v2 ONNX models.

    scripts/model/setup.sh     # once: venv + model
    nice -n 10 ~/.cache/lens/venv/bin/python validation/python/cosqa_dense.py [--variants fp32 int8]

Embeds every corpus function and query (max_seq_len 256, no prefixes), ranks all functions by cosine
(dot product of unit vectors) and prints nDCG@10 (gain 2^rel-1), recall@50, MRR@10 plus embedding
throughput. Corpus embeddings are cached in ~/.cache/lens/cosqa-dense/, keyed by the model file's
sha256, so reruns only embed the queries; the throughput of the run that filled the cache is kept too.
"""
import argparse
import hashlib
import json
import math
import os
import sys
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "model"))
import tokenize_ref  # noqa: E402

MODEL_DIR = os.environ.get("LENS_MODEL_DIR", os.path.expanduser("~/.cache/lens/models/all-minilm-l6-v2"))
CACHE = os.path.expanduser("~/.cache/lens/cosqa-dense")
FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def embed(sess, seqs, batch):
    """Length-sorted batches so padding stays small; returns embeddings in input order."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out = np.zeros((len(seqs), sess.get_outputs()[0].shape[1]), np.float32)
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        width = max(len(seqs[i]) for i in idx)
        ids = np.zeros((len(idx), width), np.int64)
        mask = np.zeros_like(ids)
        for r, i in enumerate(idx):
            ids[r, :len(seqs[i])], mask[r, :len(seqs[i])] = seqs[i], 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        out[idx] = sess.run(["sentence_embedding"], feeds)[0]
    return out


def metrics(scores, qids, dids, qrels):
    ndcg, rec, mrr = [], [], []
    for qi, q in enumerate(qids):
        rel = qrels.get(q, {})
        top = [dids[d] for d in np.argsort(-scores[qi], kind="stable")[:50]]
        gains = [2 ** rel.get(d, 0) - 1 for d in top[:10]]
        ideal = sorted((2 ** r - 1 for r in rel.values()), reverse=True)[:10]
        dcg = lambda g: sum(x / math.log2(i + 2) for i, x in enumerate(g))
        ndcg.append(dcg(gains) / dcg(ideal) if ideal else 0.0)
        pos = [d for d, r in rel.items() if r > 0]
        rec.append(sum(d in pos for d in top) / len(pos) if pos else 0.0)
        mrr.append(next((1 / (i + 1) for i, d in enumerate(top[:10]) if rel.get(d, 0) > 0), 0.0))
    return np.mean(ndcg), np.mean(rec), np.mean(mrr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/work/shared/data/cosqa-dev")
    ap.add_argument("--model-dir", default=MODEL_DIR)
    ap.add_argument("--variants", nargs="+", default=["fp32", "int8"], choices=sorted(FILES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=256)
    a = ap.parse_args()

    corpus = read_jsonl(os.path.join(a.data, "corpus.jsonl"))
    queries = read_jsonl(os.path.join(a.data, "queries.dev.jsonl"))
    qrels = {}
    with open(os.path.join(a.data, "qrels.dev.tsv")) as f:
        next(f)  # header
        for line in f:
            q, d, r = line.split()
            qrels.setdefault(q, {})[d] = int(r)
    dids, qids = [c["doc_id"] for c in corpus], [q["query_id"] for q in queries]

    tok = tokenize_ref.load("auto", os.path.join(a.model_dir, "vocab.txt"), os.path.join(a.model_dir, "tokenizer.json"))
    t0 = time.perf_counter()
    doc_seqs = [tok.encode(c["code"], a.max_len)[1] for c in corpus]
    tok_s = time.perf_counter() - t0
    q_seqs = [tok.encode(q["query"], a.max_len)[1] for q in queries]
    lens = np.array([len(s) for s in doc_seqs])
    print(f"corpus: {len(corpus)} functions, {len(queries)} queries; tokens/function mean {lens.mean():.0f}, "
          f"truncated at {a.max_len}: {(lens >= a.max_len).mean():.1%}; tokenize {len(corpus) / tok_s:.0f} functions/s "
          f"({type(tok).__name__})")

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = a.threads, 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    # No busy-waiting between ops: the machine is shared, and it keeps CPU time an honest cost measure.
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    os.makedirs(CACHE, exist_ok=True)
    print(f"{'variant':8s} {'nDCG@10':>8s} {'R@50':>6s} {'MRR@10':>7s}  throughput (functions/s; wall, per CPU-s)")
    for v in a.variants:
        path = os.path.join(a.model_dir, FILES[v])
        with open(path, "rb") as f:
            key = hashlib.sha256(f.read()).hexdigest()[:16]
        base = os.path.join(CACHE, f"{v}-{key}-L{a.max_len}")
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        if os.path.exists(base + ".npy"):
            D = np.load(base + ".npy")
            with open(base + ".json") as f:
                perf = json.load(f)
            perf["cached"] = True
        else:
            load = os.getloadavg()[0]
            w0, c0 = time.perf_counter(), time.process_time()
            D = embed(sess, doc_seqs, a.batch)
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            perf = {"wall_s": wall, "cpu_s": cpu, "fps": len(D) / wall, "fps_cpu": len(D) / cpu,
                    "loadavg_before": load, "threads": a.threads, "batch": a.batch}
            np.save(base + ".npy", D)
            with open(base + ".json", "w") as f:
                json.dump(perf, f)
        Q = embed(sess, q_seqs, a.batch)
        nd, r50, mrr = metrics(Q @ D.T, qids, dids, qrels)
        note = " (cached run)" if perf.get("cached") else ""
        print(f"{v:8s} {nd:8.4f} {r50:6.4f} {mrr:7.4f}  {perf['fps']:.1f} wall, {perf['fps_cpu']:.1f} per CPU-s "
              f"({perf['wall_s']:.0f}s, load avg before {perf['loadavg_before']:.1f}){note}")


if __name__ == "__main__":
    main()
