//! The embedding model: an ONNX sentence encoder run through `ort`, with the WordPiece
//! tokenizer in Rust.
//!
//! A model directory holds `model.onnx` (inputs `input_ids`, `attention_mask`,
//! `token_type_ids`; output `sentence_embedding`, unit-normalised), `vocab.txt` and
//! `MODEL.json` (`model_id`, `dims`, `max_seq_len`, `files` with sha256 checksums, and
//! optionally `onnxruntime_lib`). `scripts/model/setup.sh` writes one.
//!
//! ONNX Runtime is loaded dynamically. `ort` panics on first use when it has no library, so
//! the path is resolved and checked here first: `LENS_ORT_LIB`, else `MODEL.json`'s
//! `onnxruntime_lib`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use serde::Deserialize;

use super::tokenizer::WordPiece;
use crate::error::{Error, Result};

/// Environment variable naming `libonnxruntime.so`.
pub const ORT_LIB_ENV: &str = "LENS_ORT_LIB";
/// Environment variable naming the model directory.
pub const MODEL_DIR_ENV: &str = "LENS_MODEL_DIR";
/// The ONNX file loaded from a model directory.
pub const MODEL_FILE: &str = "model.onnx";
const VOCAB_FILE: &str = "vocab.txt";
const MODEL_JSON: &str = "MODEL.json";
/// Texts per model call at index time; rows are length-sorted so padding stays small.
pub const EMBED_BATCH: usize = 32;

#[derive(Debug, Clone, Deserialize)]
struct ModelJson {
    model_id: String,
    dims: usize,
    max_seq_len: usize,
    #[serde(default)]
    files: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    onnxruntime_lib: Option<String>,
}

/// Identity of a model, recorded in a bundle's manifest next to its embeddings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct ModelId {
    pub model_id: String,
    /// sha256 of `model.onnx` as `MODEL.json` records it.
    pub sha256: String,
    pub dims: usize,
    pub max_seq_len: usize,
}

/// The default model directory: `$LENS_MODEL_DIR`, else where `scripts/model/setup.sh` puts it.
pub fn default_model_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os(MODEL_DIR_ENV) {
        return Some(PathBuf::from(d));
    }
    let home = std::env::var_os("HOME")?;
    Some(PathBuf::from(home).join(".cache/lens/models/all-minilm-l6-v2"))
}

/// The process's ONNX Runtime environment (ort keeps only a weak reference to it).
static RUNTIME: OnceLock<std::result::Result<ort::environment::Environment, String>> =
    OnceLock::new();

/// Loads ONNX Runtime once per process from `lib` (checked to exist first).
fn init_runtime(lib: &Path) -> Result<&'static ort::environment::Environment> {
    let loaded = RUNTIME.get_or_init(|| {
        if !lib.is_file() {
            return Err(format!(
                "ONNX Runtime library {} does not exist (set {ORT_LIB_ENV} or run scripts/model/setup.sh)",
                lib.display()
            ));
        }
        let builder = ort::init_from(lib)
            .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", lib.display()))?;
        builder
            .with_name("lens")
            .build()
            .map_err(|e| format!("cannot start ONNX Runtime: {e}"))
    });
    match loaded {
        Ok(env) => Ok(env),
        Err(e) => Err(Error::Model(e.clone())),
    }
}

/// A loaded sentence encoder. `embed` is safe to call from many threads (calls are serialised
/// on the session; ONNX Runtime parallelises inside one call).
pub struct Embedder {
    id: ModelId,
    dir: PathBuf,
    tokenizer: WordPiece,
    session: Mutex<ort::session::Session>,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("id", &self.id)
            .field("dir", &self.dir)
            .finish()
    }
}

