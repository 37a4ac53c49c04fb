//! The embedding pass of a build (Stage-C): chunks collected while files are appended are
//! embedded with the model once the walk is done, then stored quantised in the bundle.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use lens_core::bundle::manifest::EmbeddingsInfo;
use lens_core::semantic::chunks::Chunk;
use lens_core::semantic::store::{ChunkSpan, EmbeddingWriter};
use lens_core::semantic::{Embedder, model};

use crate::BuildError;

/// Most chunks `--embed auto` embeds: at ~56 chunks/s on two cores (all-MiniLM-L6-v2,
/// fp32) that is about six minutes. Larger corpora need `--embed on`.
pub const AUTO_EMBED_MAX_CHUNKS: usize = 20_000;

/// Whether a build embeds chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmbedMode {
    /// When the model loads and the corpus has at most [`AUTO_EMBED_MAX_CHUNKS`] chunks.
    #[default]
    Auto,
    /// Always; a missing model fails the build.
    On,
    Off,
}

/// Embedding settings of a build.
#[derive(Debug, Clone, Default)]
pub struct EmbedOptions {
    pub mode: EmbedMode,
    /// Model directory; `None` means [`model::default_model_dir`].
    pub model_dir: Option<PathBuf>,
}

/// What became of embeddings in a build, for the summary.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbedOutcome {
    Embedded { chunks: usize, seconds: f64 },
    Skipped(String),
}

/// Chunks gathered during the build, and the loaded model.
pub(crate) struct ChunkCollector {
    embedder: Embedder,
    limit: Option<usize>,
    spans: Vec<ChunkSpan>,
    texts: Vec<String>,
    overflowed: bool,
    /// Cleared on overflow, so that the analysis threads stop making chunks.
    wanted: Arc<AtomicBool>,
}

impl ChunkCollector {
    /// Loads the model, or says why not: `Err` fails the build (`--embed on`), `Ok(Err)`
    /// skips embeddings (`--embed auto`).
    pub(crate) fn start(opts: &EmbedOptions) -> Result<Result<ChunkCollector, String>, BuildError> {
        if opts.mode == EmbedMode::Off {
            return Ok(Err("off (--embed off)".into()));
        }
        let dir = opts.model_dir.clone().or_else(model::default_model_dir);
        let loaded = match &dir {
            Some(d) => Embedder::load(d, rayon::current_num_threads()),
            None => Err(lens_core::Error::Model(
                "no model directory (pass --model or set LENS_MODEL_DIR)".into(),
            )),
        };
        match (loaded, opts.mode) {
            (Ok(embedder), mode) => Ok(Ok(ChunkCollector {
                embedder,
                limit: (mode == EmbedMode::Auto).then_some(AUTO_EMBED_MAX_CHUNKS),
                spans: Vec::new(),
                texts: Vec::new(),
                overflowed: false,
                wanted: Arc::new(AtomicBool::new(true)),
            })),
            (Err(e), EmbedMode::On) => Err(BuildError::Core(e)),
            (Err(e), _) => Ok(Err(format!("no model ({e})"))),
        }
    }

    /// True while chunks are still wanted; analysis threads check it per file.
    pub(crate) fn wanted(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.wanted)
    }

    pub(crate) fn add(&mut self, doc: u32, chunks: Vec<Chunk>) {
        if self.overflowed {
            return;
        }
        for c in chunks {
            if self.limit.is_some_and(|l| self.texts.len() >= l) {
                // Auto mode gives up on large corpora instead of holding their text.
                self.overflowed = true;
                self.wanted.store(false, Ordering::Relaxed);
                self.spans = Vec::new();
                self.texts = Vec::new();
                return;
            }
            self.spans.push(ChunkSpan {
                doc,
                start: c.start,
                end: c.end,
                name_start: c.name_start,
                name_end: c.name_end,
            });
            self.texts.push(c.text);
        }
    }

    /// Embeds every chunk; `progress` gets the number done.
    pub(crate) fn embed(
        self,
        progress: impl FnMut(usize),
    ) -> Result<(Option<(EmbeddingWriter, EmbeddingsInfo)>, EmbedOutcome), BuildError> {
        if self.overflowed {
            let why = format!(
                "skipped: more than {AUTO_EMBED_MAX_CHUNKS} chunks (pass --embed on to embed them anyway)"
            );
            return Ok((None, EmbedOutcome::Skipped(why)));
        }
        let started = Instant::now();
        let vectors = self.embedder.embed_all(&self.texts, progress)?;
        let dims = self.embedder.dims();
        let mut writer = EmbeddingWriter::new(dims);
        for (i, span) in self.spans.iter().enumerate() {
            writer.push(*span, &vectors[i * dims..(i + 1) * dims]);
        }
        let seconds = started.elapsed().as_secs_f64();
        let info = EmbeddingsInfo {
            model: self.embedder.id().clone(),
            chunks: self.spans.len() as u64,
            quantisation: "int8".into(),
            build_ms: (seconds * 1e3) as u64,
        };
        let outcome = EmbedOutcome::Embedded {
            chunks: self.spans.len(),
            seconds,
        };
        Ok((Some((writer, info)), outcome))
    }

    pub(crate) fn chunk_count(&self) -> usize {
        self.texts.len()
    }
}
