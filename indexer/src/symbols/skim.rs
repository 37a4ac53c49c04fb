//! C skimmed before parsing. The definitions lens indexes in C sit outside
//! function bodies, yet bodies hold most of the bytes and cause most of
//! tree-sitter's error recovery on macro-heavy code; comments hold most of the
//! rest; `#define` lines (a third of what remains in Linux) need no parser.
//! So bodies, comment text and `#define` directives are taken out of the text
//! tree-sitter sees, macros are read off their directives here, and offsets
//! map back to the original.

use std::ops::Range;

/// What remains of a C file for tree-sitter, the macros taken out of it, and
/// the way back to the original offsets.
pub struct Skimmed {
    pub text: Vec<u8>,
    /// `#define`s, anywhere in the file, in the original's offsets.
    pub macros: Vec<MacroDef>,
    /// Kept runs of the original: (start in `text`, start in the original).
    segments: Vec<(usize, usize)>,
}

/// One `#define NAME…` directive: the name's span and the directive's.
pub struct MacroDef {
    pub name: Range<usize>,
    pub def: Range<usize>,
}

impl Skimmed {
    /// The original offset of a start position in `text`.
    pub fn start(&self, at: usize) -> usize {
        let k = self.segments.partition_point(|s| s.0 <= at) - 1;
        self.segments[k].1 + (at - self.segments[k].0)
    }

    /// The original offset of an end (exclusive) position in `text`: at a seam
    /// it is the end of the run before, not the start of the run after.
    pub fn end(&self, at: usize) -> usize {
        let k = self.segments.partition_point(|s| s.0 < at).max(1) - 1;
        self.segments[k].1 + (at - self.segments[k].0)
    }
}

/// `src` without the inside of its top-level function bodies, without the
/// text of its comments (their delimiters stay, so tokens stay apart) and
/// without its `#define` directives, which become [`Skimmed::macros`]. `None`
/// when the braces do not balance; the caller then parses `src` as it is.
///
/// A body is a `{` at nesting depth 0 whose previous significant byte is `)`;
/// initializers (`= {`) at depth 0 go the same way.
/// Braces count in the first branch of a preprocessor conditional only, as
/// ctags does, so that `#ifdef A if (a) { #else if (b) { #endif` opens one.
pub fn skim_c(src: &[u8]) -> Option<Skimmed> {
    let Scan {
        bodies,
        mut loose,
        macros,
    } = scan(src)?;
    // Comments and directives inside a body go with it.
    loose.sort_by_key(|r| r.start);
    let mut removed = Vec::with_capacity(loose.len() + bodies.len());
    let mut bodies = bodies.into_iter().peekable();
    for r in loose {
        while let Some(b) = bodies.next_if(|b| b.end <= r.start) {
            removed.push(b);
        }
        if bodies.peek().is_some_and(|b| b.start <= r.start) {
            continue;
        }
        removed.push(r);
    }
    removed.extend(bodies);
    removed.retain(|r| !r.is_empty());

    Some(Skimmed::without(src, &removed, macros))
}

impl Skimmed {
    /// `src` without the `removed` ranges (sorted, disjoint).
    pub(super) fn without(src: &[u8], removed: &[Range<usize>], macros: Vec<MacroDef>) -> Skimmed {
        let kept_len = src.len() - removed.iter().map(|r| r.len()).sum::<usize>();
        let mut text = Vec::with_capacity(kept_len);
        let mut segments = vec![(0, 0)];
        let mut at = 0;
        for r in removed
            .iter()
            .chain(std::iter::once(&(src.len()..src.len())))
        {
            if r.start > at {
                if text.is_empty() {
                    segments.clear();
                }
                segments.push((text.len(), at));
                text.extend_from_slice(&src[at..r.start]);
            }
            at = r.end;
        }
        Skimmed {
            text,
            macros,
            segments,
        }
    }
}

struct Scan {
    /// Insides of function bodies and initializers, in order.
    bodies: Vec<Range<usize>>,
    /// Comment text and `#define` directives outside nothing in particular.
    loose: Vec<Range<usize>>,
    macros: Vec<MacroDef>,
}

