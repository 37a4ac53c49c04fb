//! Precise code intelligence imported from SCIP indexes and LSIF dumps:
//! occurrences (byte spans in bundle files) of symbols, with definition and
//! reference roles, and hover text per symbol.
//!
//! | file | content |
//! |---|---|
//! | `precise.occ` | 20-byte occurrences (doc, start, end, symbol, flags) by (doc, start) |
//! | `precise.docs` | u32 per doc + 1: first occurrence of each doc |
//! | `precise.sym` | 16-byte symbols (key offset, key length, hover offset, hover length) |
//! | `precise.symidx` | u32 per symbol + 1: first entry of each symbol in `precise.symocc` |
//! | `precise.symocc` | u32 occurrence ids by (symbol, definitions first, doc, start) |
//! | `precise.str` | keys and hover text, UTF-8 |

use std::collections::HashMap;
use std::path::Path;

use crate::error::{Error, Result};

pub const OCC_FILE: &str = "precise.occ";
pub const DOCS_FILE: &str = "precise.docs";
pub const SYM_FILE: &str = "precise.sym";
pub const SYMIDX_FILE: &str = "precise.symidx";
pub const SYMOCC_FILE: &str = "precise.symocc";
pub const STR_FILE: &str = "precise.str";
/// The table's files, in the order [`PreciseTable::new`] takes them.
pub const FILES: [&str; 6] = [
    OCC_FILE,
    DOCS_FILE,
    SYM_FILE,
    SYMIDX_FILE,
    SYMOCC_FILE,
    STR_FILE,
];

/// The occurrence defines its symbol.
pub const DEFINITION: u32 = 1;
/// The occurrence is listed as a reference by the indexer.
pub const REFERENCE: u32 = 2;
/// The indexer resolves this span to the symbol (rather than merely listing
/// the span among another symbol's definitions or references).
pub const RESOLVES: u32 = 4;

const OCC_BYTES: usize = 20;
const SYM_BYTES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Occurrence {
    pub doc: u32,
    /// Byte span within the file.
    pub start: u32,
    pub end: u32,
    pub symbol: u32,
    pub flags: u32,
}

impl Occurrence {
    pub fn is_definition(&self) -> bool {
        self.flags & DEFINITION != 0
    }
    pub fn is_reference(&self) -> bool {
        self.flags & REFERENCE != 0
    }
}

/// Collects imported occurrences while a bundle is built.
#[derive(Default)]
pub struct PreciseWriter {
    occs: Vec<Occurrence>,
    keys: Vec<String>,
    hovers: Vec<Option<String>>,
    by_key: HashMap<String, u32>,
}

