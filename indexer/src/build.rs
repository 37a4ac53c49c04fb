//! The build pipeline.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lens_core::bundle::manifest::BuildSettings;
use lens_core::bundle::{
    BundleBuilder, BundleMeta, Manifest, PreparedDoc, Skip, SkipReason, Source,
};
use lens_core::{lang, ngram};
use rayon::prelude::*;

use crate::embed::{ChunkCollector, EmbedOutcome};
use crate::walk::{RepoSpec, WalkedFile, git_commit, walk};
use crate::{BuildError, IndexOptions, swap};

/// Files analysed per pipeline step.
const BATCH_FILES: usize = 512;

/// What a build did, for the end-of-build summary.
#[derive(Debug, Clone)]
pub struct BuildSummary {
    pub manifest: Manifest,
    pub elapsed: Duration,
    pub lexical_elapsed: Duration,
    pub bundle_bytes: u64,
    pub embeddings: EmbedOutcome,
}

impl BuildSummary {
    pub fn mb_per_s(&self) -> f64 {
        self.manifest.counts.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Bundle size over indexed bytes.
    pub fn size_ratio(&self) -> f64 {
        self.bundle_bytes as f64 / (self.manifest.counts.bytes.max(1)) as f64
    }
}

impl std::fmt::Display for BuildSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.manifest.counts;
        writeln!(
            f,
            "indexed {} files, {:.1} MB in {:.2} s ({:.1} MB/s)",
            c.files,
            c.bytes as f64 / 1e6,
            self.elapsed.as_secs_f64(),
            self.mb_per_s()
        )?;
        if self.manifest.build.symbols {
            writeln!(f, "{} definitions (tree-sitter)", c.symbols)?;
        }
        match (&self.embeddings, &self.manifest.build.embeddings) {
            (EmbedOutcome::Embedded { chunks, seconds }, Some(info)) => writeln!(
                f,
                "embedded {chunks} chunks with {} in {seconds:.1} s ({:.1} chunks/s)",
                info.model.model_id,
                *chunks as f64 / seconds.max(1e-9)
            )?,
            (EmbedOutcome::Skipped(why), _) => writeln!(f, "embeddings: {why}")?,
            _ => {}
        }
        for p in &self.manifest.build.precise {
            writeln!(
                f,
                "{} {} ({}): {} of {} documents matched, {} occurrences, {} symbols",
                p.format,
                p.file,
                p.tool,
                p.documents_matched,
                p.documents,
                p.occurrences,
                p.symbols
            )?;
        }
        let reasons: Vec<String> = c
            .skipped_by_reason
            .iter()
            .map(|(r, n)| format!("{r}: {n}"))
            .collect();
        writeln!(
            f,
            "skipped {} files{}",
            c.skipped,
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join(", "))
            }
        )?;
        write!(
            f,
            "bundle {:.1} MB = {:.2}x indexed bytes; {} trigrams, {} postings",
            self.bundle_bytes as f64 / 1e6,
            self.size_ratio(),
            c.trigrams,
            c.postings
        )?;
        if let Some(g) = &self.manifest.build.sparse_grams {
            write!(
                f,
                "; {} sparse n-grams, {} postings (lists over {} files counted, not written)",
                g.grams, g.postings, g.max_list_docs
            )?;
        }
        Ok(())
    }
}

thread_local! {
    /// Scratch slots of `ngram::distinct_trigrams`, one table per analysis thread.
    static TRIGRAM_SLOTS: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
    /// Scratch of `ngram::sparse::distinct_grams`, one per analysis thread.
    static GRAM_SCRATCH: std::cell::RefCell<Option<ngram::sparse::GramScratch>> = const { std::cell::RefCell::new(None) };
}

enum Prepared {
    /// A file to index, with its chunks to embed (empty unless the build embeds).
    Doc(PreparedDoc, Vec<lens_core::semantic::chunks::Chunk>),
    Skip(Skip),
}

fn prepare(
    f: &WalkedFile,
    static_rank: f32,
    repo_name: &str,
    opts: &IndexOptions,
    chunking: bool,
) -> Prepared {
    let skip = |reason, detail: String| {
        Prepared::Skip(Skip {
            repo: repo_name.to_string(),
            path: f.rel_path.clone(),
            reason,
            detail: Some(detail),
        })
    };
    let content = match std::fs::read(&f.abs_path) {
        Ok(c) => c,
        Err(e) => return skip(SkipReason::Unreadable, e.to_string()),
    };
    if opts.max_file_size != 0 && content.len() as u64 > opts.max_file_size {
        return skip(
            SkipReason::TooLarge,
            format!("{} bytes > {}", content.len(), opts.max_file_size),
        );
    }
    if let Some(at) = memchr::memchr(0, &content) {
        return skip(SkipReason::Binary, format!("NUL byte at offset {at}"));
    }
    let mut trigrams = Vec::new();
    TRIGRAM_SLOTS.with_borrow_mut(|slots| {
        if slots.is_empty() {
            *slots = vec![0u32; 1 << 24];
        }
        ngram::distinct_trigrams(&content, slots, &mut trigrams);
    });
    let mut sparse_grams = Vec::new();
    GRAM_SCRATCH.with_borrow_mut(|scratch| {
        if !opts.sparse_grams {
            return;
        }
        let scratch = scratch.get_or_insert_with(ngram::sparse::GramScratch::default);
        ngram::sparse::distinct_grams(&content, scratch, &mut sparse_grams);
    });
    let language = lang::detect(&f.rel_path);
    let symbols = if opts.symbols {
        crate::symbols::extract(language, &content)
    } else {
        Vec::new()
    };
    let chunks = if chunking {
        lens_core::semantic::chunks::chunks_of(&content, &symbols)
    } else {
        Vec::new()
    };
    Prepared::Doc(
        PreparedDoc {
            repo: f.repo,
            path: f.rel_path.clone(),
            lang: language,
            symbols,
            static_rank,
            content,
            trigrams,
            sparse_grams,
        },
        chunks,
    )
}

