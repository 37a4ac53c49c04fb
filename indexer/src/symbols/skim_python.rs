//! Python skimmed before parsing: the middle statements of function bodies
//! are taken out of what tree-sitter sees. A body keeps its first and last
//! top-level statements (each with its nested lines), so it stays valid
//! Python and the function still ends where it ends in the file; a body that
//! holds `def` or `class` anywhere is kept whole, so nested definitions are
//! found as before (their own bodies are skimmed).

use std::ops::Range;

use super::skim::Skimmed;

/// One logical line: a statement's lines, joined by brackets, strings or `\`.
struct LogicalLine {
    /// Offset of the first physical line's start.
    line_start: usize,
    /// Columns of indentation of the first physical line.
    indent: usize,
    /// Starts with `def` or `async def`.
    is_def: bool,
    /// Holds the `def` or `class` keyword.
    defines: bool,
    /// Ends with `:` and nothing after it (a block follows on the next lines).
    opens_block: bool,
    /// Starts with `else`, `elif`, `except` or `finally`: a clause of the
    /// statement before, not a statement of its own.
    continues: bool,
}

/// `src` without the middle top-level statements of item-free function
/// bodies. `None` when a string or bracket does not close; the caller then
/// parses `src` as it is.
pub fn skim_python(src: &[u8]) -> Option<Skimmed> {
    let lines = logical_lines(src)?;
    let mut removed: Vec<Range<usize>> = Vec::new();
    for (i, def) in lines.iter().enumerate() {
        if !def.is_def || !def.opens_block {
            continue;
        }
        let body_end = lines[i + 1..]
            .iter()
            .position(|l| l.indent <= def.indent)
            .map_or(lines.len(), |k| i + 1 + k);
        let body = &lines[i + 1..body_end];
        let Some(first) = body.first() else {
            continue;
        };
        if body.iter().any(|l| l.defines) {
            continue;
        }
        let top: Vec<&LogicalLine> = body
            .iter()
            .filter(|l| l.indent == first.indent && !l.continues)
            .collect();
        if top.len() >= 3 {
            removed.push(top[1].line_start..top[top.len() - 1].line_start);
        }
    }
    // Bodies with nested definitions are kept, so ranges never nest; sorted by start.
    removed.sort_by_key(|r| r.start);
    Some(Skimmed::without(src, &removed, Vec::new()))
}

/// The logical lines of `src` that hold code (not blank, not only a comment).
fn logical_lines(src: &[u8]) -> Option<Vec<LogicalLine>> {
    let n = src.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        // Start of a physical line outside any statement: measure the indent.
        let line_start = i;
        let mut indent = 0;
        while i < n && matches!(src[i], b' ' | b'\t' | b'\x0c') {
            indent += if src[i] == b'\t' { 8 - indent % 8 } else { 1 };
            i += 1;
        }
        if i >= n {
            break;
        }
        match src[i] {
            b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' => {
                i = memchr::memchr(b'\n', &src[i..]).map_or(n, |k| i + k + 1);
                continue;
            }
            _ => {}
        }
        let mut line = LogicalLine {
            line_start,
            indent,
            is_def: false,
            defines: false,
            opens_block: false,
            continues: false,
        };
        let mut depth = 0usize;
        let mut first_word = true;
        let mut after_async = false;
        // The last significant byte of the statement, for `opens_block`.
        let mut last = b'\n';
        loop {
            if i >= n {
                if depth > 0 {
                    return None;
                }
                break;
            }
            let c = src[i];
            match c {
                b'\n' if depth == 0 => {
                    i += 1;
                    break;
                }
                b'\\' if src.get(i + 1) == Some(&b'\n') => {
                    i += 2;
                    continue;
                }
                b'\\' if src.get(i + 1) == Some(&b'\r') => {
                    i += 2 + usize::from(src.get(i + 2) == Some(&b'\n'));
                    continue;
                }
                b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' => {
                    i += 1;
                    continue;
                }
                b'#' => {
                    i = memchr::memchr(b'\n', &src[i..]).map_or(n, |k| i + k);
                    continue;
                }
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' | b'}' => depth = depth.saturating_sub(1),
                b'"' | b'\'' => {
                    i = string_end(src, i)?;
                    last = c;
                    first_word = false;
                    continue;
                }
                _ => {}
            }
            if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 {
                let start = i;
                while i < n && (src[i] == b'_' || src[i].is_ascii_alphanumeric() || src[i] >= 0x80)
                {
                    i += 1;
                }
                let word = &src[start..i];
                // A string prefix (r, b, f, u and their pairs) runs into its quote.
                if i < n && matches!(src[i], b'"' | b'\'') && is_string_prefix(word) {
                    i = string_end(src, i)?;
                    last = b'"';
                    first_word = false;
                    continue;
                }
                if word == b"def" || word == b"class" {
                    line.defines = true;
                }
                if first_word {
                    line.continues = matches!(word, b"else" | b"elif" | b"except" | b"finally");
                }
                if first_word || after_async {
                    line.is_def |= word == b"def";
                    after_async = first_word && word == b"async";
                }
                first_word = false;
                last = word[word.len() - 1];
                continue;
            }
            first_word = false;
            after_async = false;
            last = c;
            i += 1;
        }
        line.opens_block = last == b':';
        out.push(line);
    }
    Some(out)
}

