//! Rust skimmed before parsing: the insides of function bodies and the text
//! of comments are taken out of what tree-sitter sees, as for C
//! ([`super::skim`]). Bodies hold most of a Rust file's bytes and none of the
//! definitions lens indexes, except items nested in them; a body that holds an
//! item keyword (`struct`, `fn`, `impl`, `const`, …) anywhere is kept whole, so
//! nested items are found as before.

use std::ops::Range;

use super::skim::Skimmed;

/// Keywords that start an item, which a body must not lose.
const ITEM_KEYWORDS: &[&[u8]] = &[
    b"fn",
    b"struct",
    b"enum",
    b"union",
    b"trait",
    b"impl",
    b"mod",
    b"macro_rules",
    b"macro",
    b"static",
    b"const",
    b"type",
];

/// `src` without the insides of item-free function bodies and without comment
/// text (delimiters stay). `None` when braces do not balance or a literal or
/// comment does not end; the caller then parses `src` as it is.
pub fn skim_rust(src: &[u8]) -> Option<Skimmed> {
    let mut removed: Vec<Range<usize>> = Vec::new();
    // Open braces; for a function body, where its inside starts and whether
    // it holds an item keyword.
    let mut braces: Vec<Option<(usize, bool)>> = Vec::new();
    // Parentheses and brackets open, for telling a body's `{` from one in a signature.
    let mut parens = 0usize;
    // After `fn NAME`: the paren depth at which its body or `;` comes.
    let mut signature: Option<usize> = None;
    // Just after the `fn` keyword, waiting for the name.
    let mut after_fn = false;
    let n = src.len();
    let mut i = 0;
    while i < n {
        let c = src[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'/' if src.get(i + 1) == Some(&b'/') => {
                let end = memchr::memchr(b'\n', &src[i..]).map_or(n, |k| i + k);
                removed.push(i + 2..end);
                i = end;
                continue;
            }
            b'/' if src.get(i + 1) == Some(&b'*') => {
                let end = block_comment_end(src, i)?;
                removed.push(i + 2..end - 2);
                i = end;
                continue;
            }
            _ => {}
        }
        // Any token but the name ends the wait after `fn` (`fn(u8) -> u8` is a type).
        let was_after_fn = std::mem::take(&mut after_fn);
        if c == b'_' || c.is_ascii_alphabetic() || c >= 0x80 {
            if let Some(end) = literal_with_prefix(src, i)? {
                i = end;
                continue;
            }
            let start = i;
            let raw = c == b'r' && src.get(i + 1) == Some(&b'#');
            if raw {
                i += 2;
            }
            while i < n && is_ident_byte(src[i]) {
                i += 1;
            }
            let word = &src[start..i];
            if raw {
                if was_after_fn {
                    signature = Some(parens);
                }
                continue;
            }
            if was_after_fn {
                signature = Some(parens);
            } else if word == b"fn" {
                after_fn = true;
            }
            if ITEM_KEYWORDS.contains(&word) {
                for b in braces.iter_mut().flatten() {
                    b.1 = true;
                }
            }
            continue;
        }
        match c {
            b'0'..=b'9' => {
                while i < n && is_ident_byte(src[i]) {
                    i += 1;
                }
                continue;
            }
            b'"' => i = string_end(src, i + 1)?,
            b'\'' => i = quote_end(src, i)?,
            b'(' | b'[' => {
                parens += 1;
                i += 1;
            }
            b')' | b']' => {
                parens = parens.checked_sub(1)?;
                i += 1;
            }
            b';' => {
                if signature == Some(parens) {
                    signature = None;
                }
                i += 1;
            }
            b'{' => {
                let body = signature == Some(parens);
                if body {
                    signature = None;
                }
                braces.push(body.then_some((i + 1, false)));
                i += 1;
            }
            b'}' => {
                if let Some((start, false)) = braces.pop()? {
                    // Comments and bodies inside go with it.
                    while removed.last().is_some_and(|r| r.start >= start) {
                        removed.pop();
                    }
                    removed.push(start..i);
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    if !braces.is_empty() {
        return None;
    }
    removed.retain(|r| !r.is_empty());
    Some(Skimmed::without(src, &removed, Vec::new()))
}

fn is_ident_byte(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphanumeric() || b >= 0x80
}

/// The end of a string, byte string, C string or raw string literal, or of a
/// byte literal, starting at the prefix letter at `i`; `Some(None)` when `i`
/// starts no such literal, `None` when it does not end.
fn literal_with_prefix(src: &[u8], i: usize) -> Option<Option<usize>> {
    // (where the quote or the raw string's hashes start, raw or not)
    let (at, raw) = match (src[i], src.get(i + 1), src.get(i + 2)) {
        (b'b' | b'c', Some(b'r'), Some(b'"' | b'#')) => (i + 2, true),
        (b'r', Some(b'"' | b'#'), _) => (i + 1, true),
        (b'b' | b'c', Some(b'"'), _) => (i + 1, false),
        (b'b', Some(b'\''), _) => return quote_end(src, i + 1).map(Some),
        _ => return Some(None),
    };
    if !raw {
        return string_end(src, at + 1).map(Some);
    }
    // Raw: r#…#"…"#…#; `r#name` is a raw identifier, not a literal.
    let hashes = src[at..].iter().take_while(|&&b| b == b'#').count();
    if src.get(at + hashes) != Some(&b'"') {
        return Some(None);
    }
    let mut k = at + hashes + 1;
    loop {
        let q = k + memchr::memchr(b'"', src.get(k..)?)?;
        let closes = src
            .get(q + 1..q + 1 + hashes)
            .is_some_and(|h| h.iter().all(|&b| b == b'#'));
        if closes {
            return Some(Some(q + 1 + hashes));
        }
        k = q + 1;
    }
}

/// The end (past the closing quote) of a string whose inside starts at `i`.
fn string_end(src: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let k = i + memchr::memchr2(b'"', b'\\', src.get(i..)?)?;
        if src[k] == b'\\' {
            i = k + 2;
        } else {
            return Some(k + 1);
        }
    }
}

/// Past a char literal (`'a'`, `'\n'`, `'é'`) or a lifetime or label (`'a`,
/// `'static`) starting at the quote at `i`.
fn quote_end(src: &[u8], i: usize) -> Option<usize> {
    let next = *src.get(i + 1)?;
    if next == b'\\' {
        // An escape: the literal ends at the next quote past the escaped byte.
        let k = i + 3 + memchr::memchr(b'\'', src.get(i + 3..)?)?;
        return Some(k + 1);
    }
    let char_len = match next {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    };
    if src.get(i + 1 + char_len) == Some(&b'\'') {
        return Some(i + 2 + char_len);
    }
    // A lifetime or label: the quote and its name.
    let mut k = i + 1;
    while k < src.len() && is_ident_byte(src[k]) {
        k += 1;
    }
    Some(k.max(i + 1))
}

/// Past the `*/` that closes the (nestable) block comment opening at `i`.
fn block_comment_end(src: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut k = i;
    while k + 1 < src.len() {
        match (src[k], src[k + 1]) {
            (b'/', b'*') => {
                depth += 1;
                k += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                k += 2;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => k += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skimmed(src: &str) -> String {
        String::from_utf8(skim_rust(src.as_bytes()).expect("balanced").text).unwrap()
    }

    #[test]
    fn bodies_and_comment_text_go_signatures_stay() {
        assert_eq!(
            skimmed("/// Doc.\nfn f(x: u8) -> u8 { let y = x; y } // tail\n"),
            "//\nfn f(x: u8) -> u8 {} //\n"
        );
        // A trait method without a body, a function pointer type, a body in an impl.
        assert_eq!(
            skimmed(
                "trait T { fn a(&self); }\nstruct S { f: fn(u8) -> u8 }\nimpl S { fn b(&self) -> [u8; 2] { [0; 2] } }"
            ),
            "trait T { fn a(&self); }\nstruct S { f: fn(u8) -> u8 }\nimpl S { fn b(&self) -> [u8; 2] {} }"
        );
    }

    #[test]
    fn bodies_with_items_stay_and_their_nested_functions_are_skimmed() {
        let src = "fn outer() { struct Inner; fn helper() { work() } helper() }";
        assert_eq!(
            skimmed(src),
            "fn outer() { struct Inner; fn helper() {} helper() }"
        );
    }

    #[test]
    fn literals_lifetimes_and_raw_strings_do_not_confuse_the_braces() {
        let src = r####"fn f<'a>(s: &'a str) -> &'static str { let c = '{'; let d = '\''; let r = r#"}" fn x() {"#; let b = b"}"; let e = 'é'; s }
fn g() {}
"####;
        assert_eq!(
            skimmed(src),
            "fn f<'a>(s: &'a str) -> &'static str {}\nfn g() {}\n"
        );
        // `'static` is a lifetime, not the item keyword.
        assert_eq!(
            skimmed("fn h() -> Box<dyn Fn() + 'static> { Box::new(|| ()) }"),
            "fn h() -> Box<dyn Fn() + 'static> {}"
        );
        // Nested block comments.
        assert_eq!(skimmed("/* a /* b */ } */ fn k() { 1 }"), "/**/ fn k() {}");
        // Raw identifiers are names, not keywords.
        assert_eq!(skimmed("fn r#type() { r#fn() }"), "fn r#type() {}");
    }

    #[test]
    fn unbalanced_or_unterminated_input_is_not_skimmed() {
        assert!(skim_rust(b"fn f() { ").is_none());
        assert!(skim_rust(b"fn f() { } }").is_none());
        assert!(skim_rust(b"fn f() { \"open }").is_none());
        assert!(skim_rust(b"/* open").is_none());
    }
}
