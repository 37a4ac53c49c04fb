#!/usr/bin/env python3
"""Draws identifiers at random from a source tree and writes them as a
lens-bench query set (JSON lines, class `selective_literal`, fixed strings).

With `--weight distinct` (the default) every distinct identifier of at least
--min-len bytes in the tree's text files (up to 1 MiB, as `lens index` takes
them) is equally likely: mostly rare names. With `--weight occurrence` an
identifier is as likely as it is frequent: names as they appear in code,
common ones included. The seed is printed to stderr; give it again to draw
the same set.

    python3 benches/sample_identifiers.py TREE --n 60 [--seed S] [--min-len 6]
        [--weight distinct|occurrence] > q.jsonl
"""
import argparse
import collections
import json
import os
import random
import re
import sys

IDENT = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")


def identifiers(tree, min_len, max_file):
    seen = collections.Counter()
    for root, dirs, files in os.walk(tree):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            path = os.path.join(root, name)
            try:
                if os.path.getsize(path) > max_file or os.path.islink(path):
                    continue
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if b"\0" in data[:8192]:
                continue
            for m in IDENT.finditer(data):
                if len(m.group()) >= min_len:
                    seen[m.group()] += 1
    return seen


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tree")
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--min-len", type=int, default=6)
    ap.add_argument("--max-file", type=int, default=1 << 20)
    ap.add_argument("--prefix", default="rand", help="id prefix of the queries")
    ap.add_argument("--weight", choices=["distinct", "occurrence"], default="distinct")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    counts = identifiers(args.tree, args.min_len, args.max_file)
    names = sorted(counts)
    if len(names) < args.n:
        sys.exit(f"only {len(names)} identifiers of {args.min_len}+ bytes in {args.tree}")
    rng = random.Random(seed)
    if args.weight == "distinct":
        sample = rng.sample(names, args.n)
    else:
        weights = [counts[n] for n in names]
        picked = {}
        while len(picked) < args.n:
            for n in rng.choices(names, weights=weights, k=args.n):
                if len(picked) < args.n:
                    picked.setdefault(n, None)
        sample = list(picked)
    print(f"seed {seed}: {args.n} of {len(names)} distinct identifiers, by {args.weight}",
          file=sys.stderr)
    for i, name in enumerate(sample):
        text = name.decode("ascii")
        print(json.dumps({"id": f"{args.prefix}-{i:02}-{text}", "class": "selective_literal",
                          "pattern": text, "fixed": True}))


if __name__ == "__main__":
    main()
