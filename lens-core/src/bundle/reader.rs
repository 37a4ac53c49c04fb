//! `BundleReader`: opens a bundle, verifies every checksum, and memory-maps it.

use std::fs::File;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::doc_table::{DocRecord, DocTableView};
use super::manifest::{FORMAT_VERSION, MIN_FORMAT_VERSION, Manifest};
use super::*;
use crate::error::{Error, Result};
use crate::ngram::postings::{DICT_ENTRY_BYTES, DictEntry, UNINDEXED, dict_lookup, dict_search};
use crate::ngram::skips::SkipCache;
use crate::precise::{self, PreciseTable};
use crate::semantic::store::{self, EmbeddingStore};
use crate::symbols::table as symtab;
use crate::symbols::{SymbolCache, SymbolTable};
use crate::text_index::TextIndex;

/// Files whose decoded symbols the LRU keeps.
pub const SYMBOL_CACHE_FILES: usize = 4096;

/// A read-only memory map; empty files map to an empty slice.
pub struct Mapped(Option<Mmap>);

impl Mapped {
    pub fn open(path: &Path) -> Result<Mapped> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len == 0 {
            return Ok(Mapped(None));
        }
        // SAFETY: bundles are immutable once renamed into place; nothing writes
        // to these files while they are mapped.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::io(path, e))?;
        Ok(Mapped(Some(map)))
    }
}

impl Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or(&[])
    }
}

/// An opened, verified bundle.
pub struct BundleReader {
    dir: PathBuf,
    manifest: Manifest,
    /// xxh3-64 of `manifest.json`, as `manifest.xxh3` recorded and open verified.
    manifest_checksum: String,
    content: Mapped,
    docs: Mapped,
    dict: Mapped,
    postings: Mapped,
    /// Next-byte masks and where each dictionary entry's start (format 3 on).
    next_masks: Option<(Mapped, Vec<u64>)>,
    /// Sparse n-grams (dictionary, postings), when made as this build makes them.
    sparse: Option<(Mapped, Mapped)>,
    text: Option<TextIndex>,
    symbols: Option<SymbolTable<Mapped>>,
    symbol_cache: SymbolCache,
    precise: Option<PreciseTable<Mapped>>,
    embeddings: Option<EmbeddingStore<Mapped>>,
    skip_cache: SkipCache,
    doc_count: usize,
}

impl std::fmt::Debug for BundleReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleReader")
            .field("dir", &self.dir)
            .field("docs", &self.doc_count)
            .finish()
    }
}