/// Builds a bundle of `repos` at `out`, replacing a previous bundle there atomically.
pub fn build(
    repos: &[RepoSpec],
    out: &Path,
    opts: &IndexOptions,
) -> Result<BuildSummary, BuildError> {
    let started = Instant::now();
    let mut seen_names = std::collections::HashSet::new();
    if repos.len() > u16::MAX as usize {
        return Err(BuildError::TooManyRepos {
            max: u16::MAX as usize,
        });
    }
    for r in repos {
        if !r.root.is_dir() {
            return Err(BuildError::NotADirectory {
                name: r.name.clone(),
                root: r.root.clone(),
            });
        }
        if !seen_names.insert(r.name.clone()) {
            return Err(BuildError::DuplicateRepo(r.name.clone()));
        }
    }
    if out.exists()
        && !out.join(lens_core::bundle::MANIFEST_FILE).is_file()
        && std::fs::read_dir(out)
            .map_err(|e| BuildError::Io {
                path: out.to_path_buf(),
                source: e,
            })?
            .next()
            .is_some()
    {
        return Err(BuildError::NotABundle(out.to_path_buf()));
    }

    let mut files = Vec::new();
    let mut skips = Vec::new();
    for (i, r) in repos.iter().enumerate() {
        walk(i as u16, r, opts, &mut files, &mut skips);
    }
    // Doc ids follow static rank so that the first hits in id order are the best.
    let mut keyed: Vec<(f32, WalkedFile)> = files
        .into_iter()
        .map(|f| (opts.priors.static_rank(&f.rel_path, f.size), f))
        .collect();
    keyed.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then(a.1.repo.cmp(&b.1.repo))
            .then_with(|| a.1.rel_path.cmp(&b.1.rel_path))
    });
    let total_bytes: u64 = keyed.iter().map(|(_, f)| f.size).sum();

    swap::remove_stale_temps(out);
    let tmp = swap::temp_dir_for(out);
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| BuildError::Io {
        path: tmp.clone(),
        source: e,
    })?;
    let result = build_into(&tmp, repos, keyed, skips, total_bytes, opts, started);
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = swap::install(&tmp, out) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    Ok(BuildSummary {
        elapsed: started.elapsed(),
        ..summary
    })
}

