//! Stage-C: the model loading path (a tiny random BERT made by the export script, and the
//! real all-MiniLM-L6-v2 export), embeddings in the bundle, the gate, the confidence cutoff,
//! the deadline fallback and the missing-model state.
//!
//! Needs what `scripts/test.sh` sets up: `LENS_ORT_LIB` (libonnxruntime.so from the
//! onnxruntime wheel), `LENS_MODEL_PYTHON` (a Python with numpy and onnx) and
//! `LENS_MODEL_DIR` (the exported real model).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use lens_core::semantic::{
    Embedder, Fusion, SemanticPlan, StageC, StageCState, Stages, search_semantic,
};
use lens_core::{BundleReader, Deadline, Limits};
use lens_server::server::auth::Policy;
use lens_server::server::config::Config;
use lens_server::server::semantic::SemanticService;
use lens_server::server::{AppState, router};
use tower::ServiceExt;

use crate::common::{get, index, lens, write};

fn env_path(var: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{var} is not set: run the tests with `bash scripts/test.sh`, which installs the model and sets it")
    })
}

/// The tiny random model, exported once per test run (the export is deterministic; the
/// directory under cargo's test scratch space is rewritten each run rather than left in /tmp).
fn tiny_model() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lens-tiny-model");
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/model/export_minilm.py");
        let out = std::process::Command::new(env_path("LENS_MODEL_PYTHON"))
            .arg(&script)
            .arg("--tiny")
            .arg(&dir)
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "export_minilm.py --tiny failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

fn real_model() -> PathBuf {
    let dir = env_path("LENS_MODEL_DIR");
    assert!(
        dir.join("MODEL.json").is_file(),
        "{} has no MODEL.json: run scripts/model/setup.sh",
        dir.display()
    );
    dir
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn tiny_model_loads_and_embeds_batches_like_single_texts() {
    let e = Embedder::load(tiny_model(), 1).unwrap();
    assert_eq!(e.id().model_id, "lens-tiny-bert-random");
    assert_eq!(e.dims(), 32);
    assert_eq!(e.id().sha256.len(), 64);
    let texts = [
        "def get_file(self): return self.file",
        "python",
        "readings of strings!",
    ];
    let batch = e.embed(&texts).unwrap();
    assert_eq!(batch.len(), 3 * 32);
    for (i, t) in texts.iter().enumerate() {
        let one = e.embed(&[t]).unwrap();
        let row = &batch[i * 32..(i + 1) * 32];
        // Padding in the batch must not change a row: the attention mask is honoured.
        for (a, b) in one.iter().zip(row) {
            assert!((a - b).abs() < 1e-4, "{t}: {a} vs {b}");
        }
        assert!((dot(row, row) - 1.0).abs() < 1e-4, "unit length");
    }
}

#[test]
fn missing_and_broken_models_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let err = Embedder::load(dir.path(), 1).unwrap_err();
    assert_eq!(err.code(), "model_unavailable");
    assert!(err.to_string().contains("setup.sh"), "{err}");
    // A MODEL.json whose onnx file is garbage.
    let bad = dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    for f in ["MODEL.json", "vocab.txt"] {
        std::fs::copy(tiny_model().join(f), bad.join(f)).unwrap();
    }
    std::fs::write(bad.join("model.onnx"), b"not a model").unwrap();
    let err = Embedder::load(&bad, 1).unwrap_err();
    assert!(err.to_string().contains("model.onnx"), "{err}");
}

#[test]
fn real_model_ranks_by_meaning() {
    let e = Embedder::load(&real_model(), 2).unwrap();
    assert_eq!(e.id().model_id, "all-MiniLM-L6-v2");
    assert_eq!(e.dims(), 384);
    let v = e
        .embed(&[
            "read a text file line by line",
            "def read_lines(path):\n    with open(path) as f:\n        return f.readlines()",
            "def sort_desc(xs):\n    return sorted(xs, reverse=True)",
        ])
        .unwrap();
    let (q, file, sort) = (&v[..384], &v[384..768], &v[768..]);
    assert!(
        dot(q, file) > dot(q, sort) + 0.1,
        "{} vs {}",
        dot(q, file),
        dot(q, sort)
    );
}