impl BundleReader {
    /// Opens `dir`, checking the format version and every file's checksum.
    pub fn open(dir: &Path) -> Result<BundleReader> {
        let manifest_path = dir.join(MANIFEST_FILE);
        if !dir.is_dir() {
            return Err(Error::MissingBundle {
                path: dir.to_path_buf(),
                reason: "not a directory".into(),
            });
        }
        if !manifest_path.is_file() {
            return Err(Error::MissingBundle {
                path: dir.to_path_buf(),
                reason: format!("no {MANIFEST_FILE}"),
            });
        }
        let raw = std::fs::read(&manifest_path).map_err(|e| Error::io(&manifest_path, e))?;
        let sum_path = dir.join(MANIFEST_CHECKSUM_FILE);
        let recorded = std::fs::read_to_string(&sum_path).map_err(|e| Error::io(&sum_path, e))?;
        if recorded.trim() != checksum(&raw) {
            return Err(Error::corrupt(
                &manifest_path,
                format!("checksum mismatch (recorded in {MANIFEST_CHECKSUM_FILE})"),
            ));
        }
        let manifest: Manifest = serde_json::from_slice(&raw)
            .map_err(|e| Error::corrupt(&manifest_path, e.to_string()))?;
        if !(MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&manifest.format_version) {
            return Err(Error::UnsupportedFormat {
                found: manifest.format_version,
                min: MIN_FORMAT_VERSION,
                max: FORMAT_VERSION,
            });
        }
        verify_checksums(dir, &manifest)?;

        let content = Mapped::open(&dir.join(CONTENT_FILE))?;
        let docs = Mapped::open(&dir.join(DOCS_FILE))?;
        let dict = Mapped::open(&dir.join(NGRAM_DICT_FILE))?;
        let postings = Mapped::open(&dir.join(NGRAM_POSTINGS_FILE))?;
        let doc_count =
            DocTableView::parse(&docs, content.len() as u64, &dir.join(DOCS_FILE))?.len();
        if dict.len() % DICT_ENTRY_BYTES != 0 {
            return Err(Error::corrupt(
                dir.join(NGRAM_DICT_FILE),
                "size is not a whole number of entries",
            ));
        }
        let next_masks = if manifest.format_version >= 3 {
            let masks = Mapped::open(&dir.join(NGRAM_NEXT_FILE))?;
            let mut starts = Vec::with_capacity(dict.len() / DICT_ENTRY_BYTES);
            let mut total = 0u64;
            for entry in dict.chunks_exact(DICT_ENTRY_BYTES) {
                starts.push(total);
                total += u64::from(DictEntry::read(entry).count);
            }
            if total != masks.len() as u64 {
                return Err(Error::corrupt(
                    dir.join(NGRAM_NEXT_FILE),
                    format!("{} masks for {total} postings", masks.len()),
                ));
            }
            Some((masks, starts))
        } else {
            None
        };
        let sparse = match &manifest.build.sparse_grams {
            Some(info) if sparse_grams_compatible(info) => {
                let dict = Mapped::open(&dir.join(SPARSE_DICT_FILE))?;
                if dict.len() % DICT_ENTRY_BYTES != 0 {
                    return Err(Error::corrupt(
                        dir.join(SPARSE_DICT_FILE),
                        "size is not a whole number of entries",
                    ));
                }
                Some((dict, Mapped::open(&dir.join(SPARSE_POSTINGS_FILE))?))
            }
            _ => None,
        };
        let text = if manifest.build.text_index {
            Some(TextIndex::open(&dir.join(TEXT_DIR))?)
        } else {
            None
        };
        let symbols = if manifest.build.symbols {
            let m = |f: &str| Mapped::open(&dir.join(f));
            Some(SymbolTable::new(
                m(symtab::RECORDS_FILE)?,
                m(symtab::DOCS_FILE)?,
                m(symtab::NAMES_FILE)?,
                m(symtab::BYNAME_FILE)?,
                m(symtab::STRINGS_FILE)?,
                doc_count,
                dir,
            )?)
        } else {
            None
        };
        let precise = if manifest.build.precise.is_empty() {
            None
        } else {
            let m = |f: &str| Mapped::open(&dir.join(f));
            let [a, b, c, d, e, f] = precise::FILES;
            Some(PreciseTable::new(
                [m(a)?, m(b)?, m(c)?, m(d)?, m(e)?, m(f)?],
                doc_count,
                dir,
            )?)
        };
        let embeddings = match &manifest.build.embeddings {
            None => None,
            Some(info) => {
                let m = |f: &str| Mapped::open(&dir.join(f));
                Some(EmbeddingStore::new(
                    m(store::VECTORS_FILE)?,
                    m(store::CHUNKS_FILE)?,
                    m(store::DOCS_FILE)?,
                    info.model.dims,
                    doc_count,
                    dir,
                )?)
            }
        };
        Ok(BundleReader {
            dir: dir.to_path_buf(),
            manifest,
            manifest_checksum: recorded.trim().to_string(),
            content,
            docs,
            dict,
            postings,
            next_masks,
            sparse,
            text,
            symbols,
            symbol_cache: SymbolCache::new(SYMBOL_CACHE_FILES),
            precise,
            embeddings,
            skip_cache: SkipCache::default(),
            doc_count,
        })
    }

    /// The verified checksum of `manifest.json`: identifies the bundle.
    pub fn manifest_checksum(&self) -> &str {
        &self.manifest_checksum
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn doc_count(&self) -> usize {
        self.doc_count
    }

    /// The doc table (validated at open).
    #[inline]
    pub fn docs(&self) -> DocTableView<'_> {
        DocTableView::parse_unchecked(&self.docs)
    }

    /// A document's bytes.
    #[inline]
    pub fn content(&self, r: &DocRecord) -> &[u8] {
        &self.content[r.content_offset as usize..(r.content_offset + r.content_len) as usize]
    }