fn is_string_prefix(word: &[u8]) -> bool {
    word.len() <= 2
        && word
            .iter()
            .all(|b| matches!(b.to_ascii_lowercase(), b'r' | b'b' | b'u' | b'f'))
}

/// Past the string literal whose opening quote is at `i`. A backslash keeps
/// the byte after it inside the string, raw strings included.
fn string_end(src: &[u8], i: usize) -> Option<usize> {
    let q = src[i];
    let triple = src.get(i + 1) == Some(&q) && src.get(i + 2) == Some(&q);
    let mut k = if triple { i + 3 } else { i + 1 };
    loop {
        let c = *src.get(k)?;
        if c == b'\\' {
            k += 2;
            continue;
        }
        if c == q {
            if !triple {
                return Some(k + 1);
            }
            if src.get(k + 1) == Some(&q) && src.get(k + 2) == Some(&q) {
                return Some(k + 3);
            }
        } else if c == b'\n' && !triple {
            // An unterminated one-line string: the statement is broken anyway.
            return None;
        }
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skimmed(src: &str) -> String {
        String::from_utf8(skim_python(src.as_bytes()).expect("skims").text).unwrap()
    }

    #[test]
    fn middle_statements_go_first_and_last_stay() {
        let src = "def f(x):\n    \"\"\"Doc.\n    def not_a_def():\n    \"\"\"\n    a = 1\n    if a:\n        b = (1,\n             2)\n    return x\n\nclass C:\n    y = 2\n";
        assert_eq!(
            skimmed(src),
            "def f(x):\n    \"\"\"Doc.\n    def not_a_def():\n    \"\"\"\n    return x\n\nclass C:\n    y = 2\n"
        );
    }

    #[test]
    fn bodies_with_nested_definitions_stay_and_their_functions_are_skimmed() {
        let src = "def outer():\n    a = 1\n    def inner():\n        b = 1\n        c = 2\n        d = 3\n    return inner\n";
        assert_eq!(
            skimmed(src),
            "def outer():\n    a = 1\n    def inner():\n        b = 1\n        d = 3\n    return inner\n"
        );
    }

    #[test]
    fn methods_async_and_one_liners() {
        let src = "class K:\n    async def m(self):\n        x = 1\n        y = 2\n        await z\n    def short(self): return 1\n";
        assert_eq!(
            skimmed(src),
            "class K:\n    async def m(self):\n        x = 1\n        await z\n    def short(self): return 1\n"
        );
    }

    #[test]
    fn clauses_stay_with_their_statement() {
        let src = "def f(n):\n    a = 1\n    if n:\n        b = 2\n    else:\n        b = 3\n    try:\n        g()\n    except E:\n        pass\n";
        assert_eq!(
            skimmed(src),
            "def f(n):\n    a = 1\n    try:\n        g()\n    except E:\n        pass\n"
        );
    }

    #[test]
    fn unterminated_input_is_not_skimmed() {
        assert!(skim_python(b"def f():\n    x = (1,\n").is_none());
        assert!(skim_python(b"def f():\n    x = '''open\n").is_none());
    }
}