/// A small Python corpus: each function in its own file, as the CoSQA layout has it.
fn corpus(root: &Path) {
    let files: [(&str, &str); 6] = [
        (
            "read_lines.py",
            "def read_lines(path):\n    \"\"\"Read a text file and return its lines.\"\"\"\n    with open(path) as f:\n        return f.readlines()\n",
        ),
        (
            "sort_desc.py",
            "def sort_desc(xs):\n    \"\"\"Sort numbers from largest to smallest.\"\"\"\n    return sorted(xs, reverse=True)\n",
        ),
        (
            "http_get.py",
            "import urllib.request\n\ndef fetch(url):\n    \"\"\"Download a web page over HTTP.\"\"\"\n    return urllib.request.urlopen(url).read()\n",
        ),
        (
            "json_dump.py",
            "import json\n\ndef save_json(obj, path):\n    \"\"\"Write an object to a file as JSON.\"\"\"\n    with open(path, 'w') as f:\n        json.dump(obj, f)\n",
        ),
        (
            "mean.py",
            "def mean(xs):\n    \"\"\"Arithmetic average of a list.\"\"\"\n    return sum(xs) / len(xs)\n",
        ),
        (
            "notes.md",
            "How to release: bump the version, tag it, push the tag.\n",
        ),
    ];
    for (name, text) in files {
        write(root, name, text.as_bytes());
    }
}

fn embedded_bundle(model: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    corpus(&dir.path().join("src"));
    let b = dir.path().join("b");
    let m = model.to_str().unwrap();
    let o = index(
        &[&dir.path().join("src")],
        &b,
        &["--embed", "on", "--model", m],
    );
    let summary = String::from_utf8_lossy(&o.stdout);
    assert!(summary.contains("embedded 6 chunks"), "{summary}");
    (dir, b)
}

fn plan(text: &str, stages: Stages) -> SemanticPlan {
    SemanticPlan {
        text: text.into(),
        limits: Limits::top(10),
        stages,
        fusion: Fusion::default(),
        gate_score: 0.0,
    }
}

