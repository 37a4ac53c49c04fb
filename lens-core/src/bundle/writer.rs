//! `BundleBuilder`: writes a bundle into a fresh directory, file by file, then
//! records checksums and fsyncs. Making it visible (the atomic rename) is the
//! caller's step, once `finish` has returned.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::doc_table::{self, DocRecord};
use super::manifest::{
    API_VERSION, BuildSettings, Counts, FORMAT_VERSION, FileChecksum, Manifest, Skip, Source,
    rfc3339_utc,
};
use super::*;
use crate::error::{Error, Result};
use crate::ngram::{BatchPostings, GramPostingsWriter, PostingsWriter};
use crate::symbols::SymbolTableWriter;
use crate::text_index::TextIndexWriter;

/// A document read and analysed, ready to append.
#[derive(Debug, Clone)]
pub struct PreparedDoc {
    pub repo: u16,
    pub path: String,
    pub lang: Option<&'static str>,
    pub static_rank: f32,
    pub content: Vec<u8>,
    /// Distinct trigrams of `content` with their next-byte masks, in any
    /// order (`ngram::distinct_trigrams`).
    pub trigrams: Vec<crate::ngram::TrigramWithNext>,
    /// Sparse-gram keys of `content` (`ngram::sparse::distinct_grams`; repeats are dropped).
    pub sparse_grams: Vec<u32>,
    /// Definitions by start (empty without symbols).
    pub symbols: Vec<crate::symbols::SymbolDef>,
}

/// What the caller knows about the build that the builder does not.
pub struct BundleMeta {
    pub bundle_version: String,
    /// Imported precise data, if any (its sources are in `build.precise`).
    pub precise: Option<crate::precise::PreciseWriter>,
    /// Chunk embeddings, if any (described in `build.embeddings`).
    pub embeddings: Option<crate::semantic::store::EmbeddingWriter>,
    pub skipped: Vec<Skip>,
    pub build: BuildSettings,
}

impl BundleMeta {
    /// A bundle of text alone: no precise data, embeddings or skips, default settings.
    pub fn text_only(bundle_version: &str) -> BundleMeta {
        BundleMeta {
            bundle_version: bundle_version.to_string(),
            precise: None,
            embeddings: None,
            skipped: Vec::new(),
            build: BuildSettings::default(),
        }
    }
}

pub struct BundleBuilder {
    dir: PathBuf,
    content: BufWriter<File>,
    content_len: u64,
    records: Vec<DocRecord>,
    paths: Vec<u8>,
    postings: PostingsWriter,
    grams: GramPostingsWriter,
    /// Whether the bundle gets a sparse n-gram index.
    sparse_grams: bool,
    text: Option<TextIndexWriter>,
    symbols: Option<SymbolTableWriter>,
    sources: Vec<Source>,
    languages: Vec<String>,
}

fn create_file(path: &Path) -> Result<File> {
    File::create(path).map_err(|e| Error::io(path, e))
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = create_file(path)?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.sync_all().map_err(|e| Error::io(path, e))
}

impl BundleBuilder {
    /// Starts a bundle in `dir`, which must exist and be empty. `text` gives
    /// tantivy's (threads, heap bytes); `None` builds no text index. `symbols`
    /// adds a symbol table from each doc's definitions.
    pub fn create(dir: &Path, text: Option<(usize, usize)>, symbols: bool) -> Result<Self> {
        let content_path = dir.join(CONTENT_FILE);
        let content = BufWriter::with_capacity(1 << 20, create_file(&content_path)?);
        let text = match text {
            Some((threads, heap)) => {
                let text_dir = dir.join(TEXT_DIR);
                std::fs::create_dir(&text_dir).map_err(|e| Error::io(&text_dir, e))?;
                Some(TextIndexWriter::create(&text_dir, threads, heap)?)
            }
            None => None,
        };
        Ok(BundleBuilder {
            dir: dir.to_path_buf(),
            content,
            content_len: 0,
            records: Vec::new(),
            paths: Vec::new(),
            postings: PostingsWriter::new(),
            grams: GramPostingsWriter::default(),
            sparse_grams: true,
            text,
            symbols: symbols.then(SymbolTableWriter::new),
            sources: Vec::new(),
            languages: Vec::new(),
        })
    }

    /// Builds no sparse n-gram index: a smaller bundle, built faster, whose
    /// literals are planned by trigrams alone.
    pub fn without_sparse_grams(mut self) -> Self {
        self.sparse_grams = false;
        self
    }

