#!/usr/bin/env python3
"""Stage-B figures on a real bundle (run with a release build; see benches/README.md).

1. Overhead: each top-50 query of QUERIES (classes selective_literal and
   regex_literal) runs REPS times through `lens search --batch` on the bundle
   with symbols and on the same tree indexed with --no-symbols; p95 per query
   of the search time and of stats.stage_b_ms. The two bundles alternate per
   query in ROUNDS rounds (order flipped each round), so load on a shared
   machine falls on both alike.
1b. Symbol queries (`--only symq`): the `sym:`/`kind:`/`type:symbol` queries
   of SYMQ through `lens search --batch`, median and p95.
2. LRU: a replayed query log (Zipf over a pool of the benchmark queries and
   identifiers defined in the bundle, plus definition/hover navigations on the
   files those searches return) against `lens serve`; reads the dashboard's
   stageB.lru_cache_hit_rate and p95.
"""
import argparse, json, os, random, socket, subprocess, sys, tempfile, time, urllib.parse, urllib.request


def p95(xs):
    xs = sorted(xs)
    return xs[max(0, int(round(0.95 * len(xs) + 0.4999)) - 1)] if xs else 0.0


def batch(lens, bundle, lines):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for l in lines:
            f.write(json.dumps(l) + "\n")
    out = subprocess.run([lens, "search", "--bundle", bundle, "--batch", f.name, "--limit", "50"],
                         capture_output=True, check=True, text=True).stdout
    os.unlink(f.name)
    return [json.loads(l) for l in out.splitlines()]