#[test]
fn bundle_embeddings_feed_stage_c_end_to_end() {
    let model = real_model();
    let (_dir, b) = embedded_bundle(&model);
    let bundle = BundleReader::open(&b).unwrap();
    let info = bundle.manifest().build.embeddings.clone().unwrap();
    assert_eq!(info.chunks, 6);
    assert_eq!(info.model.model_id, "all-MiniLM-L6-v2");
    assert_eq!(bundle.embeddings().unwrap().len(), 6);

    // Through the CLI: the gate sends prose to Stage-C, which finds the file by meaning
    // although the query shares no word with it.
    let search = |query: &str| -> serde_json::Value {
        let out = lens()
            .args([
                "search",
                "--bundle",
                b.to_str().unwrap(),
                "--json",
                "--model",
            ])
            .arg(&model)
            .arg(query)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{query}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let v = search("how do I download a web page");
    assert_eq!(v["stats"]["stage_c"], "ran", "{v}");
    assert_eq!(v["results"][0]["path"], "http_get.py", "{v}");
    assert_eq!(v["results"][0]["symbol"]["name"], "fetch");
    assert_eq!(v["results"][0]["definition"], true);
    assert!(v["results"][0]["signals"]["cosine"].as_f64().unwrap() > 0.3);

    // A code-like query stays exact: no Stage-C, byte spans of the literal.
    let v = search("json.dump(");
    assert!(v["stats"].get("stage_c").is_none(), "{v}");
    assert_eq!(v["results"][0]["path"], "json_dump.py");
    assert_eq!(v["results"][0]["snippet"], "        json.dump(obj, f)");

    // The cutoff drops what the calibrated confidence rejects, and only that.
    let sc = StageC::new(Embedder::load(&model, 2).unwrap());
    let mut p = plan("write an object to a json file", Stages::default());
    p.fusion.min_confidence = 0.5;
    let r = search_semantic(&bundle, &p, Some(&sc), &Deadline::none()).unwrap();
    assert_eq!(r.stats.stage_c, Some(StageCState::Ran));
    assert!(r.stats.cut_off > 0, "{:?}", r.stats);
    assert_eq!(r.stats.scored, r.stats.cut_off + r.hits.len());
    for h in &r.hits {
        assert!(h.signals.unwrap().confidence.unwrap() >= 0.5);
    }
    assert_eq!(&*r.hits[0].path, "json_dump.py");
    // The query embedding is cached.
    let again = search_semantic(&bundle, &p, Some(&sc), &Deadline::none()).unwrap();
    assert!(again.stats.query_embedding_cached);
    assert_eq!(sc.cache_counts(), (1, 1));
}

#[test]
fn deadline_and_missing_model_fall_back_to_the_stage_b_order() {
    let model = tiny_model();
    let (_dir, b) = embedded_bundle(model);
    let bundle = BundleReader::open(&b).unwrap();
    let sc = StageC::new(Embedder::load(model, 1).unwrap());
    let text = "save an object as json to a file";
    let stage_b = search_semantic(
        &bundle,
        &plan(
            text,
            Stages {
                symbols: true,
                semantic: false,
            },
        ),
        None,
        &Deadline::none(),
    )
    .unwrap();
    assert_eq!(stage_b.stats.stage_c, Some(StageCState::Disabled));
    assert!(!stage_b.hits.is_empty());
    let paths = |r: &lens_core::semantic::SemanticResult| {
        r.hits
            .iter()
            .map(|h| h.path.to_string())
            .collect::<Vec<_>>()
    };
    // Too little time left: Stage-C does not start, the Stage-B order comes back, flagged.
    let tight = Deadline::after(Duration::from_millis(1));
    let r = search_semantic(&bundle, &plan(text, Stages::default()), Some(&sc), &tight).unwrap();
    assert_eq!(r.stats.stage_c, Some(StageCState::SkippedDeadline));
    assert_eq!(paths(&r), paths(&stage_b));
    // No model: the same order, flagged as such.
    let r = search_semantic(
        &bundle,
        &plan(text, Stages::default()),
        None,
        &Deadline::none(),
    )
    .unwrap();
    assert_eq!(r.stats.stage_c, Some(StageCState::NoModel));
    assert_eq!(paths(&r), paths(&stage_b));
    // A model other than the bundle's is refused rather than mixed in.
    let other = tempfile::tempdir().unwrap();
    for f in ["model.onnx", "vocab.txt", "MODEL.json"] {
        std::fs::copy(model.join(f), other.path().join(f)).unwrap();
    }
    let json = std::fs::read_to_string(other.path().join("MODEL.json")).unwrap();
    let mut meta: serde_json::Value = serde_json::from_str(&json).unwrap();
    meta["files"]["model.onnx"] = "0".repeat(64).into();
    std::fs::write(other.path().join("MODEL.json"), meta.to_string()).unwrap();
    let sc_other = StageC::new(Embedder::load(other.path(), 1).unwrap());
    let r = search_semantic(
        &bundle,
        &plan(text, Stages::default()),
        Some(&sc_other),
        &Deadline::none(),
    )
    .unwrap();
    assert_eq!(r.stats.stage_c, Some(StageCState::ModelMismatch));
    assert_eq!(paths(&r), paths(&stage_b));
}

#[test]
fn embed_on_without_a_model_fails_and_auto_skips() {
    let dir = tempfile::tempdir().unwrap();
    corpus(&dir.path().join("src"));
    let src = dir.path().join("src");
    let nowhere = dir.path().join("no-model");
    let b = dir.path().join("b");
    let o = lens()
        .arg("index")
        .arg(&src)
        .arg("--out")
        .arg(&b)
        .args(["--quiet", "--embed", "on", "--model"])
        .arg(&nowhere)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no model at"));
    assert!(!b.exists());
    let o = index(
        &[&src],
        &b,
        &["--embed", "auto", "--model", nowhere.to_str().unwrap()],
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("embeddings: no model"));
    assert!(BundleReader::open(&b).unwrap().embeddings().is_none());
}

#[tokio::test]
async fn server_reports_stage_c_in_health_metrics_and_dashboard() {
    let model = real_model();
    let (dir, b) = embedded_bundle(&model);
    let serve = |sem| {
        AppState::new(
            &b,
            Config::default(),
            Policy::Permissive,
            &dir.path().join("audit.jsonl"),
            sem,
        )
        .unwrap()
    };

    // Loaded: natural-language queries run Stage-C; code-like ones are gated out.
    let st = serve(SemanticService::load(Some(&model)));
    let h = get(&st, "/health").await;
    assert_eq!(h["status"], "ok", "{h}");
    assert_eq!(h["stages"]["stage_c"]["state"], "available");
    assert_eq!(h["stages"]["stage_c"]["model"]["id"], "all-MiniLM-L6-v2");
    let r = get(&st, "/search?q=how+to+compute+the+average+of+numbers").await;
    assert_eq!(r["stats"]["stage_c"], "ran", "{r}");
    assert!(r["timings"]["stage_c"].as_f64().unwrap() > 0.0);
    assert_eq!(r["results"][0]["path"], "mean.py");
    for q in ["sorted(xs", "read_lines", "/def\\s+\\w+/"] {
        let r = get(
            &st,
            &format!("/search?q={}", q.replace('\\', "%5C").replace('(', "%28")),
        )
        .await;
        assert!(r["timings"]["stage_c"].is_null(), "{q}: {r}");
    }
    let d = get(&st, "/monitoring/dashboard").await;
    let c = &d["dashboard_state"]["metrics"]["performance"]["stageC"];
    assert_eq!(c["gated_queries"], 4, "{c}");
    assert_eq!(c["semantic_gating_rate"], 0.75);
    assert_eq!(c["requests"], 1);
    assert!(c["p95_latency_ms"].as_f64().unwrap() > 0.0);
    assert!(c["confidence_cutoff_rate"].as_f64().is_some());
    let resp = router(st.clone())
        .oneshot(
            Request::get("/metrics")
                .header("x-forwarded-for", "127.0.0.1")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let text = String::from_utf8(
        resp.into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    for line in [
        "lens_semantic_gate_decisions_total{decision=\"natural_language\"} 1",
        "lens_semantic_gate_decisions_total{decision=\"code\"} 3",
        "lens_stage_c_queries_total{outcome=\"ran\"} 1",
        "lens_model_loaded 1",
    ] {
        assert!(text.contains(line), "missing {line}");
    }
    assert!(text.contains("lens_stage_duration_seconds_count{stage=\"stage_c\"} 1"));

    // Missing: degraded, and search still answers with the Stage-B order.
    let st = serve(SemanticService::load(Some(&dir.path().join("no-model"))));
    let h = get(&st, "/health").await;
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["stages"]["stage_c"]["state"], "missing");
    assert!(
        h["reasons"][0]
            .as_str()
            .unwrap()
            .contains("embedding model missing")
    );
    let r = get(&st, "/search?q=how+to+compute+the+average+of+numbers").await;
    assert_eq!(r["stats"]["stage_c"], "no_model");
    assert!(!r["results"].as_array().unwrap().is_empty());
    let d = get(&st, "/monitoring/dashboard").await;
    assert_eq!(d["dashboard_state"]["health"]["status"], "degraded");

    // Failed: a model directory whose files are broken.
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::copy(model.join("MODEL.json"), broken.join("MODEL.json")).unwrap();
    let st = serve(SemanticService::load(Some(&broken)));
    let h = get(&st, "/health").await;
    assert_eq!(h["stages"]["stage_c"]["state"], "failed", "{h}");
    assert_eq!(h["status"], "degraded");
}