fn build_into(
    tmp: &Path,
    repos: &[RepoSpec],
    // Files in doc-id order with their static rank.
    files: Vec<(f32, WalkedFile)>,
    mut skips: Vec<Skip>,
    total_bytes: u64,
    opts: &IndexOptions,
    started: Instant,
) -> Result<BuildSummary, BuildError> {
    // The model and the chunks gathered for it, or why the build does not embed.
    let mut collector = ChunkCollector::start(&opts.embed)?;
    let bar = if opts.progress {
        let b = ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
                .expect("valid template"),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let threads = rayon::current_num_threads().max(1);
    let mut builder = BundleBuilder::create(
        tmp,
        opts.text_index.then_some((threads, opts.text_heap_bytes)),
        opts.symbols,
    )?;
    if !opts.sparse_grams {
        builder = builder.without_sparse_grams();
    }
    let tags_compile = if opts.symbols {
        crate::symbols::compile_time()
    } else {
        Duration::ZERO
    };
    for r in repos {
        let path = std::fs::canonicalize(&r.root).unwrap_or_else(|_| r.root.clone());
        builder.add_source(Source {
            name: r.name.clone(),
            path: path.to_string_lossy().into_owned(),
            commit: git_commit(&r.root),
        });
    }
    let names: Vec<String> = repos.iter().map(|r| r.name.clone()).collect();

    // Analysis (read, binary check, trigrams) runs on rayon one batch ahead of
    // the single appender, which writes content, postings and tantivy input.
    let (tx, prepared_rx) = sync_channel::<Vec<Prepared>>(1);
    let (sorted_tx, rx) = sync_channel::<(Vec<Prepared>, ngram::BatchPostings)>(2);
    let producer_opts = opts.clone();
    let chunking = match &collector {
        Ok(c) => c.wanted(),
        Err(_) => Arc::new(AtomicBool::new(false)),
    };
    let producer = std::thread::spawn(move || {
        for batch in files.chunks(BATCH_FILES) {
            let prepared: Vec<Prepared> = batch
                .par_iter()
                .map(|(rank, f)| {
                    prepare(
                        f,
                        *rank,
                        &names[f.repo as usize],
                        &producer_opts,
                        chunking.load(Ordering::Relaxed),
                    )
                })
                .collect();
            if tx.send(prepared).is_err() {
                break;
            }
        }
    });
    // A batch's postings are sorted by trigram on a stage of their own, so
    // that the appender adds each trigram's run at once; the sparse-gram
    // postings are written there too, off the appender's path.
    let sorter = std::thread::spawn(move || {
        let mut grams = ngram::GramPostingsWriter::default();
        let mut first_doc = 0u32;
        for mut prepared in prepared_rx {
            let postings = ngram::BatchPostings::new(prepared.iter().filter_map(|p| match p {
                Prepared::Doc(d, _) => Some(d.trigrams.as_slice()),
                Prepared::Skip(_) => None,
            }));
            let batch = ngram::GramBatch::new(prepared.iter().filter_map(|p| match p {
                Prepared::Doc(d, _) => Some(d.sparse_grams.as_slice()),
                Prepared::Skip(_) => None,
            }));
            grams.add_batch(first_doc, &batch);
            for p in &mut prepared {
                if let Prepared::Doc(d, _) = p {
                    d.trigrams = Vec::new();
                    d.sparse_grams = Vec::new();
                    first_doc += 1;
                }
            }
            if sorted_tx.send((prepared, postings)).is_err() {
                break;
            }
        }
        grams
    });
    let mut append_result = Ok(());
    for (batch, postings) in rx {
        let mut docs = Vec::with_capacity(batch.len());
        let mut chunks = Vec::with_capacity(batch.len());
        for p in batch {
            match p {
                Prepared::Doc(d, c) => {
                    bar.inc(d.content.len() as u64);
                    docs.push(d);
                    chunks.push(c);
                }
                Prepared::Skip(s) => skips.push(s),
            }
        }
        match builder.add_batch(docs, &postings) {
            Ok(first) => {
                if let Ok(c) = collector.as_mut() {
                    for (k, c_k) in chunks.into_iter().enumerate() {
                        c.add(first + k as u32, c_k);
                    }
                }
            }
            Err(e) => {
                append_result = Err(e);
                break;
            }
        }
    }
    producer.join().expect("analysis thread panicked");
    let grams = sorter.join().expect("postings thread panicked");
    if opts.sparse_grams {
        builder.set_gram_postings(grams);
    }
    append_result?;
    let lexical_elapsed = started.elapsed();
    bar.set_message("writing index");
    skips.sort_by(|a, b| (&a.repo, &a.path).cmp(&(&b.repo, &b.path)));
    let (precise, precise_sources) = if opts.precise.is_empty() {
        (None, Vec::new())
    } else {
        bar.set_message("importing SCIP/LSIF");
        let roots: Vec<PathBuf> = repos
            .iter()
            .map(|r| std::fs::canonicalize(&r.root).unwrap_or_else(|_| r.root.clone()))
            .collect();
        let files: Vec<crate::precise::BundleFile> = builder
            .docs()
            .map(|(doc, repo, path)| crate::precise::BundleFile {
                doc,
                repo_root: roots[repo as usize].clone(),
                path: path.to_string(),
            })
            .collect();
        let (w, s) = crate::precise::import(&opts.precise, &files)?;
        (Some(w), s)
    };
    let (embeddings, embed_info, embed_outcome) = match collector {
        Ok(c) => {
            let total = c.chunk_count() as u64;
            bar.set_message(format!("embedding {total} chunks"));
            bar.set_length(total);
            bar.set_position(0);
            let (stored, outcome) = c.embed(|done| bar.set_position(done as u64))?;
            match stored {
                Some((w, info)) => (Some(w), Some(info), outcome),
                None => (None, None, outcome),
            }
        }
        Err(why) => (None, None, EmbedOutcome::Skipped(why)),
    };
    let manifest = builder.finish(BundleMeta {
        embeddings,
        precise,
        bundle_version: opts.bundle_version.clone(),
        skipped: skips,
        build: BuildSettings {
            respect_ignore_files: !opts.no_ignore,
            include_hidden: opts.hidden,
            max_file_size: opts.max_file_size,
            text_index: opts.text_index,
            symbols: opts.symbols,
            tags_query_compile_us: tags_compile.as_micros() as u64,
            precise: precise_sources,
            embeddings: embed_info,
            // Set by the builder, which writes the sparse index.
            sparse_grams: None,
        },
    })?;
    bar.finish_and_clear();
    let bundle_bytes = manifest.files.iter().map(|f| f.bytes).sum::<u64>();
    Ok(BuildSummary {
        manifest,
        elapsed: started.elapsed(),
        lexical_elapsed,
        bundle_bytes,
        embeddings: embed_outcome,
    })
}
