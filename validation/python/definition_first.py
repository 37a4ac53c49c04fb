"""Share of bare-identifier searches whose first result is a definition.

usage: definition_first.py CTAGS.json LANGUAGE N SEED LENS BUNDLE [LENS BUNDLE ...]

Samples N names (seeded) of ctags definitions of LANGUAGE (functions, methods,
classes, types), searches each as `"NAME" case:yes` through `lens search
--batch` (limit 10) on every bundle, and prints how often result 1 is a
definition.
"""
import json, random, subprocess, sys
tags, lang, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
names = sorted({json.loads(l)['name'] for l in open(tags)
                if '"_type": "tag"' in l and json.loads(l).get('language') == lang
                and json.loads(l).get('kind') in ('func','function','method','class','struct','interface','type','talias')})
names = [x for x in names if len(x) >= 4 and x.isidentifier()]
random.seed(seed); sample = random.sample(names, min(n, len(names)))
qs = "".join(json.dumps({"id": i, "query": '"%s" case:yes' % s, "limit": 10}) + "\n" for i, s in enumerate(sample))
for bin_, bundle in zip(sys.argv[5::2], sys.argv[6::2]):
    out = subprocess.run([bin_, "search", "--bundle", bundle, "--batch", "/dev/stdin"], input=qs, capture_output=True, text=True).stdout
    first = 0; total = 0
    for line in out.splitlines():
        v = json.loads(line); r = v.get("results") or []
        if not r: continue
        total += 1
        first += bool(r[0].get("definition"))
    print(f"{bundle}: {first}/{total} = {first/max(total,1):.4f} first result a definition")