impl Embedder {
    /// Loads the model in `dir`. `threads` bounds ONNX Runtime's intra-op threads.
    pub fn load(dir: &Path, threads: usize) -> Result<Embedder> {
        let json_path = dir.join(MODEL_JSON);
        let raw = std::fs::read(&json_path).map_err(|e| {
            Error::Model(format!(
                "no model at {} ({e}); run scripts/model/setup.sh or pass --model",
                dir.display()
            ))
        })?;
        let meta: ModelJson = serde_json::from_slice(&raw)
            .map_err(|e| Error::Model(format!("{}: {e}", json_path.display())))?;
        let lib = match std::env::var_os(ORT_LIB_ENV) {
            Some(p) => PathBuf::from(p),
            None => meta
                .onnxruntime_lib
                .as_deref()
                .map(PathBuf::from)
                .ok_or_else(|| {
                    Error::Model(format!(
                        "no ONNX Runtime library: set {ORT_LIB_ENV} (MODEL.json names none)"
                    ))
                })?,
        };
        let env = init_runtime(&lib)?;
        let onnx = dir.join(MODEL_FILE);
        let sha256 = meta.files.get(MODEL_FILE).cloned().unwrap_or_default();
        let tokenizer = WordPiece::from_vocab_file(&dir.join(VOCAB_FILE))
            .map_err(|e| Error::Model(e.to_string()))?;
        let fail = |e: &dyn std::fmt::Display| {
            Error::Model(format!("cannot load {}: {e}", onnx.display()))
        };
        let builder = ort::session::Session::builder(env).map_err(|e| fail(&e))?;
        let builder = builder
            .with_intra_threads(threads.max(1))
            .map_err(|e| fail(&e))?;
        let mut builder = builder.with_inter_threads(1).map_err(|e| fail(&e))?;
        let session = builder.commit_from_file(&onnx).map_err(|e| fail(&e))?;
        let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        if !outputs.contains(&"sentence_embedding") {
            return Err(Error::Model(format!(
                "{} has no sentence_embedding output (outputs: {outputs:?})",
                onnx.display()
            )));
        }
        Ok(Embedder {
            id: ModelId {
                model_id: meta.model_id,
                sha256,
                dims: meta.dims,
                max_seq_len: meta.max_seq_len,
            },
            dir: dir.to_path_buf(),
            tokenizer,
            session: Mutex::new(session),
        })
    }

    pub fn id(&self) -> &ModelId {
        &self.id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn dims(&self) -> usize {
        self.id.dims
    }

    /// Unit-length embeddings of `texts`, in order: `texts.len() * dims` floats.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<f32>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, mask, types, seq) = self
            .tokenizer
            .encode_batch_padded(texts, self.id.max_seq_len);
        let shape = [texts.len(), seq];
        let fail = |e: ort::Error| Error::Model(format!("inference failed: {e}"));
        let ids = ort::value::Tensor::from_array((shape, ids)).map_err(fail)?;
        let mask = ort::value::Tensor::from_array((shape, mask)).map_err(fail)?;
        let types = ort::value::Tensor::from_array((shape, types)).map_err(fail)?;
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session
            .run(ort::inputs![
                "input_ids" => ids,
                "attention_mask" => mask,
                "token_type_ids" => types,
            ])
            .map_err(fail)?;
        let (out_shape, data) = outputs["sentence_embedding"]
            .try_extract_tensor::<f32>()
            .map_err(fail)?;
        let want = texts.len() * self.id.dims;
        if data.len() != want {
            return Err(Error::Model(format!(
                "sentence_embedding has shape {out_shape:?}, expected [{}, {}]",
                texts.len(),
                self.id.dims
            )));
        }
        Ok(data.to_vec())
    }

    /// Embeds many texts in length-sorted batches; `progress` gets the count done so far.
    pub fn embed_all(&self, texts: &[String], mut progress: impl FnMut(usize)) -> Result<Vec<f32>> {
        let dims = self.id.dims;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out = vec![0f32; texts.len() * dims];
        let mut done = 0;
        for batch in order.chunks(EMBED_BATCH) {
            let refs: Vec<&str> = batch.iter().map(|&i| texts[i].as_str()).collect();
            let vecs = self.embed(&refs)?;
            for (row, &i) in batch.iter().enumerate() {
                out[i * dims..(i + 1) * dims].copy_from_slice(&vecs[row * dims..(row + 1) * dims]);
            }
            done += batch.len();
            progress(done);
        }
        Ok(out)
    }
}
