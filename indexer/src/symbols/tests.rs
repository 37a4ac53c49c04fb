use super::*;

/// (name, kind, scope) of every definition, in order.
fn defs(lang: &str, src: &str) -> Vec<(String, &'static str, String)> {
    full_defs(lang, src, true)
        .into_iter()
        .map(|(name, kind, scope, ..)| (name, kind, scope))
        .collect()
}

fn has(v: &[(String, &str, String)], name: &str, kind: &str, scope: &str) -> bool {
    v.iter()
        .any(|(n, k, s)| n == name && *k == kind && s == scope)
}

#[test]
fn every_query_compiles() {
    assert_eq!(languages().len(), 9);
    assert!(compile_time() > Duration::ZERO);
}

#[test]
fn rust_definitions_and_scopes() {
    let src = "mod m {\n  pub struct Point { x: i32 }\n  impl<T> Shape for Point { fn area(&self) -> f64 { 0.0 } }\n  pub trait Shape { fn area(&self) -> f64; }\n  enum E { A, B(u8) }\n  const MAX: u32 = 1;\n  macro_rules! mac { () => {} }\n  type Alias = u8;\n}\nfn free() {}\n";
    let v = defs("rust", src);
    assert!(has(&v, "m", "module", ""), "{v:?}");
    assert!(has(&v, "Point", "struct", "m"), "{v:?}");
    assert!(has(&v, "x", "field", "m::Point"), "{v:?}");
    assert!(has(&v, "area", "method", "m::Point"), "{v:?}");
    assert!(has(&v, "area", "method", "m::Shape"), "{v:?}");
    assert!(has(&v, "Shape", "trait", "m"), "{v:?}");
    assert!(has(&v, "A", "constant", "m::E"), "{v:?}");
    assert!(has(&v, "MAX", "constant", "m"), "{v:?}");
    assert!(has(&v, "mac", "macro", "m"), "{v:?}");
    assert!(has(&v, "Alias", "type", "m"), "{v:?}");
    assert!(has(&v, "free", "function", ""), "{v:?}");
    assert!(
        !v.iter().any(|(n, k, _)| n == "area" && *k == "function"),
        "{v:?}"
    );
}

#[test]
fn python_methods_are_not_functions() {
    let src = "X = 1\nclass A:\n    y = 2\n    def m(self):\n        def inner(): pass\n    @staticmethod\n    def s(): pass\ndef f(): pass\n";
    let v = defs("python", src);
    assert!(has(&v, "X", "variable", ""));
    assert!(has(&v, "A", "class", ""));
    assert!(has(&v, "y", "field", "A"));
    assert!(has(&v, "m", "method", "A"), "{v:?}");
    assert!(has(&v, "s", "method", "A"), "{v:?}");
    assert!(has(&v, "inner", "function", "A.m"), "{v:?}");
    assert!(has(&v, "f", "function", ""));
}

#[test]
fn c_and_cpp_declarators() {
    let src = "#define MAXN 10\n#define SQ(x) ((x)*(x))\nstruct s { int a; char *p; void (*cb)(int); };\ntypedef unsigned long ulong_t;\ntypedef int (*handler_t)(int);\ntypedef void (dlm_bastlockfunc_t)(void *, int);\nenum color { RED, GREEN };\nunion u { int i; };\nstatic int *make(void) { return 0; }\nint counter = 0;\n";
    let v = defs("c", src);
    for (n, k) in [
        ("MAXN", "macro"),
        ("SQ", "macro"),
        ("s", "struct"),
        ("ulong_t", "type"),
        ("handler_t", "type"),
        ("dlm_bastlockfunc_t", "type"),
        ("color", "enum"),
        ("RED", "constant"),
        ("u", "union"),
        ("make", "function"),
        ("counter", "variable"),
    ] {
        assert!(
            v.iter().any(|(a, b, _)| a == n && *b == k),
            "{n} {k}: {v:?}"
        );
    }
    assert!(has(&v, "cb", "field", "s"), "{v:?}");
    assert!(has(&v, "p", "field", "s"), "{v:?}");
    let cpp = "namespace ns {\nclass Widget {\n public:\n  void draw() {}\n  int size;\n};\nvoid Widget::resize(int n) {}\n}\n";
    let v = defs("cpp", cpp);
    assert!(has(&v, "ns", "module", ""), "{v:?}");
    assert!(has(&v, "Widget", "class", "ns"), "{v:?}");
    assert!(has(&v, "draw", "method", "ns::Widget"), "{v:?}");
    assert!(has(&v, "size", "field", "ns::Widget"), "{v:?}");
    assert!(has(&v, "resize", "method", "ns::Widget"), "{v:?}");
}