fn scan(src: &[u8]) -> Option<Scan> {
    let n = src.len();
    let mut scan = Scan {
        bodies: Vec::new(),
        loose: Vec::new(),
        macros: Vec::new(),
    };
    let mut body_start: Option<usize> = None;
    let mut depth = 0usize;
    let mut last_significant = b';';
    // One entry per open conditional: true once past its first branch.
    let mut conditionals: Vec<bool> = Vec::new();
    let mut line_start = true;
    let mut i = 0;
    while i < n {
        let c = src[i];
        if line_start && c == b'#' {
            let end = directive_end(src, i);
            let (name, rest_at) = directive_name(src, i + 1, end);
            match name {
                b"if" | b"ifdef" | b"ifndef" => conditionals.push(false),
                b"elif" | b"else" | b"elifdef" | b"elifndef" => {
                    if let Some(top) = conditionals.last_mut() {
                        *top = true;
                    }
                }
                b"endif" => {
                    conditionals.pop();
                }
                b"define" => {
                    if let Some(name) = macro_name(src, rest_at, end) {
                        // The directive's line end belongs to it, as in tree-sitter.
                        let def = i..(end + 1).min(n);
                        scan.macros.push(MacroDef { name, def });
                    }
                    scan.loose.push(i..end);
                }
                b"undef" => scan.loose.push(i..end),
                _ => {}
            }
            i = end;
            continue;
        }
        match c {
            b'\n' => {
                line_start = true;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b'\x0c' | b'\x0b' => {
                i += 1;
                continue;
            }
            _ => line_start = false,
        }
        if (c.is_ascii_alphabetic() || c == b'_') && (i == 0 || !is_word_byte(src[i - 1])) {
            let word_end = i + src[i..]
                .iter()
                .position(|&b| !is_word_byte(b))
                .unwrap_or(n - i);
            match attribute_macro(&src[i..word_end]) {
                Some(takes_args) => {
                    let args_at = skip_blanks(src, word_end, n);
                    let end = if takes_args && src.get(args_at) == Some(&b'(') {
                        parens_end(src, args_at)
                    } else {
                        word_end
                    };
                    scan.loose.push(i..end);
                    i = end;
                }
                None => {
                    if depth == 0 {
                        last_significant = src[word_end - 1];
                    }
                    i = word_end;
                }
            }
            continue;
        }
        let counting = !conditionals.iter().any(|&past_first| past_first);
        match c {
            b'/' if src.get(i + 1) == Some(&b'*') => {
                match memchr::memmem::find(&src[i + 2..], b"*/") {
                    Some(p) => {
                        scan.loose.push(i + 2..i + 2 + p);
                        i += 2 + p + 2;
                    }
                    None => i = n,
                }
                continue;
            }
            b'/' if src.get(i + 1) == Some(&b'/') => {
                let end = line_end(src, i);
                scan.loose.push(i + 2..end);
                i = end;
                continue;
            }
            b'"' | b'\'' => {
                i = quoted_end(src, i);
                if depth == 0 {
                    last_significant = c;
                }
                continue;
            }
            b'{' if counting => {
                // A function body, or an initializer (`= {`), which defines nothing.
                if depth == 0 && matches!(last_significant, b')' | b'=') {
                    body_start = Some(i + 1);
                }
                depth += 1;
            }
            b'}' if counting => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    if let Some(start) = body_start.take() {
                        scan.bodies.push(start..i);
                    }
                    last_significant = b'}';
                }
            }
            _ => {
                if depth == 0 {
                    last_significant = c;
                }
            }
        }
        i += 1;
    }
    (depth == 0 && body_start.is_none()).then_some(scan)
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Whether `word` is an attribute macro that tree-sitter, not expanding it,
/// would take for a type or a name, and whether it takes arguments. The list
/// follows the `-I` list the kernel's `scripts/tags.sh` gives ctags.
fn attribute_macro(word: &[u8]) -> Option<bool> {
    if !(word.starts_with(b"__")
        || matches!(word, b"asmlinkage" | b"noinline" | b"notrace" | b"noinstr"))
    {
        return None;
    }
    match word {
        b"__attribute__" | b"__attribute" | b"__aligned" | b"__printf" | b"__scanf"
        | b"__acquires" | b"__releases" | b"__must_hold" | b"__section" | b"__alias"
        | b"__alloc_size" | b"__assume_aligned" | b"__counted_by" => Some(true),
        b"__init"
        | b"__exit"
        | b"__initdata"
        | b"__exitdata"
        | b"__initconst"
        | b"__ro_after_init"
        | b"__initdata_memblock"
        | b"__refdata"
        | b"__ref"
        | b"__maybe_unused"
        | b"__always_unused"
        | b"__deprecated"
        | b"__always_inline"
        | b"__read_mostly"
        | b"____cacheline_aligned"
        | b"____cacheline_aligned_in_smp"
        | b"__cacheline_aligned"
        | b"__cacheline_aligned_in_smp"
        | b"____cacheline_internodealigned_in_smp"
        | b"__used"
        | b"__packed"
        | b"__must_check"
        | b"__weak"
        | b"__cold"
        | b"__hot"
        | b"__sched"
        | b"__visible"
        | b"__meminit"
        | b"__meminitdata"
        | b"__initdata_or_module"
        | b"__init_or_module"
        | b"__nosavedata"
        | b"__page_aligned_bss"
        | b"__page_aligned_data"
        | b"__latent_entropy"
        | b"__randomize_layout"
        | b"__noreturn"
        | b"__noinline"
        | b"__percpu"
        | b"__rcu"
        | b"__iomem"
        | b"__user"
        | b"__force"
        | b"__bitwise"
        | b"__kprobes"
        | b"__noinstr"
        | b"__nocfi"
        | b"__naked"
        | b"__flatten"
        | b"__pure"
        | b"__malloc"
        | b"__nonstring"
        | b"__designated_init"
        | b"asmlinkage"
        | b"noinline"
        | b"notrace"
        | b"noinstr" => Some(false),
        _ => None,
    }
}

