//! What Stage-C embeds: one chunk per definition worth finding by meaning (functions,
//! methods, types) with the comments and attributes just above it, or the head of a file
//! that has none.

use crate::symbols::{SymbolDef, SymbolKind};

/// Longest chunk text handed to the model, in bytes; the tokenizer keeps the first 256
/// word pieces anyway, which ~1 KiB of code already fills.
pub const CHUNK_TEXT_BYTES: usize = 2048;
/// Most lines of leading comments and attributes taken into a chunk.
const LEADING_COMMENT_LINES: usize = 24;

/// A span of a file to embed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Byte span of the chunk in the file, leading comments included.
    pub start: u32,
    pub end: u32,
    /// Byte span of the definition's name, or of the chunk's first line for a file head.
    pub name_start: u32,
    pub name_end: u32,
    /// What the model reads.
    pub text: String,
}

/// Kinds embedded as chunks: the units people describe in words.
fn embeds(kind: SymbolKind) -> bool {
    matches!(
        kind,
        SymbolKind::Function
            | SymbolKind::Method
            | SymbolKind::Class
            | SymbolKind::Struct
            | SymbolKind::Union
            | SymbolKind::Enum
            | SymbolKind::Interface
            | SymbolKind::Trait
            | SymbolKind::Macro
    )
}

/// The chunks of one file: its definitions of embedded kinds, else its head.
pub fn chunks_of(content: &[u8], defs: &[SymbolDef]) -> Vec<Chunk> {
    let mut out: Vec<Chunk> = defs
        .iter()
        .filter(|d| embeds(d.kind) && d.def_end > d.def_start)
        .filter(|d| (d.def_end as usize) <= content.len())
        .map(|d| {
            let start = leading_comment_start(content, d.def_start as usize);
            let end = d.def_end as usize;
            Chunk {
                start: start as u32,
                end: end as u32,
                name_start: d.name_start,
                name_end: d.name_end,
                text: text_of(&content[start..end]),
            }
        })
        .collect();
    if out.is_empty() && content.iter().any(|b| !b.is_ascii_whitespace()) {
        let end = head_end(content);
        let first_line = memchr::memchr(b'\n', content).unwrap_or(content.len());
        out.push(Chunk {
            start: 0,
            end: end as u32,
            name_start: 0,
            name_end: first_line.min(end) as u32,
            text: text_of(&content[..end]),
        });
    }
    out
}

/// Lossy UTF-8 of at most [`CHUNK_TEXT_BYTES`].
fn text_of(bytes: &[u8]) -> String {
    let cut = &bytes[..bytes.len().min(CHUNK_TEXT_BYTES)];
    String::from_utf8_lossy(cut).into_owned()
}

/// End of a file's head: [`CHUNK_TEXT_BYTES`] rounded down to a line end when one exists.
fn head_end(content: &[u8]) -> usize {
    if content.len() <= CHUNK_TEXT_BYTES {
        return content.len();
    }
    match memchr::memrchr(b'\n', &content[..CHUNK_TEXT_BYTES]) {
        Some(nl) if nl > 0 => nl + 1,
        _ => CHUNK_TEXT_BYTES,
    }
}

/// Start of the run of comment and attribute lines directly above `def_start` (no blank
/// line between), or the start of `def_start`'s own line.
fn leading_comment_start(content: &[u8], def_start: usize) -> usize {
    let line_start = |at: usize| memchr::memrchr(b'\n', &content[..at]).map_or(0, |nl| nl + 1);
    let mut start = line_start(def_start);
    for _ in 0..LEADING_COMMENT_LINES {
        if start == 0 {
            break;
        }
        let prev = line_start(start - 1);
        let line = content[prev..start - 1].trim_ascii();
        if !is_comment_or_attribute(line) {
            break;
        }
        start = prev;
    }
    start
}

fn is_comment_or_attribute(line: &[u8]) -> bool {
    const MARKERS: [&[u8]; 9] = [
        b"//", b"/*", b"*", b"#", b"@", b"--", b";;", b"\"\"\"", b"'''",
    ];
    !line.is_empty() && MARKERS.iter().any(|m| line.starts_with(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: SymbolKind, content: &str, name: &str) -> SymbolDef {
        let name_start = content.find(name).unwrap() as u32;
        let def_start = content[..name_start as usize]
            .rfind('\n')
            .map_or(0, |i| i + 1) as u32;
        SymbolDef {
            kind,
            name_start,
            name_end: name_start + name.len() as u32,
            def_start,
            def_end: content.len() as u32,
            line: 1,
            parent: None,
            scope: None,
        }
    }

    #[test]
    fn definition_chunks_take_the_comments_above_them() {
        let src = "use x;\n\n/// Reads a file.\n#[inline]\nfn read_file() {}\n";
        let chunks = chunks_of(
            src.as_bytes(),
            &[def(SymbolKind::Function, src, "read_file")],
        );
        assert_eq!(chunks.len(), 1);
        assert_eq!(
            chunks[0].text,
            "/// Reads a file.\n#[inline]\nfn read_file() {}\n"
        );
        assert_eq!(
            &src[chunks[0].name_start as usize..chunks[0].name_end as usize],
            "read_file"
        );
    }

    #[test]
    fn blank_line_ends_the_comment_run() {
        let src = "// licence\n\nfn f() {}\n";
        let chunks = chunks_of(src.as_bytes(), &[def(SymbolKind::Function, src, "f()")]);
        assert_eq!(chunks[0].text, "fn f() {}\n");
    }

    #[test]
    fn files_without_definitions_give_their_head() {
        let long = "line of prose\n".repeat(400);
        let chunks = chunks_of(long.as_bytes(), &[]);
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].text.len() <= CHUNK_TEXT_BYTES);
        assert!(chunks[0].text.ends_with('\n'));
        assert_eq!(chunks[0].name_end, 13);
        assert!(chunks_of(b"  \n\t", &[]).is_empty());
    }

    #[test]
    fn fields_and_variables_are_not_chunks() {
        let src = "int counter;\n";
        let chunks = chunks_of(src.as_bytes(), &[def(SymbolKind::Variable, src, "counter")]);
        // No embedded kind: the file head stands in.
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].start, 0);
    }
}