#[test]
fn go_java_js_ts() {
    let go = "package p\ntype T struct { F int }\ntype I interface { M() }\nfunc (t *T) Do() {}\nfunc Free() {}\nconst C = 1\nvar V = 2\nvar (\n\tW, X = 3, 4\n\tY int\n)\nconst (\n\tA = iota\n\tB\n)\ntype G[K comparable] struct{}\nfunc (g *G[K]) Get() {}\ntype Alias = T\n";
    let v = defs("go", go);
    // The package is the outermost scope (`sym:p.Free`, `sym:p.T.Do`).
    assert!(
        has(&v, "T", "struct", "p") && has(&v, "I", "interface", "p"),
        "{v:?}"
    );
    assert!(
        has(&v, "F", "field", "p.T") && has(&v, "M", "method", "p.I"),
        "{v:?}"
    );
    assert!(
        has(&v, "Do", "method", "p.T") && has(&v, "Free", "function", "p"),
        "{v:?}"
    );
    assert!(
        has(&v, "C", "constant", "p") && has(&v, "V", "variable", "p"),
        "{v:?}"
    );
    // `var (...)` and `const (...)` blocks.
    for n in ["W", "X", "Y"] {
        assert!(has(&v, n, "variable", "p"), "{n}: {v:?}");
    }
    assert!(
        has(&v, "A", "constant", "p") && has(&v, "B", "constant", "p"),
        "{v:?}"
    );
    assert!(
        has(&v, "Get", "method", "p.G") && has(&v, "Alias", "type", "p"),
        "{v:?}"
    );
    assert!(
        !v.iter().any(|(n, ..)| n == "p"),
        "the package is a scope only: {v:?}"
    );
    let java = "class A { int f; A() {} void m() {} enum E { X } interface I {} }";
    let v = defs("java", java);
    assert!(
        has(&v, "A", "class", "") && has(&v, "f", "field", "A") && has(&v, "m", "method", "A"),
        "{v:?}"
    );
    assert!(
        has(&v, "X", "constant", "A.E") && has(&v, "I", "interface", "A"),
        "{v:?}"
    );
    // The package is the outermost scope (`sym:java.util.List`, `sym:util.List.add`).
    let java = "package java.util;\npublic interface List<E> { boolean add(E e); }\nrecord R(int x) {}\n@interface Ann {}\n";
    let v = defs("java", java);
    assert!(
        has(&v, "List", "interface", "java.util") && has(&v, "add", "method", "java.util.List"),
        "{v:?}"
    );
    assert!(
        has(&v, "R", "class", "java.util") && has(&v, "Ann", "interface", "java.util"),
        "{v:?}"
    );
    // Prototype assignments, functions assigned to properties, object-literal methods.
    let js = "function Foo() {}\nFoo.prototype.bar = function (x) {};\nXRegExp.forEach = function () {};\nconst api = {\n  get: function () {},\n  put: (x) => x,\n  del() {},\n};\nexport let counter = 0;\nexport var legacy = 1;\n";
    let v = defs("javascript", js);
    assert!(
        has(&v, "bar", "method", "Foo") && has(&v, "forEach", "function", "XRegExp"),
        "{v:?}"
    );
    let js = "Dep.Template = class DepTemplate extends Base {\n  apply() {}\n  [Symbol.iterator]() {}\n};\nconst m = { 'castArray': function (f) {} };\n";
    let v2 = defs("javascript", js);
    assert!(has(&v2, "Template", "class", "Dep"), "{v2:?}");
    assert!(
        has(
            &v2,
            "[Symbol.iterator]",
            "method",
            "Dep.Template.DepTemplate"
        ) && has(&v2, "castArray", "method", "m"),
        "{v2:?}"
    );
    assert!(
        has(&v, "get", "method", "api")
            && has(&v, "put", "method", "api")
            && has(&v, "del", "method", "api"),
        "{v:?}"
    );
    assert!(
        has(&v, "api", "constant", "")
            && has(&v, "counter", "variable", "")
            && has(&v, "legacy", "variable", ""),
        "{v:?}"
    );
    let js =
        "class K { #p = 1; run() {} }\nfunction g() {}\nconst h = () => 1;\nconst LIMIT = 3;\n";
    let v = defs("javascript", js);
    assert!(
        has(&v, "K", "class", "") && has(&v, "run", "method", "K") && has(&v, "#p", "field", "K"),
        "{v:?}"
    );
    assert!(
        has(&v, "g", "function", "")
            && has(&v, "h", "function", "")
            && has(&v, "LIMIT", "constant", ""),
        "{v:?}"
    );
    let ts = "export interface Opts { a: string; m(): void }\ntype U = string | number;\nenum Dir { Up = 1, Down }\nnamespace N { export function f() {} }\nabstract class B { abstract go(): void; private x = 1; }\n";
    let v = defs("typescript", ts);
    assert!(
        has(&v, "Opts", "interface", "")
            && has(&v, "a", "field", "Opts")
            && has(&v, "m", "method", "Opts"),
        "{v:?}"
    );
    assert!(
        has(&v, "U", "type", "")
            && has(&v, "Dir", "enum", "")
            && has(&v, "Up", "constant", "Dir")
            && has(&v, "Down", "constant", "Dir"),
        "{v:?}"
    );
    assert!(
        has(&v, "N", "module", "") && has(&v, "f", "function", "N"),
        "{v:?}"
    );
    assert!(
        has(&v, "B", "class", "") && has(&v, "go", "method", "B") && has(&v, "x", "field", "B"),
        "{v:?}"
    );
}

