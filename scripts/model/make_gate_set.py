"""Builds validation/data/gate-labelled.jsonl: {"query", "label": "nl"|"code", "source"}."""
import glob, json, os, random, re

rng = random.Random(20251124)
REG = sorted(glob.glob(os.path.expanduser('~/.cargo/registry/src/*/')))[0]
files = sorted(glob.glob(REG + '*/src/**/*.rs', recursive=True))
rng.shuffle(files)
files = files[:1500]
srcs = []
for f in files:
    try:
        srcs.append((f[len(REG):], open(f, encoding='utf-8').read()))
    except Exception:
        pass

def pick(pool, n, seen):
    pool = sorted(set(pool) - seen)
    rng.shuffle(pool)
    out = pool[:n]
    seen.update(out)
    return out

seen = set()
fns, types, paths, lits, stmts, relpaths, calls = [], [], [], [], [], [], []
for rel, s in srcs:
    fns += [m for m in re.findall(r'\bfn\s+([a-z][a-z0-9]*_[a-z0-9_]+)\b', s)]
    types += [m for m in re.findall(r'\b(?:struct|enum|trait)\s+([A-Z][a-z]+[A-Z][A-Za-z0-9]*)\b', s)]
    paths += [m for m in re.findall(r'\b([A-Za-z_]\w*(?:::[A-Za-z_]\w*){1,3})\b', s) if len(m) <= 40]
    calls += [m for m in re.findall(r'(\.[a-z_]+\(\))', s)]
    lits += [m for m in re.findall(r'(?:panic!|expect|unreachable!|format!|bail!)\(\s*"([^"\\{}]{12,60})"', s)]
    stmts += [l.strip() for l in s.splitlines() if 12 <= len(l.strip()) <= 45 and re.match(r'^\s*(let|pub fn|fn|impl|use|if let|match|#\[)', l) and not l.strip().startswith('//')]
    relpaths.append('/'.join(rel.split('/')[1:]))

code = []
code += [(q, 'cargo-registry:fn-name') for q in pick(fns, 45, seen)]
code += [(q, 'cargo-registry:type-name') for q in pick(types, 30, seen)]
code += [(q, 'cargo-registry:path') for q in pick(paths, 35, seen)]
code += [(q, 'cargo-registry:method-call') for q in pick(calls, 12, seen)]
code += [(f'"{q}"', 'cargo-registry:quoted-message') for q in pick(lits, 25, seen)]
code += [(q, 'cargo-registry:statement') for q in pick(stmts, 30, seen)]
code += [(q, 'cargo-registry:file-path') for q in pick(relpaths, 25, seen)]

hand_regex = r"""fn\s+\w+
impl\s+\w+\s+for
^use std::
TODO|FIXME
\bunsafe\b
[0-9]+\.[0-9]+
/fn \w+\(/
unwrap\(\)
#\[derive\(.*Debug
^\s*pub(\(crate\))? fn
(?i)hashmap
\w+_test\.go$
Err\(e\) =>
foo.*bar
\.clone\(\)\.clone\(\)
[A-Z_]{3,}
^#include <.*\.h>
async fn \w+
https?://\S+
\d{4}-\d{2}-\d{2}
log::(warn|error)!
(?m)^impl
struct \w+<'a>
let \w+ = &mut
0x[0-9a-f]+""".splitlines()
hand_filter = """lang:rust foo
sym:parse_query
path:src/ HashMap
file:Cargo.toml serde
-path:test unwrap
case:yes Foo
repo:lens search
lang:c spin_lock
sym:BundleReader open
path:*.rs unsafe
lang:python def main
file:README.md install
-lang:go error
sym:Error::corrupt
path:lens-core/src plan
lang:rust regex:fn\\s+new
kind:function parse
type:struct Config
lang:typescript useState
path:tests/ assert_eq""".splitlines()
hand_other = """spin_lock_irqsave
kmalloc(sizeof(*p), GFP_KERNEL)
EXPORT_SYMBOL_GPL
__init__
def __repr__(self)
getElementById
console.log
fmt.Println
func main()
public static void main
SELECT * FROM users WHERE id = ?
std::vector<int>
#include <stdio.h>
np.zeros((3, 3))
os.path.join
self.assertEqual
useEffect(() => {}, [])
if err != nil
Box<dyn Error>
Result<(), Error>
&mut self
Vec<u8>
#[derive(Debug, Clone)]
impl Display for Error
x -> y
a != b
i += 1
fn main()
"file not found"
'unexpected EOF'
`Option::unwrap()`
error[E0382]: borrow of moved value
thread 'main' panicked at src/main.rs:10:5
called `Result::unwrap()` on an `Err` value
src/main.rs
Cargo.toml
*.rs
lens-core/src/lib.rs
/etc/nginx/nginx.conf
../include/linux/spinlock.h
ERR_PTR(-ENOMEM)
MAX_PATH_LEN
HashMap<String, Vec<u32>>
std::sync::Arc
.iter().map(|x| x * 2)
mutex_lock(&dev->lock)
list_for_each_entry
dev_err(&pdev->dev,
unsafe { *ptr }
->next""".splitlines()
code += [(q, 'hand:regex') for q in hand_regex]
code += [(q, 'hand:field-filter') for q in hand_filter]
code += [(q, 'hand:code') for q in hand_other]

D = '/work/shared/data/cosqa-dev'
queries = [json.loads(l)['query'] for l in open(f'{D}/queries.dev.jsonl')]
nl = [(q, 'cosqa-dev') for q in queries[:300]]
# A few short natural-language queries (CoSQA has none under four words) and questions that
# mention identifiers: the gate must not need a long sentence to say "natural language".
hand_nl = """sort a list
read file line by line
parse json
reverse a string
how to use HashMap entry
what does Arc::clone do
convert string to int
check if file exists
remove duplicates from list
find the largest number
where is the config loaded
how are errors reported to the client
merge two dictionaries
wait for all threads to finish
why is my regex slow
split a string on whitespace
count words in a file
open a tcp connection
retry on timeout
get the current time in milliseconds
which function parses the query
list files in a directory recursively
handle ctrl-c gracefully
difference between String and &str
lowercase all keys in a map""".splitlines()
nl += [(q, 'hand:nl') for q in hand_nl]

rows = [{"query": q, "label": "nl", "source": s} for q, s in nl] + [{"query": q, "label": "code", "source": s} for q, s in code]
qs = [r['query'] for r in rows]
assert len(qs) == len(set(qs)), [q for q in qs if qs.count(q) > 1]
os.makedirs('/work/main/validation/data', exist_ok=True)
with open('/work/main/validation/data/gate-labelled.jsonl', 'w', encoding='utf-8') as f:
    for r in rows:
        f.write(json.dumps(r, ensure_ascii=False) + '\n')
import collections
print(len(rows), collections.Counter(r['label'] for r in rows), collections.Counter(r['source'] for r in rows))