def overhead(a):
    qs = [json.loads(l) for l in open(a.queries)]
    qs = [q for q in qs if q["class"] in ("selective_literal", "regex_literal")]
    lines = [{"id": q["id"], "pattern": q["pattern"], "flags": {"fixed_string": bool(q.get("fixed"))}} for q in qs]
    res = {name: {q["id"]: ([], []) for q in qs} for name in ("symbols", "plain")}
    bundles = [("symbols", a.bundle), ("plain", a.plain_bundle)]

    def record(name, outs):
        for o in outs:
            res[name][o["id"]][0].append(o["stats"]["elapsed_ms"])
            res[name][o["id"]][1].append(o["stats"].get("stage_b_ms", 0.0))

    if a.cold:
        # One fresh process per round and bundle: every query meets a cold symbol cache.
        for r in range(a.reps):
            for name, bundle in (bundles if r % 2 == 0 else bundles[::-1]):
                record(name, batch(a.lens, bundle, lines))
    else:
        per_round = max(1, a.reps // a.rounds)
        for l in lines:
            for r in range(a.rounds):
                for name, bundle in (bundles if r % 2 == 0 else bundles[::-1]):
                    # The first run of each process warms it (page cache, symbol LRU) and is dropped.
                    record(name, batch(a.lens, bundle, [l] * (per_round + 1))[1:])
    rows = [(q["id"], p95(res["symbols"][q["id"]][0]), p95(res["plain"][q["id"]][0]), p95(res["symbols"][q["id"]][1])) for q in qs]
    print("cold symbol cache (one process per round)" if a.cold else "warm symbol cache (repeats in one process)")
    print(f"{'query':45} {'p95 with symbols':>17} {'p95 without':>12} {'p95 stage_b':>12}")
    for r in rows:
        print(f"{r[0]:45} {r[1]:17.2f} {r[2]:12.2f} {r[3]:12.2f}")
    print(f"worst p95 stage_b_ms {max(r[3] for r in rows):.2f}; worst p95 difference {max(r[1] - r[2] for r in rows):.2f} ms")
    n = len(res["symbols"][qs[0]["id"]][0])
    print(f"{n} runs per query and bundle; medians of per-query p95: with symbols "
          f"{median([r[1] for r in rows]):.2f} ms, without {median([r[2] for r in rows]):.2f} ms")


def median(xs):
    xs = sorted(xs)
    return (xs[(len(xs) - 1) // 2] + xs[len(xs) // 2]) / 2 if xs else 0.0


def symq(a):
    qs = [json.loads(l) for l in open(a.symq)]
    lines = [{"id": q["id"], "query": q["query"]} for q in qs]
    times = {q["id"]: [] for q in qs}
    results = {}
    for l in lines:
        for o in batch(a.lens, a.bundle, [l] * (a.reps + 1))[1:]:
            times[o["id"]].append(o["stats"]["elapsed_ms"])
            results[o["id"]] = len(o["results"])
    print(f"{'query':45} {'median ms':>10} {'p95 ms':>8} {'results':>8}")
    for q in qs:
        t = times[q["id"]]
        print(f"{q['query']:45} {median(t):10.2f} {p95(t):8.2f} {results[q['id']]:8}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get(base, route, **params):
    with urllib.request.urlopen(base + route + "?" + urllib.parse.urlencode(params), timeout=60) as r:
        return json.load(r)


def lru(a):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    srv = subprocess.Popen([a.lens, "serve", "--bundle", a.bundle, "--listen", f"127.0.0.1:{port}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                get(base, "/health")
                break
            except OSError:
                time.sleep(0.1)
        rng = random.Random(a.seed)
        names = [h["name"] for h in get(base, "/symbols", q="kind:function lang:c", limit=1000)["results"]]
        pool = [json.loads(l)["pattern"] for l in open(a.queries) if json.loads(l)["class"] == "selective_literal"]
        n_lit = len(pool)
        # A C function may be named `or`, which the query language reads as the operator: quote it.
        pool += [f'"{n}"' if n.lower() == "or" else n for n in rng.sample(names, min(a.pool - n_lit, len(names)))]
        weights = [1.0 / (i + 1) ** a.zipf for i in range(len(pool))]
        requests = 0
        for _ in range(a.log):
            q = rng.choices(pool, weights)[0]
            r = get(base, "/search", q=q, limit=50, context=0)
            requests += 1
            hits = r["results"]
            # A user opens a few results: definition and hover there.
            for h in hits[: rng.randint(0, 3)]:
                for route in ("/definition", "/hover"):
                    get(base, route, repo=h["repo"], path=h["path"], line=h["line"], character=h["start"])
                    requests += 1
        b = get(base, "/monitoring/dashboard")["dashboard_state"]["metrics"]["performance"]["stageB"]
        print(f"log: {a.log} searches drawn (Zipf s={a.zipf}) from a pool of {len(pool)} queries "
              f"({n_lit} benchmark literals first, then {len(pool) - n_lit} defined C function names), "
              f"{requests} requests in all, seed {a.seed}")
        print(json.dumps(b, indent=1))
    finally:
        srv.terminate()
        srv.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lens", required=True)
    ap.add_argument("--bundle", required=True)
    ap.add_argument("--plain-bundle", required=True)
    ap.add_argument("--queries", default=os.path.join(os.path.dirname(__file__), "queries/linux.jsonl"))
    ap.add_argument("--symq", default=os.path.join(os.path.dirname(__file__), "queries/linux-symbols.jsonl"))
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3, help="overhead: alternations of the two bundles per query")
    ap.add_argument("--zipf", type=float, default=1.1, help="lru: Zipf exponent of the query log")
    ap.add_argument("--pool", type=int, default=200, help="lru: distinct queries in the log's pool (at most 1010)")
    ap.add_argument("--log", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--only", choices=["overhead", "symq", "lru"])
    ap.add_argument("--cold", action="store_true", help="overhead with a cold symbol cache per query")
    a = ap.parse_args()
    if a.only in (None, "overhead"):
        overhead(a)
    if a.only in (None, "symq"):
        symq(a)
    if a.only in (None, "lru"):
        lru(a)


if __name__ == "__main__":
    sys.exit(main())
