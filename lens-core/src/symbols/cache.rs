//! An LRU cache of decoded per-file symbol and scope data, used when Stage-A
//! hits learn their enclosing definition and whether they are one.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::kind::SymbolKind;
use super::table::SymbolTable;

/// One definition of a file, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct FileDef {
    pub name: Arc<str>,
    pub kind: SymbolKind,
    pub scope: Option<Arc<str>>,
    pub name_start: u32,
    pub name_end: u32,
    pub def_start: u32,
    pub def_end: u32,
    pub line: u32,
    /// Index of the enclosing definition in [`FileSymbols::defs`].
    pub parent: Option<u32>,
}

/// The definitions of one file, by definition start (parents first).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileSymbols {
    pub defs: Vec<FileDef>,
}

impl FileSymbols {
    pub fn decode<B: std::ops::Deref<Target = [u8]>>(
        table: &SymbolTable<B>,
        doc: u32,
        content: &[u8],
    ) -> FileSymbols {
        let range = table.doc_range(doc);
        let base = range.start;
        let defs = range
            .map(|id| {
                let r = table.record(id);
                let name = content
                    .get(r.name_start as usize..r.name_end as usize)
                    .map(String::from_utf8_lossy)
                    .unwrap_or_default();
                FileDef {
                    name: Arc::from(name.as_ref()),
                    kind: r.kind,
                    scope: table.scope(&r).map(Arc::from),
                    name_start: r.name_start,
                    name_end: r.name_end,
                    def_start: r.def_start,
                    def_end: r.def_end,
                    line: r.line,
                    // Parents precede children; anything else is dropped.
                    parent: r
                        .parent
                        .filter(|&p| p < id)
                        .and_then(|p| p.checked_sub(base)),
                }
            })
            .collect();
        FileSymbols { defs }
    }

    /// The innermost definition containing `[start, end)`.
    pub fn enclosing(&self, start: u32, end: u32) -> Option<&FileDef> {
        let i = self.defs.partition_point(|d| d.def_start <= start);
        let mut cand = i.checked_sub(1);
        let mut steps = 0;
        while let Some(k) = cand {
            let d = &self.defs[k];
            if d.def_start <= start && d.def_end >= end {
                return Some(d);
            }
            steps += 1;
            cand = match d.parent {
                Some(p) if (p as usize) < k => Some(p as usize),
                _ if steps < 64 => k.checked_sub(1),
                _ => None,
            };
        }
        None
    }

    /// The definition whose name is exactly `[start, end)`.
    pub fn definition_named_at(&self, start: u32, end: u32) -> Option<&FileDef> {
        let mut cur = self.enclosing(start, end);
        while let Some(d) = cur {
            if d.name_start == start && d.name_end == end {
                return Some(d);
            }
            cur = d.parent.and_then(|p| self.defs.get(p as usize));
        }
        None
    }
}

/// LRU of [`FileSymbols`] by doc id, with hit and miss counters.
pub struct SymbolCache {
    inner: Mutex<lru::LruCache<u32, Arc<FileSymbols>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for SymbolCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SymbolCache")
            .field("hits", &self.hits())
            .field("misses", &self.misses())
            .finish()
    }
}

impl SymbolCache {
    pub fn new(capacity: usize) -> SymbolCache {
        SymbolCache {
            inner: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(capacity.max(1)).unwrap(),
            )),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The file's symbols, decoded on a miss.
    pub fn get_or_decode(
        &self,
        doc: u32,
        decode: impl FnOnce() -> FileSymbols,
    ) -> Arc<FileSymbols> {
        if let Some(v) = self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&doc)
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return v.clone();
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        // Decode outside the lock; a racing decode of the same doc is harmless.
        let v = Arc::new(decode());
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(doc, v.clone());
        v
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Hits over lookups; 0 before any lookup.
    pub fn hit_rate(&self) -> f64 {
        let (h, m) = (self.hits() as f64, self.misses() as f64);
        if h + m == 0.0 { 0.0 } else { h / (h + m) }
    }
}