/// End (exclusive) of the balanced parentheses opened at `at`, strings
/// skipped; a `;` or brace before they close ends them early.
fn parens_end(src: &[u8], at: usize) -> usize {
    let mut depth = 0usize;
    let mut i = at;
    while i < src.len() {
        match src[i] {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            b'"' | b'\'' => {
                i = quoted_end(src, i);
                continue;
            }
            b';' | b'{' | b'}' => return i,
            _ => {}
        }
        i += 1;
    }
    src.len()
}

/// End of a preprocessor directive starting at `at`: the newline that is not
/// escaped by a backslash (exclusive), or the end of input.
fn directive_end(src: &[u8], at: usize) -> usize {
    let mut i = at;
    while let Some(p) = memchr::memchr(b'\n', &src[i..]) {
        let nl = i + p;
        let escaped = src[..nl].ends_with(b"\\") || src[..nl].ends_with(b"\\\r");
        if !escaped {
            return nl;
        }
        i = nl + 1;
    }
    src.len()
}

/// The directive's name after `#` (blanks skipped) and where it ends.
fn directive_name(src: &[u8], from: usize, end: usize) -> (&[u8], usize) {
    let start = skip_blanks(src, from, end);
    let len = src[start..end]
        .iter()
        .position(|b| !b.is_ascii_alphanumeric() && *b != b'_')
        .unwrap_or(end - start);
    (&src[start..start + len], start + len)
}

/// The identifier a `#define` names, when there is one.
fn macro_name(src: &[u8], from: usize, end: usize) -> Option<Range<usize>> {
    let start = skip_blanks(src, from, end);
    if start == from || start >= end || !(src[start].is_ascii_alphabetic() || src[start] == b'_') {
        return None;
    }
    let len = src[start..end]
        .iter()
        .position(|b| !b.is_ascii_alphanumeric() && *b != b'_')
        .unwrap_or(end - start);
    Some(start..start + len)
}