#[test]
fn spans_lines_and_parents_are_consistent() {
    let src = "struct A {\n    b: u8,\n}\nimpl A {\n    fn c(&self) {}\n}\n";
    let d = extract(Some("rust"), src.as_bytes());
    for (i, s) in d.iter().enumerate() {
        assert!(s.def_start <= s.name_start && s.name_end <= s.def_end);
        let line = src[..s.name_start as usize].matches('\n').count() as u32 + 1;
        assert_eq!(s.line, line);
        if let Some(p) = s.parent {
            assert!((p as usize) < i);
            let p = &d[p as usize];
            assert!(p.def_start <= s.def_start && s.def_end <= p.def_end);
        }
        if i > 0 {
            assert!(d[i - 1].def_start <= s.def_start);
        }
    }
    assert!(extract(Some("markdown"), b"# x").is_empty());
    assert!(extract(None, b"fn x() {}").is_empty());
}

/// Kernel attribute macros are not names: tree-sitter, not knowing them, took `__packed`
/// for the typedef's name and `__initdata` for the variable's (regression).
#[test]
fn c_attribute_macros_give_way_to_the_real_name() {
    let src = "typedef struct {\n\tint a;\n} __packed salt_t;\nstatic int counter __initdata = 3;\nstatic unsigned long mask __read_mostly;\nvoid __free_pages(int n) {}\nstruct bare {\n\tint y;\n} __packed;\ntypedef unsigned short __bitwise be16;\n";
    let v = defs("c", src);
    assert!(has(&v, "salt_t", "type", ""), "{v:?}");
    assert!(has(&v, "counter", "variable", ""), "{v:?}");
    assert!(has(&v, "mask", "variable", ""), "{v:?}");
    // A real name that merely starts with __ stays.
    assert!(has(&v, "__free_pages", "function", ""), "{v:?}");
    assert!(has(&v, "bare", "struct", ""), "{v:?}");
    assert!(has(&v, "be16", "type", ""), "{v:?}");
    for macro_name in ["__packed", "__initdata", "__read_mostly", "__bitwise"] {
        assert!(!v.iter().any(|d| d.0 == macro_name), "{macro_name}: {v:?}");
    }
}

