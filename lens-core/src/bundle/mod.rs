//! The index bundle: an immutable, versioned directory.
//!
//! | file | content |
//! |---|---|
//! | `manifest.json` | versions, sources, counts, skips, checksums of every other file |
//! | `manifest.xxh3` | checksum of `manifest.json` |
//! | `content.bin` | every indexed file's bytes, concatenated (memory-mapped) |
//! | `docs.bin` | the doc table ([`doc_table`]) |
//! | `ngram.dict`, `ngram.post`, `ngram.next` | trigram dictionary, postings and next-byte masks ([`crate::ngram`]) |
//! | `ngram.sparse.dict`, `ngram.sparse.post` | sparse n-grams of 4–6 bytes ([`crate::ngram::sparse`]) |
//! | `text/` | the tantivy index ([`crate::text_index`]) |
//! | `sym.*` | the symbol table ([`crate::symbols::table`]) |
//! | `precise.*` | imported SCIP/LSIF occurrences ([`crate::precise`]) |

pub mod doc_table;
pub mod manifest;
mod reader;
mod writer;

pub use doc_table::{DocRecord, DocTableView};
pub use manifest::{Manifest, PreciseSource, Skip, SkipReason, Source};
pub(crate) use reader::GramLookup;
pub use reader::{BundleReader, Mapped, SYMBOL_CACHE_FILES};
pub use writer::{BundleBuilder, BundleMeta, PreparedDoc, sync_dir};

pub const MANIFEST_FILE: &str = "manifest.json";
pub const MANIFEST_CHECKSUM_FILE: &str = "manifest.xxh3";
pub const CONTENT_FILE: &str = "content.bin";
pub const DOCS_FILE: &str = "docs.bin";
pub const NGRAM_DICT_FILE: &str = "ngram.dict";
pub const NGRAM_POSTINGS_FILE: &str = "ngram.post";
/// One next-byte mask per posting (format 3 on).
pub const NGRAM_NEXT_FILE: &str = "ngram.next";
pub const TEXT_DIR: &str = "text";
pub const SPARSE_DICT_FILE: &str = "ngram.sparse.dict";
pub const SPARSE_POSTINGS_FILE: &str = "ngram.sparse.post";

/// Hex xxh3-64 of bytes.
pub fn checksum(bytes: &[u8]) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(bytes))
}