impl PreciseWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of a symbol key (interned); the first non-empty hover sticks.
    pub fn symbol(&mut self, key: &str, hover: Option<String>) -> u32 {
        let id = match self.by_key.get(key) {
            Some(&id) => id,
            None => {
                let id = self.keys.len() as u32;
                self.keys.push(key.to_string());
                self.hovers.push(None);
                self.by_key.insert(key.to_string(), id);
                id
            }
        };
        let slot = &mut self.hovers[id as usize];
        if slot.is_none() {
            *slot = hover.filter(|h| !h.trim().is_empty());
        }
        id
    }

    pub fn add(&mut self, occ: Occurrence) {
        self.occs.push(occ);
    }

    pub fn is_empty(&self) -> bool {
        self.occs.is_empty()
    }

    /// Occurrences after merging duplicates.
    pub fn len(&self) -> usize {
        self.occs.len()
    }

    /// Writes the table's files into `dir`; `docs` is the bundle's doc count.
    pub fn finish(
        mut self,
        docs: usize,
        write: &dyn Fn(&Path, &[u8]) -> Result<()>,
        dir: &Path,
    ) -> Result<usize> {
        // One record per (doc, span, symbol), roles merged.
        self.occs
            .sort_unstable_by_key(|o| (o.doc, o.start, o.end, o.symbol));
        let mut merged: Vec<Occurrence> = Vec::with_capacity(self.occs.len());
        for o in self.occs {
            match merged.last_mut() {
                Some(m)
                    if (m.doc, m.start, m.end, m.symbol) == (o.doc, o.start, o.end, o.symbol) =>
                {
                    m.flags |= o.flags
                }
                _ => merged.push(o),
            }
        }
        let mut occ_bytes = Vec::with_capacity(merged.len() * OCC_BYTES);
        let mut doc_starts = Vec::with_capacity((docs + 1) * 4);
        let mut next_doc = 0u32;
        for (i, o) in merged.iter().enumerate() {
            while next_doc <= o.doc {
                doc_starts.extend_from_slice(&(i as u32).to_le_bytes());
                next_doc += 1;
            }
            for v in [o.doc, o.start, o.end, o.symbol, o.flags] {
                occ_bytes.extend_from_slice(&v.to_le_bytes());
            }
        }
        while next_doc as usize <= docs {
            doc_starts.extend_from_slice(&(merged.len() as u32).to_le_bytes());
            next_doc += 1;
        }
        let mut order: Vec<u32> = (0..merged.len() as u32).collect();
        order.sort_unstable_by_key(|&i| {
            let o = &merged[i as usize];
            (o.symbol, !o.is_definition(), o.doc, o.start)
        });
        let mut symidx = Vec::with_capacity((self.keys.len() + 1) * 4);
        let mut k = 0usize;
        for s in 0..=self.keys.len() as u32 {
            while k < order.len() && merged[order[k] as usize].symbol < s {
                k += 1;
            }
            symidx.extend_from_slice(&(k as u32).to_le_bytes());
        }
        let symocc: Vec<u8> = order.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut strings = Vec::new();
        let mut syms = Vec::with_capacity(self.keys.len() * SYM_BYTES);
        for (key, hover) in self.keys.iter().zip(&self.hovers) {
            let ko = strings.len() as u32;
            strings.extend_from_slice(key.as_bytes());
            let ho = strings.len() as u32;
            let h = hover.as_deref().unwrap_or("");
            strings.extend_from_slice(h.as_bytes());
            for v in [ko, key.len() as u32, ho, h.len() as u32] {
                syms.extend_from_slice(&v.to_le_bytes());
            }
        }
        write(&dir.join(OCC_FILE), &occ_bytes)?;
        write(&dir.join(DOCS_FILE), &doc_starts)?;
        write(&dir.join(SYM_FILE), &syms)?;
        write(&dir.join(SYMIDX_FILE), &symidx)?;
        write(&dir.join(SYMOCC_FILE), &symocc)?;
        write(&dir.join(STR_FILE), &strings)?;
        Ok(merged.len())
    }
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap())
}

/// Read view over the precise tables, validated at open.
pub struct PreciseTable<B> {
    occ: B,
    doc_starts: B,
    syms: B,
    symidx: B,
    symocc: B,
    strings: B,
}