/// Name, kind, scope, line, [name start, name end, def start, def end] and parent.
type FullDef = (String, &'static str, String, u32, [u32; 4], Option<u32>);

/// Every field of every definition, for comparing two extractions.
fn full_defs(lang: &str, src: &str, skim: bool) -> Vec<FullDef> {
    extract_with(Some(lang), src.as_bytes(), skim)
        .into_iter()
        .map(|d| {
            (
                src[d.name_start as usize..d.name_end as usize].to_string(),
                d.kind.as_str(),
                d.scope.unwrap_or_default(),
                d.line,
                [d.name_start, d.name_end, d.def_start, d.def_end],
                d.parent,
            )
        })
        .collect()
}

/// The skimmed and the whole parse of `src` give the same definitions, every
/// field, and at least `min_defs` of them.
fn assert_skimmed_parse_agrees(lang: &str, src: &str, min_defs: usize) {
    let full = full_defs(lang, src, false);
    let skimmed = full_defs(lang, src, true);
    assert!(full.len() >= min_defs, "{full:?}");
    assert_eq!(skimmed, full);
}

#[test]
fn skimmed_c_gives_what_the_full_parse_gives_outside_bodies() {
    let src = r#"/* A header comment with { braces } and "quotes". */
#include <linux/types.h>

#define MAX_ITEMS 64
#define SQUARE(x) \
	((x) * (x))

// Line comment }
struct item {
	int id;
#define ITEM_FLAG_A 0x1
	unsigned long flags;
	struct list_head *next;
	void (*release)(struct item *it);
};

enum item_state { ITEM_NEW, ITEM_LIVE = 2, ITEM_DEAD };

typedef struct item item_t;
typedef int (*item_cb)(item_t *);

static const char *names[] = { "a", "b{", "}" };
int item_count = 0;
static struct item root = { .id = 0, .flags = 0 };

union value { int i; long l; };

static int item_init(struct item *it, int id)
{
	/* comment in a body { */
	int local = id;
	if (local > MAX_ITEMS) {
		return -1;
	}
#ifdef DEBUG
	if (it)
		it->id = local;
#endif
	return 0;
}

long item_sum(const struct item *items,
	      int n)
{
	long s = 0;
	for (int i = 0; i < n; i++)
		s += items[i].id;
	return s;
}
"#;
    assert_skimmed_parse_agrees("c", src, 21);
}

#[test]
fn skimmed_rust_gives_what_the_full_parse_gives() {
    let src = r####"//! Crate docs with { a brace.
use std::fmt;

/// A point. } in a doc comment.
#[derive(Debug)]
pub struct Point<'a, T: Copy = u8> {
    pub x: T,
    name: &'a str,
}

pub enum Shape { Circle { r: f64 }, Square(f64) }

pub const LIMIT: usize = { let n = 4; n * 2 };
static GREETING: &str = "fn not_a_fn() { }";
type Pair = (u8, u8);

pub trait Area {
    const SIDES: u32;
    type Out;
    fn area(&self) -> f64;
    fn describe(&self) -> String { format!("{} {}", '{', r#"}"#) }
}

impl<'a, T: Copy> Point<'a, T> {
    pub fn new(x: T, name: &'a str) -> Self { Point { x, name } }
    fn nested(&self) -> usize {
        struct Local { v: u8 }
        fn helper(l: &Local) -> usize { l.v as usize }
        helper(&Local { v: 1 })
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self { Shape::Circle { r } => write!(f, "c{r}"), Shape::Square(s) => write!(f, "s{s}") }
    }
}

macro_rules! square { ($x:expr) => { $x * $x }; }

mod inner {
    pub fn deep<F: Fn(u8) -> u8>(f: F) -> [u8; 2] where F: Copy { [f(1), f(2)] }
    pub(crate) async unsafe fn tricky(p: *const u8) -> u8 { unsafe { *p } }
}

fn with_ptr(cb: fn(u8) -> u8) -> u8 { /* { */ cb(b'}') }
"####;
    assert_skimmed_parse_agrees("rust", src, 26);
}

#[test]
fn skimmed_python_gives_what_the_full_parse_gives() {
    let src = r####"
"""Module docs: def not_a_function():"""
import os

LIMIT = 10
NAMES = [
    "a",
    "b",
]


def plain(x, y=(1,
                2)):
    """Doc with class Fake: inside."""
    total = x + y[0]
    if total > LIMIT:
        total = LIMIT
    elif total < 0:
        total = 0
    else:
        pass
    for i in range(3):
        total += i
    return total


async def fetch(url):
    data = await get(url)
    text = rb'\' + b"\"" + f"{data!r}"
    try:
        parse(text)
    except ValueError as e:
        raise RuntimeError from e
    finally:
        close()


class Model(Base):
    table = "models"
    retries: int = 3

    @property
    def name(self):
        first = self._first
        last = self._last
        return f"{first} {last}"

    def nested(self):
        a = 1

        def helper(v):
            w = v * 2
            w += 1
            return w

        class Local:
            z = 1

        return helper(a)


def pick(name):
    """Return the resource name."""
    if name == "core":
        return "django.core"
    else:
        return "django.contrib-%s" % name


def after_pick(cat_name, base_path):
    """Doc."""
    po_path = base_path % {
        "path": base_path,
    }
    return po_path


def tail(): return 1
"####;
    assert_skimmed_parse_agrees("python", src, 12);
}

#[test]
fn skimmed_c_survives_braces_split_by_conditionals() {
    // Both branches open a brace: the full parse loses the function, and
    // everything after it, to error recovery; skimming counts one branch.
    let src = "static int f(int a)\n{\n#ifdef DEBUG\n\tif (a) {\n#else\n\tif (!a) {\n#endif\n\t\treturn 1;\n\t}\n\treturn 0;\n}\n\nstruct after { int x; };\n";
    let v = defs("c", src);
    assert!(has(&v, "f", "function", ""), "{v:?}");
    assert!(has(&v, "after", "struct", ""), "{v:?}");
    assert!(has(&v, "x", "field", "after"), "{v:?}");
}

#[test]
fn skimmed_c_finds_macros_past_the_parse_limit_and_in_bodies() {
    let mut src = String::from("int f(void)\n{\n#define IN_BODY 1\n\treturn IN_BODY;\n}\n");
    while src.len() <= MAX_PARSE_BYTES {
        src.push_str("#define REGISTER_A_MASK 0x00000001L\n");
    }
    src.push_str("#define LAST_ONE 2\n");
    let v = defs("c", &src);
    assert!(has(&v, "f", "function", ""), "{:?}", &v[..3]);
    assert!(has(&v, "IN_BODY", "macro", "f"));
    assert!(has(&v, "LAST_ONE", "macro", ""));
    // Unskimmed, the file is over the limit and yields nothing.
    assert!(extract_with(Some("c"), src.as_bytes(), false).is_empty());
}
