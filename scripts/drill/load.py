#!/usr/bin/env python3
"""Replays search queries against a lens server from many client ids, for the
canary drill. Queries are identifiers read from the indexed tree (a replay of
what users of that tree type), sent with `X-Client-Id` from a fixed pool.

  load.py --url http://127.0.0.1:PORT --tree DIR --seconds N [--clients 500] [--threads 8] --out FILE

Writes one JSON document: requests per arm and status, and per client the
arms it was answered by (a client must keep its arm within a stage).
"""
import argparse
import json
import os
import random
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


def identifiers(tree, limit=400, seed=7):
    words = set()
    for root, _, files in os.walk(tree):
        for f in sorted(files):
            if not f.endswith((".rs", ".c", ".h", ".py", ".go", ".ts", ".js")):
                continue
            try:
                text = open(os.path.join(root, f), encoding="utf-8", errors="replace").read()
            except OSError:
                continue
            words.update(re.findall(r"\b[A-Za-z_][A-Za-z0-9_]{5,30}\b", text))
    rng = random.Random(seed)
    words = sorted(words)
    rng.shuffle(words)
    return words[:limit]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--tree", required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    queries = identifiers(a.tree)
    clients = [f"client-{i:04d}" for i in range(a.clients)]
    lock = threading.Lock()
    arms = {}
    counts = {}
    stop = time.time() + a.seconds

    def worker(n):
        rng = random.Random(n)
        while time.time() < stop:
            c = rng.choice(clients)
            q = rng.choice(queries)
            req = urllib.request.Request(
                a.url + "/search?" + urllib.parse.urlencode({"q": q, "limit": 10}),
                headers={"X-Client-Id": c},
            )
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    status, arm = r.status, r.headers.get("X-Lens-Arm", "?")
                    r.read()
            except urllib.error.HTTPError as e:
                status, arm = e.code, e.headers.get("X-Lens-Arm", "?")
            except OSError:
                status, arm = 0, "?"
            with lock:
                arms.setdefault(c, set()).add(arm)
                key = f"{arm} {status}"
                counts[key] = counts.get(key, 0) + 1

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    doc = {
        "requests": counts,
        "clients": {c: sorted(s) for c, s in arms.items()},
        "candidate_clients": sorted(c for c, s in arms.items() if "candidate" in s),
        "switched_clients": sorted(c for c, s in arms.items() if len(s) > 1),
    }
    with open(a.out, "w") as f:
        json.dump(doc, f)
    total = sum(counts.values())
    print(f"load: {total} requests in {a.seconds:.0f} s from {len(arms)} clients: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
          + f"; {len(doc['candidate_clients'])} candidate clients, {len(doc['switched_clients'])} switched arm")


if __name__ == "__main__":
    main()