impl<B: std::ops::Deref<Target = [u8]>> PreciseTable<B> {
    /// `files` in the order of [`FILES`]; `dir` names files in errors.
    pub fn new(files: [B; 6], docs: usize, dir: &Path) -> Result<Self> {
        let [occ, doc_starts, syms, symidx, symocc, strings] = files;
        let bad = |f: &str, why: &str| Err(Error::corrupt(dir.join(f), why.to_string()));
        if !occ.len().is_multiple_of(OCC_BYTES) || !syms.len().is_multiple_of(SYM_BYTES) {
            return bad(OCC_FILE, "size is not a whole number of records");
        }
        let n_occ = occ.len() / OCC_BYTES;
        let n_sym = syms.len() / SYM_BYTES;
        if doc_starts.len() != (docs + 1) * 4
            || symidx.len() != (n_sym + 1) * 4
            || symocc.len() != n_occ * 4
        {
            return bad(DOCS_FILE, "index sizes disagree with the records");
        }
        let t = PreciseTable {
            occ,
            doc_starts,
            syms,
            symidx,
            symocc,
            strings,
        };
        for i in 0..n_occ {
            let o = t.occurrence(i as u32);
            if o.doc as usize >= docs || o.symbol as usize >= n_sym || o.start > o.end {
                return bad(OCC_FILE, "occurrence out of range");
            }
        }
        for s in 0..n_sym {
            let b = &t.syms[s * SYM_BYTES..];
            let (ko, kl, ho, hl) = (u32_at(b, 0), u32_at(b, 4), u32_at(b, 8), u32_at(b, 12));
            if ko as usize + kl as usize > t.strings.len()
                || ho as usize + hl as usize > t.strings.len()
            {
                return bad(SYM_FILE, "string out of range");
            }
        }
        let mut prev = 0;
        for i in 0..=docs {
            let v = u32_at(&t.doc_starts, i * 4);
            if v < prev || v as usize > n_occ {
                return bad(DOCS_FILE, "offsets out of order");
            }
            prev = v;
        }
        Ok(t)
    }

    pub fn occurrence(&self, id: u32) -> Occurrence {
        let b = &self.occ[id as usize * OCC_BYTES..];
        Occurrence {
            doc: u32_at(b, 0),
            start: u32_at(b, 4),
            end: u32_at(b, 8),
            symbol: u32_at(b, 12),
            flags: u32_at(b, 16),
        }
    }

    fn doc_range(&self, doc: u32) -> std::ops::Range<u32> {
        let i = doc as usize * 4;
        if i + 8 > self.doc_starts.len() {
            return 0..0;
        }
        u32_at(&self.doc_starts, i)..u32_at(&self.doc_starts, i + 4)
    }

    /// Whether the doc has any imported occurrence.
    pub fn covers(&self, doc: u32) -> bool {
        !self.doc_range(doc).is_empty()
    }