    /// Path of a document as text.
    pub fn path(&self, r: &DocRecord) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.docs().path_bytes(r))
    }

    pub fn repo_name(&self, r: &DocRecord) -> &str {
        self.manifest
            .sources
            .get(r.repo as usize)
            .map(|s| s.name.as_str())
            .unwrap_or("")
    }

    pub fn language(&self, r: &DocRecord) -> &str {
        self.manifest
            .languages
            .get(r.lang as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// Dictionary entry of a trigram.
    pub fn ngram_entry(&self, key: u32) -> Option<DictEntry> {
        dict_lookup(&self.dict, key)
    }

    /// Dictionary entry of a trigram with its list's next-byte masks (one per
    /// posting; `None` for bundles older than format 3).
    pub(crate) fn ngram_entry_with_masks(&self, key: u32) -> Option<(DictEntry, Option<&[u8]>)> {
        let (index, entry) = dict_search(&self.dict, key)?;
        let masks = self.next_masks.as_ref().and_then(|(masks, starts)| {
            let start = *starts.get(index)? as usize;
            masks.get(start..start + entry.count as usize)
        });
        Some((entry, masks))
    }

    /// Postings bytes from `offset` on (empty when out of range; cursors then report corruption).
    pub(crate) fn postings_from(&self, offset: u64) -> &[u8] {
        self.postings.get(offset as usize..).unwrap_or(&[])
    }

    /// Whether searches can use the sparse n-grams (the bundle has them, made
    /// with this build's lengths and weights).
    pub fn has_sparse_grams(&self) -> bool {
        self.sparse.is_some()
    }

    /// What the sparse index knows of a gram key; `None` without a usable index.
    pub(crate) fn sparse_entry(&self, key: u32) -> Option<GramLookup> {
        let (dict, _) = self.sparse.as_ref()?;
        Some(match dict_lookup(dict, key) {
            None => GramLookup::Absent,
            Some(e) if e.offset == UNINDEXED => GramLookup::Unindexed(e.count),
            Some(e) => GramLookup::List(e),
        })
    }

    /// Sparse postings bytes from `offset` on (empty when out of range).
    pub(crate) fn sparse_postings_from(&self, offset: u64) -> &[u8] {
        self.sparse
            .as_ref()
            .and_then(|(_, post)| post.get(offset as usize..))
            .unwrap_or(&[])
    }

    pub(crate) fn corrupt_sparse_postings(&self) -> Error {
        Error::corrupt(
            self.dir.join(SPARSE_POSTINGS_FILE),
            "malformed posting list",
        )
    }

    /// Skip tables of this bundle's long posting lists.
    pub(crate) fn skip_cache(&self) -> &SkipCache {
        &self.skip_cache
    }

    pub(crate) fn corrupt_postings(&self) -> Error {
        Error::corrupt(self.dir.join(NGRAM_POSTINGS_FILE), "malformed posting list")
    }

    pub fn text(&self) -> Option<&TextIndex> {
        self.text.as_ref()
    }

    /// The symbol table, when the bundle was built with symbols.
    pub fn symbols(&self) -> Option<&SymbolTable<Mapped>> {
        self.symbols.as_ref()
    }

    /// Imported SCIP/LSIF data, when the bundle has any.
    pub fn precise(&self) -> Option<&PreciseTable<Mapped>> {
        self.precise.as_ref()
    }

    /// Stored chunk embeddings (Stage-C), when the bundle has them.
    pub fn embeddings(&self) -> Option<&EmbeddingStore<Mapped>> {
        self.embeddings.as_ref()
    }

    /// The per-file symbol cache of this bundle.
    pub fn symbol_cache(&self) -> &SymbolCache {
        &self.symbol_cache
    }

    /// A file's decoded symbols, through the LRU cache; `None` without a table.
    pub fn file_symbols(&self, doc: u32) -> Option<std::sync::Arc<crate::symbols::FileSymbols>> {
        let table = self.symbols.as_ref()?;
        let rec = self.docs().get(doc);
        Some(self.symbol_cache.get_or_decode(doc, || {
            crate::symbols::FileSymbols::decode(table, doc, self.content(&rec))
        }))
    }
}

/// What a bundle's sparse index holds for one gram.
#[derive(Debug, Clone, Copy)]
pub(crate) enum GramLookup {
    /// No document has the gram.
    Absent,
    /// This many documents have it; the list was not written.
    Unindexed(u32),
    List(DictEntry),
}

/// Whether a bundle's sparse grams were made as this build makes a query's.
fn sparse_grams_compatible(info: &super::manifest::SparseGramsInfo) -> bool {
    use crate::ngram::sparse;
    info.min_len as usize == sparse::MIN_LEN
        && info.max_len as usize == sparse::MAX_LEN
        && info.weights == sparse::weights_id()
}

fn verify_checksums(dir: &Path, manifest: &Manifest) -> Result<()> {
    use rayon::prelude::*;
    let next = (manifest.format_version >= 3).then_some(NGRAM_NEXT_FILE);
    let sparse = manifest
        .build
        .sparse_grams
        .is_some()
        .then_some([SPARSE_DICT_FILE, SPARSE_POSTINGS_FILE])
        .into_iter()
        .flatten();
    for required in [
        CONTENT_FILE,
        DOCS_FILE,
        NGRAM_DICT_FILE,
        NGRAM_POSTINGS_FILE,
    ]
    .into_iter()
    .chain(next)
    .chain(sparse)
    {
        if !manifest.files.iter().any(|f| f.path == required) {
            return Err(Error::corrupt(
                dir.join(MANIFEST_FILE),
                format!("does not list {required}"),
            ));
        }
    }
    manifest.files.par_iter().try_for_each(|f| {
        let path = dir.join(&f.path);
        if f.path.split('/').any(|c| c == "..") {
            return Err(Error::corrupt(
                dir.join(MANIFEST_FILE),
                format!("file path {:?} leaves the bundle", f.path),
            ));
        }
        let bytes = Mapped::open(&path).map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Error::corrupt(&path, "is missing")
            }
            e => e,
        })?;
        if bytes.len() as u64 != f.bytes {
            return Err(Error::corrupt(
                &path,
                format!("size {} differs from recorded {}", bytes.len(), f.bytes),
            ));
        }
        if checksum(&bytes) != f.xxh3 {
            return Err(Error::corrupt(&path, "checksum mismatch"));
        }
        Ok(())
    })
}