    /// Registers a repository; returns its index.
    pub fn add_source(&mut self, source: Source) -> u16 {
        self.sources.push(source);
        (self.sources.len() - 1) as u16
    }

    fn lang_index(&mut self, lang: Option<&str>) -> u16 {
        let name = lang.unwrap_or("");
        match self.languages.iter().position(|l| l == name) {
            Some(i) => i as u16,
            None => {
                self.languages.push(name.to_string());
                (self.languages.len() - 1) as u16
            }
        }
    }

    /// Appends a document; docs must arrive in static-rank order. Returns its id.
    pub fn add(&mut self, doc: PreparedDoc) -> Result<u32> {
        let id = self.records.len() as u32;
        self.postings.add_doc(id, &doc.trigrams);
        if self.sparse_grams {
            self.grams.add_doc(id, &doc.sparse_grams);
        }
        self.add_unindexed(doc)
    }

    /// Appends consecutive documents whose trigrams `postings` holds (made
    /// from them in this order; their own `trigrams` and `sparse_grams` are
    /// not read). Their sparse grams are the caller's to write, into a
    /// [`GramPostingsWriter`] handed over by [`Self::set_gram_postings`]
    /// (so that a pipeline can write them on a thread of their own).
    /// Returns the first id.
    pub fn add_batch(&mut self, docs: Vec<PreparedDoc>, postings: &BatchPostings) -> Result<u32> {
        let first = self.records.len() as u32;
        for doc in docs {
            self.add_unindexed(doc)?;
        }
        self.postings.add_batch(first, postings);
        Ok(first)
    }

    /// The sparse-gram postings of every document added by
    /// [`Self::add_batch`], replacing what [`Self::add`] wrote.
    pub fn set_gram_postings(&mut self, grams: GramPostingsWriter) {
        self.grams = grams;
    }

    /// Everything `add` does but the n-gram postings.
    fn add_unindexed(&mut self, doc: PreparedDoc) -> Result<u32> {
        let id = self.records.len() as u32;
        let lang = self.lang_index(doc.lang);
        self.content
            .write_all(&doc.content)
            .map_err(|e| Error::io(self.dir.join(CONTENT_FILE), e))?;
        self.records.push(DocRecord {
            content_offset: self.content_len,
            content_len: doc.content.len() as u64,
            path_offset: self.paths.len() as u64,
            path_len: doc.path.len() as u32,
            repo: doc.repo,
            lang,
            static_rank: doc.static_rank,
        });
        self.content_len += doc.content.len() as u64;
        self.paths.extend_from_slice(doc.path.as_bytes());
        if let Some(symbols) = &mut self.symbols {
            symbols.add_doc(id, &doc.content, &doc.symbols);
        }
        if let Some(text) = &mut self.text {
            // The content moves into the text index's document uncopied when it is UTF-8.
            let content = String::from_utf8(doc.content)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
            text.add(id, &doc.path, content)?;
        }
        Ok(id)
    }