fn skip_blanks(src: &[u8], from: usize, end: usize) -> usize {
    from + src[from..end]
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(end - from)
}

fn line_end(src: &[u8], at: usize) -> usize {
    memchr::memchr(b'\n', &src[at..]).map_or(src.len(), |p| at + p)
}

/// End (exclusive) of a string or character literal opened at `at`; an
/// unterminated one ends at the line's end.
fn quoted_end(src: &[u8], at: usize) -> usize {
    let quote = src[at];
    let mut i = at + 1;
    while i < src.len() {
        match src[i] {
            b'\\' => i += 2,
            b'\n' => return i,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    src.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skimmed(src: &str) -> (String, Skimmed) {
        let s = skim_c(src.as_bytes()).expect("balanced");
        (String::from_utf8(s.text.clone()).unwrap(), s)
    }

    #[test]
    fn bodies_comments_and_defines_go_and_offsets_map_back() {
        let src = "/* hi */\nint f(void)\n{\n\treturn g(1);\n}\n#define MAX(a, b) \\\n\t((a) > (b))\nstruct s { int a; };\n";
        let (text, s) = skimmed(src);
        assert_eq!(text, "/**/\nint f(void)\n{}\n\nstruct s { int a; };\n");
        let at = text.find("struct").unwrap();
        assert_eq!(s.start(at), src.find("struct").unwrap());
        let close = text.find('}').unwrap();
        assert_eq!(s.start(close), src.find("}\n#define").unwrap());
        // The end of `{` is the body's start, not the end of the removed run.
        assert_eq!(s.end(close), src.find("\n\treturn").unwrap());
        assert_eq!(s.macros.len(), 1);
        assert_eq!(&src[s.macros[0].name.clone()], "MAX");
        assert_eq!(
            &src[s.macros[0].def.clone()],
            "#define MAX(a, b) \\\n\t((a) > (b))\n"
        );
    }

    #[test]
    fn initializers_go_structs_enums_and_strings_stay() {
        let src = "static struct ops o = { .f = f };\nenum e { A, B };\nchar *s = \"){\";\nint f(int x) { return x; }\nstruct t { int a; } v;\n";
        let (text, _) = skimmed(src);
        assert_eq!(
            text,
            "static struct ops o = {};\nenum e { A, B };\nchar *s = \"){\";\nint f(int x) {}\nstruct t { int a; } v;\n"
        );
    }

    #[test]
    fn defines_in_bodies_are_read_and_conditionals_count_one_branch() {
        let src = "int f(void)\n{\n#  define LOCAL(x) (x + 1)\n#ifdef A\n\tif (a) {\n#else\n\tif (b) {\n#endif\n\t\tg();\n\t}\n}\nint h;\n";
        let (text, s) = skimmed(src);
        assert_eq!(text, "int f(void)\n{}\nint h;\n");
        assert_eq!(s.macros.len(), 1);
        assert_eq!(&src[s.macros[0].name.clone()], "LOCAL");
    }

    #[test]
    fn attribute_macros_go() {
        let src = "static __printf(2, 3) int log_it(const char *f, ...)\n{\n}\nstruct __packed msg { u8 a; } __aligned(4);\nstatic int __initdata level = 1;\nvoid g(void) __acquires(lock) { }\n";
        let (text, _) = skimmed(src);
        assert_eq!(
            text,
            "static  int log_it(const char *f, ...)\n{}\nstruct  msg { u8 a; } ;\nstatic int  level = 1;\nvoid g(void)  {}\n"
        );
    }

    #[test]
    fn comments_hide_braces_and_unbalanced_input_is_refused() {
        let (text, _) = skimmed("int f(void) { /* } */ // }\n return 0; }\n");
        assert_eq!(text, "int f(void) {}\n");
        let (text, _) = skimmed("int x; // a } brace\n");
        assert_eq!(text, "int x; //\n");
        assert!(skim_c(b"int f(void) { {\n").is_none());
        assert!(skim_c(b"}\n").is_none());
    }
}
