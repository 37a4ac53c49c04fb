#!/usr/bin/env python3
"""Dense-retrieval baseline on CoSQA dev (or any set in its layout) with the exported all-MiniLM-L6-v2 ONNX models.

    scripts/model/setup.sh     # once: venv + model
    nice -n 10 ~/.cache/lens/venv/bin/python validation/python/cosqa_dense.py [--data DIR] [--variants fp32 int8]
                                                                              [--batch-out DIR]

--data: a directory in the CoSQA layout (corpus.jsonl, queries.jsonl or queries.dev.jsonl, qrels.tsv or
qrels.dev.tsv; see cosqa_layout.py); default ../shared/data/cosqa-dev beside the repository, e.g.
validation/data/docstring-set for the held-out set. Embeds every corpus function and query (max_seq_len 256,
no prefixes), ranks all functions by cosine (dot product of unit vectors) and prints nDCG@10 (gain 2^rel-1),
recall@50, MRR@10 (score_batch.py's definitions) plus embedding throughput. Corpus embeddings are cached in
~/.cache/lens/cosqa-dense/, keyed by the model file's and the corpus file's sha256, so reruns only embed the
queries; the throughput of the run that filled the cache is kept too. --batch-out writes each variant's
ranking as `lens search --batch` output (DIR/VARIANT.batch.jsonl, top 100, paths <doc_id>.py) and its
metrics at full precision (DIR/VARIANT.metrics.json), for checking score_batch.py.
"""
import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts", "model"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenize_ref  # noqa: E402
from cosqa_layout import read_corpus, read_qrels, read_queries  # noqa: E402
from score_batch import score_query  # noqa: E402

MODEL_DIR = os.environ.get("LENS_MODEL_DIR", os.path.expanduser("~/.cache/lens/models/all-minilm-l6-v2"))
CACHE = os.path.expanduser("~/.cache/lens/cosqa-dense")
DEFAULT_DATA = os.path.normpath(os.path.join(ROOT, "..", "shared", "data", "cosqa-dev"))
FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}


def file_key(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


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


def rankings(scores, dids, k):
    return [[dids[d] for d in np.argsort(-row, kind="stable")[:k]] for row in scores]


def metrics(ranked, qids, qrels):
    """Means over the queries of score_batch.score_query (a query without qrels scores 0)."""
    per = [score_query(top, qrels.get(q, {})) for q, top in zip(qids, ranked)]
    return tuple(sum(p[i] for p in per) / len(per) for i in range(3))


def write_batch(path, qids, ranked, scores, dids):
    """The ranking as `lens search --batch` would print it for a cosqa_layout.py tree."""
    pos = {d: i for i, d in enumerate(dids)}
    with open(path, "w", encoding="utf-8") as f:
        for qi, (q, top) in enumerate(zip(qids, ranked)):
            res = [{"path": f"{d}.py", "score": float(scores[qi, pos[d]])} for d in top]
            f.write(json.dumps({"id": q, "results": res, "stats": {"results": len(res)}}) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA, help=f"set in the CoSQA layout (default {DEFAULT_DATA})")
    ap.add_argument("--model-dir", default=MODEL_DIR)
    ap.add_argument("--variants", nargs="+", default=["fp32", "int8"], choices=sorted(FILES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("--batch-out", metavar="DIR", help="write rankings as lens batch output and full-precision metrics")
    a = ap.parse_args()

    corpus, queries, qrels = read_corpus(a.data), read_queries(a.data), read_qrels(a.data)
    corpus_key = file_key(os.path.join(a.data, "corpus.jsonl"))
    dids, qids = [c["doc_id"] for c in corpus], [q["query_id"] for q in queries]

    tok = tokenize_ref.load("auto", os.path.join(a.model_dir, "vocab.txt"), os.path.join(a.model_dir, "tokenizer.json"))
    t0 = time.perf_counter()
    doc_seqs = [tok.encode(c["code"], a.max_len)[1] for c in corpus]
    tok_s = time.perf_counter() - t0
    q_seqs = [tok.encode(q["query"], a.max_len)[1] for q in queries]
    lens = np.array([len(s) for s in doc_seqs])
    print(f"data: {a.data}")
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
        base = os.path.join(CACHE, f"{v}-{file_key(path)}-{corpus_key}-L{a.max_len}")
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
        scores = Q @ D.T
        ranked = rankings(scores, dids, 100 if a.batch_out else 50)
        nd, r50, mrr = metrics(ranked, qids, qrels)
        if a.batch_out:
            os.makedirs(a.batch_out, exist_ok=True)
            write_batch(os.path.join(a.batch_out, f"{v}.batch.jsonl"), qids, ranked, scores, dids)
            with open(os.path.join(a.batch_out, f"{v}.metrics.json"), "w") as f:
                json.dump({"ndcg@10": nd, "recall@50": r50, "mrr@10": mrr, "queries": len(qids)}, f)
                f.write("\n")
        note = " (cached run)" if perf.get("cached") else ""
        print(f"{v:8s} {nd:8.4f} {r50:6.4f} {mrr:7.4f}  {perf['fps']:.1f} wall, {perf['fps_cpu']:.1f} per CPU-s "
              f"({perf['wall_s']:.0f}s, load avg before {perf['loadavg_before']:.1f}){note}")


if __name__ == "__main__":
    main()