    /// (doc id, repository index, path) of every doc added so far.
    pub fn docs(&self) -> impl Iterator<Item = (u32, u16, &str)> + '_ {
        self.records.iter().enumerate().map(|(i, r)| {
            let p =
                &self.paths[r.path_offset as usize..r.path_offset as usize + r.path_len as usize];
            (i as u32, r.repo, std::str::from_utf8(p).unwrap_or(""))
        })
    }

    /// Documents added so far.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Writes the remaining files, the manifest and its checksum; fsyncs all.
    pub fn finish(self, meta: BundleMeta) -> Result<Manifest> {
        let BundleBuilder {
            dir,
            content,
            content_len,
            records,
            paths,
            postings,
            grams,
            sparse_grams,
            text,
            symbols,
            sources,
            languages,
        } = self;
        let content_path = dir.join(CONTENT_FILE);
        let file = content
            .into_inner()
            .map_err(|e| Error::io(&content_path, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&content_path, e))?;
        drop(file);

        let total_postings = postings.total_postings() as u64;
        let (dict, post, next) = postings.finish();
        write_synced(&dir.join(NGRAM_DICT_FILE), &dict)?;
        write_synced(&dir.join(NGRAM_POSTINGS_FILE), &post)?;
        write_synced(&dir.join(NGRAM_NEXT_FILE), &next)?;
        let sparse_grams = if sparse_grams {
            let max_list_docs = sparse_max_list_docs(records.len());
            let (sparse_dict, sparse_post, sparse_postings) = grams.finish(max_list_docs);
            write_synced(&dir.join(SPARSE_DICT_FILE), &sparse_dict)?;
            write_synced(&dir.join(SPARSE_POSTINGS_FILE), &sparse_post)?;
            Some(super::manifest::SparseGramsInfo {
                min_len: crate::ngram::sparse::MIN_LEN as u32,
                max_len: crate::ngram::sparse::MAX_LEN as u32,
                weights: crate::ngram::sparse::weights_id(),
                max_list_docs,
                grams: (sparse_dict.len() / crate::ngram::postings::DICT_ENTRY_BYTES) as u64,
                postings: sparse_postings,
            })
        } else {
            None
        };
        write_synced(&dir.join(DOCS_FILE), &doc_table::encode(&records, &paths))?;
        let has_symbols = symbols.is_some();
        let symbol_count = symbols.as_ref().map_or(0, |s| s.len() as u64);
        if let Some(symbols) = symbols {
            symbols.finish(records.len(), &|p, b| write_synced(p, b), &dir)?;
        }
        if let Some(precise) = meta.precise {
            precise.finish(records.len(), &|p, b| write_synced(p, b), &dir)?;
        }
        if let Some(embeddings) = meta.embeddings {
            embeddings.finish(records.len(), &|p, b| write_synced(p, b), &dir)?;
        }
        let has_text = text.is_some();
        if let Some(text) = text {
            text.finish()?;
            sync_dir(&dir.join(TEXT_DIR))?;
        }

        let files = checksum_tree(&dir)?;
        let mut skipped_by_reason = std::collections::BTreeMap::new();
        for s in &meta.skipped {
            *skipped_by_reason
                .entry(s.reason.as_str().to_string())
                .or_insert(0) += 1;
        }
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            api_version: API_VERSION.to_string(),
            bundle_version: meta.bundle_version,
            created_at: rfc3339_utc(created),
            lens_version: env!("CARGO_PKG_VERSION").to_string(),
            sources,
            languages,
            counts: Counts {
                files: records.len() as u64,
                bytes: content_len,
                skipped: meta.skipped.len() as u64,
                skipped_by_reason,
                trigrams: (dict.len() / crate::ngram::postings::DICT_ENTRY_BYTES) as u64,
                postings: total_postings,
                symbols: symbol_count,
            },
            skipped: meta.skipped,
            files,
            build: BuildSettings {
                text_index: has_text,
                symbols: has_symbols,
                sparse_grams,
                ..meta.build
            },
        };
        let json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
        write_synced(&dir.join(MANIFEST_FILE), &json)?;
        write_synced(
            &dir.join(MANIFEST_CHECKSUM_FILE),
            format!("{}\n", checksum(&json)).as_bytes(),
        )?;
        sync_dir(&dir)?;
        Ok(manifest)
    }
}

/// Sparse-gram lists longer than this are counted but not written: 1/32 of
/// the documents, at least 256. A gram that common never narrows a literal's
/// candidates (the trigrams and its rarer grams do), and on the Linux tree
/// these lists held 45% of the postings (benches/README.md, "Sparse n-grams").
pub fn sparse_max_list_docs(docs: usize) -> u32 {
    (docs / 32).max(256).min(u32::MAX as usize) as u32
}

/// fsyncs a directory so that its entries are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Checksums of every regular file under `dir` except the manifest pair, sorted by path.
fn checksum_tree(dir: &Path) -> Result<Vec<FileChecksum>> {
    use rayon::prelude::*;
    let mut rels = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        for entry in std::fs::read_dir(&abs).map_err(|e| Error::io(&abs, e))? {
            let entry = entry.map_err(|e| Error::io(&abs, e))?;
            let child = rel.join(entry.file_name());
            let ft = entry.file_type().map_err(|e| Error::io(entry.path(), e))?;
            if ft.is_dir() {
                stack.push(child);
            } else if ft.is_file() {
                let s = child.to_string_lossy().to_string();
                // tantivy's lock files are runtime state, not bundle content.
                if s != MANIFEST_FILE && s != MANIFEST_CHECKSUM_FILE && !s.ends_with(".lock") {
                    rels.push(s);
                }
            }
        }
    }
    rels.sort();
    rels.par_iter()
        .map(|rel| {
            let path = dir.join(rel);
            let bytes = super::reader::Mapped::open(&path)?;
            Ok(FileChecksum {
                path: rel.clone(),
                bytes: bytes.len() as u64,
                xxh3: checksum(&bytes),
            })
        })
        .collect()
}