    /// The occurrence containing byte `at` (end inclusive, so a cursor just
    /// after a name still finds it): spans the indexer resolves first, then
    /// the narrowest, then definitions.
    pub fn occurrence_at(&self, doc: u32, at: u32) -> Option<Occurrence> {
        let r = self.doc_range(doc);
        let (mut lo, mut hi) = (r.start, r.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.occurrence(mid).start <= at {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        // Occurrences are short; stop looking back once they start far away.
        (r.start..lo)
            .rev()
            .map(|i| self.occurrence(i))
            .take_while(|o| o.start as u64 + 65_536 >= at as u64)
            .filter(|o| o.start <= at && at <= o.end)
            .min_by_key(|o| (o.flags & RESOLVES == 0, o.end - o.start, !o.is_definition()))
    }

    /// Every occurrence of a symbol: definitions first, then by doc and position.
    pub fn occurrences_of(&self, symbol: u32) -> impl Iterator<Item = Occurrence> + '_ {
        let i = symbol as usize * 4;
        let (a, b) = if i + 8 <= self.symidx.len() {
            (u32_at(&self.symidx, i), u32_at(&self.symidx, i + 4))
        } else {
            (0, 0)
        };
        (a..b).map(move |k| self.occurrence(u32_at(&self.symocc, k as usize * 4)))
    }

    fn sym_str(&self, symbol: u32, field: usize) -> &str {
        let b = &self.syms[symbol as usize * SYM_BYTES..];
        let (o, l) = (
            u32_at(b, field * 8) as usize,
            u32_at(b, field * 8 + 4) as usize,
        );
        std::str::from_utf8(&self.strings[o..o + l]).unwrap_or("")
    }

    /// The indexer's symbol key.
    pub fn key(&self, symbol: u32) -> &str {
        self.sym_str(symbol, 0)
    }

    /// Hover text (markdown), if the indexer gave any.
    pub fn hover(&self, symbol: u32) -> Option<&str> {
        Some(self.sym_str(symbol, 1)).filter(|h| !h.is_empty())
    }
}

/// Byte offset of a (0-based line, UTF-16 or UTF-8 column) position in `content`,
/// given the line starts; `None` past the end of the line.
pub fn position_to_byte(
    content: &[u8],
    line_starts: &[u32],
    line: u32,
    column: u32,
    utf16: bool,
) -> Option<u32> {
    let start = *line_starts.get(line as usize)? as usize;
    let end = line_starts
        .get(line as usize + 1)
        .map_or(content.len(), |&e| e as usize);
    let text = &content[start..end];
    if !utf16 {
        return (column as usize <= text.len()).then_some(start as u32 + column);
    }
    let s = String::from_utf8_lossy(text);
    if matches!(s, std::borrow::Cow::Owned(_)) {
        // Invalid UTF-8: columns cannot be mapped faithfully; treat them as bytes.
        return (column as usize <= text.len()).then_some(start as u32 + column);
    }
    let mut units = 0u32;
    for (i, c) in s.char_indices() {
        if units >= column {
            return Some(start as u32 + i as u32);
        }
        units += c.len_utf16() as u32;
    }
    (units >= column).then_some(start as u32 + text.len() as u32)
}

/// Offsets where each line starts.
pub fn line_starts(content: &[u8]) -> Vec<u32> {
    std::iter::once(0)
        .chain(memchr::memchr_iter(b'\n', content).map(|i| i as u32 + 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_map_to_bytes() {
        let content = "ab\nxé😀y\n".as_bytes();
        let ls = line_starts(content);
        assert_eq!(position_to_byte(content, &ls, 0, 1, true), Some(1));
        // x(1) é(1) 😀(2 units) -> y at unit 4, byte 3+1+2+4 = 10
        assert_eq!(position_to_byte(content, &ls, 1, 4, true), Some(10));
        assert_eq!(&content[10..11], b"y");
        assert_eq!(position_to_byte(content, &ls, 1, 7, false), Some(10));
        assert_eq!(position_to_byte(content, &ls, 5, 0, true), None);
    }

    #[test]
    fn writes_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = PreciseWriter::new();
        let a = w.symbol("a", Some("hover a".into()));
        let b = w.symbol("b", None);
        w.add(Occurrence {
            doc: 1,
            start: 10,
            end: 13,
            symbol: a,
            flags: REFERENCE,
        });
        w.add(Occurrence {
            doc: 0,
            start: 4,
            end: 7,
            symbol: a,
            flags: DEFINITION,
        });
        w.add(Occurrence {
            doc: 1,
            start: 10,
            end: 13,
            symbol: a,
            flags: 0,
        });
        w.add(Occurrence {
            doc: 1,
            start: 20,
            end: 21,
            symbol: b,
            flags: DEFINITION,
        });
        let write = |p: &Path, bytes: &[u8]| std::fs::write(p, bytes).map_err(|e| Error::io(p, e));
        assert_eq!(w.finish(3, &write, dir.path()).unwrap(), 3);
        let r = |f: &str| std::fs::read(dir.path().join(f)).unwrap();
        let t = PreciseTable::new(FILES.map(r), 3, dir.path()).unwrap();
        let at = t.occurrence_at(1, 12).unwrap();
        assert_eq!((at.symbol, at.flags), (a, REFERENCE));
        assert!(t.occurrence_at(1, 15).is_none());
        let all: Vec<_> = t.occurrences_of(a).collect();
        assert_eq!(all.len(), 2);
        assert!(all[0].is_definition() && all[0].doc == 0);
        assert_eq!(t.hover(a), Some("hover a"));
        assert_eq!(t.hover(b), None);
        assert!(t.covers(0) && t.covers(1) && !t.covers(2));
    }
}
