//! Each gate catches a defect planted in a real bundle and passes the clean
//! candidate. The bundle is built with the indexer from a generated tree of
//! small Rust, C and Python files; defects are planted by a `Searcher`
//! wrapper, lost files by a second build without a fifth of the tree.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use indexer::{EmbedMode, EmbedOptions, IndexOptions, RepoSpec};
use lens_core::navigate::Navigation;
use lens_core::request::Mode;
use lens_core::searcher::{Description, FileContent};
use lens_core::{Deadline, Engine, FilePosition, Model, Request, Response, Searcher};
use validation::gates::{self, GateReport, GateStatus, GoldenSet, Span, Target, Thresholds};

const FILES: usize = 40;

fn source(i: usize) -> (String, String) {
    let j = (i + 1) % FILES;
    let k = (i + 7) % FILES;
    match i % 3 {
        0 => (
            format!("src/{}/frame_{i:02}.rs", ["net", "core"][i % 2]),
            format!(
                "/// Frame parser number {i}.\n\
                 pub struct Widget{i:02} {{\n    pub buffer_len: usize,\n}}\n\n\
                 pub fn parse_frame_{i:02}(input: &[u8]) -> usize {{\n    \
                 let msg = \"connection reset {i:02}\";\n    \
                 let buffer_len = input.len();\n    \
                 check_limit_{j:02}(buffer_len) + msg.len()\n}}\n\n\
                 pub fn check_limit_{i:02}(buffer_len: usize) -> usize {{\n    \
                 if buffer_len > MAX_RETRIES {{\n        emit_event_{k:02}(\"retry budget exceeded\")\n    \
                 }} else {{\n        buffer_len\n    }}\n}}\n\n\
                 pub fn emit_event_{i:02}(what: &str) -> usize {{\n    what.len()\n}}\n"
            ),
        ),
        1 => (
            format!("c/drivers/dev_{i:02}.c"),
            format!(
                "struct widget_{i:02} {{ int buffer_len; }};\n\
                 static const char *name_{i:02} = \"driver state {i:02}\";\n\n\
                 int parse_frame_{i:02}(const char *input, int buffer_len) {{\n    \
                 return check_limit_{j:02}(buffer_len) + MAX_RETRIES;\n}}\n\n\
                 int check_limit_{i:02}(int buffer_len) {{\n    \
                 log_line(\"retry budget exceeded\");\n    \
                 return emit_event_{k:02}(buffer_len);\n}}\n\n\
                 int emit_event_{i:02}(int what) {{\n    return what + 1;\n}}\n"
            ),
        ),
        _ => (
            format!("py/app/mod_{i:02}.py"),
            format!(
                "class Widget{i:02}:\n    def __init__(self, buffer_len):\n        \
                 self.buffer_len = buffer_len\n\n\n\
                 def parse_frame_{i:02}(data):\n    message = \"connection reset {i:02}\"\n    \
                 return check_limit_{j:02}(len(data))\n\n\n\
                 def check_limit_{i:02}(buffer_len):\n    \
                 return emit_event_{k:02}(\"retry budget exceeded\")\n\n\n\
                 def emit_event_{i:02}(what):\n    return len(what)\n"
            ),
        ),
    }
}

fn build(root: &Path, out: &Path, keep: impl Fn(usize) -> bool) -> Engine {
    for i in (0..FILES).filter(|&i| keep(i)) {
        let (path, text) = source(i);
        let p = root.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let opts = IndexOptions {
        embed: EmbedOptions {
            mode: EmbedMode::Off,
            model_dir: None,
        },
        text_heap_bytes: 50_000_000,
        ..Default::default()
    };
    let repos = [RepoSpec {
        name: "demo".into(),
        root: root.to_path_buf(),
    }];
    indexer::build(&repos, out, &opts).unwrap();
    Engine::open(out, Model::None).unwrap()
}

struct Fixture {
    full: Engine,
    /// The same tree without every fifth file.
    lost: Engine,
    golden: GoldenSet,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("gates-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let full = build(&dir.path().join("tree"), &dir.path().join("full"), |_| true);
        let lost = build(
            &dir.path().join("tree-lost"),
            &dir.path().join("lost"),
            |i| i % 5 != 0,
        );
        let started = std::time::Instant::now();
        let golden = gates::sample(&full, 7, 60);
        eprintln!(
            "sampled {} lexical, {} definition queries in {:?}",
            golden.lexical.len(),
            golden.definitions.len(),
            started.elapsed()
        );
        Fixture {
            full,
            lost,
            golden,
            _dir: dir,
        }
    })
}

/// Latency is measured: tests run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static M: Mutex<()> = Mutex::new(());
    M.lock().unwrap_or_else(|e| e.into_inner())
}

/// The runbook's thresholds (a search of this bundle takes well under a
/// millisecond even unoptimised; the planted sleep is above the 5 ms budget),
/// with a 10 ms tail floor: this machine is shared, and at sub-millisecond p95
/// one descheduled search (seen: 3–6 ms) breaks the 2× ratio.
fn thresholds() -> Thresholds {
    Thresholds {
        tail_floor_ms: 10.0,
        ..Thresholds::default()
    }
}

enum Defect {
    /// Exhaustive results lose these spans (ranked ones keep them: recall
    /// and definition-first measure ranked results).
    DropMatch(Vec<Span>),
    /// Ranked results come in reverse order.
    ShuffleRanking,
    /// Every other call swaps the last two hits.
    Nondeterministic(AtomicUsize),
    Sleep(u64),
    /// One search in `every` sleeps `ms`: a tail, not a median, regression.
    Spike {
        every: usize,
        ms: u64,
        calls: AtomicUsize,
    },
}

struct Planted<'a> {
    inner: &'a Engine,
    defect: Defect,
}

impl Searcher for Planted<'_> {
    fn search(&self, request: &Request, deadline: &Deadline) -> lens_core::Result<Response> {
        let mut r = self.inner.search(request, deadline)?;
        match &self.defect {
            Defect::DropMatch(lost) => {
                if request.exhaustive() {
                    r.hits.retain(|h| {
                        !lost.iter().any(|s| {
                            *h.repo == *s.repo
                                && *h.path == *s.path
                                && h.line == s.line
                                && h.start == s.start
                                && h.end == s.end
                        })
                    });
                }
            }
            Defect::ShuffleRanking => {
                if matches!(request.mode, Mode::Ranked { .. }) {
                    r.hits.reverse();
                }
            }
            Defect::Nondeterministic(calls) => {
                let n = r.hits.len();
                if calls.fetch_add(1, Ordering::Relaxed) % 2 == 1 && n >= 3 {
                    r.hits.swap(n - 1, n - 2);
                }
            }
            Defect::Sleep(ms) => std::thread::sleep(Duration::from_millis(*ms)),
            Defect::Spike { every, ms, calls } => {
                if calls.fetch_add(1, Ordering::Relaxed) % every == every - 1 {
                    std::thread::sleep(Duration::from_millis(*ms));
                }
            }
        }
        Ok(r)
    }
    fn file(&self, repo: &str, path: &str) -> lens_core::Result<FileContent> {
        self.inner.file(repo, path)
    }
    fn definition(&self, at: &FilePosition, limit: usize) -> lens_core::Result<Navigation> {
        self.inner.definition(at, limit)
    }
    fn references(
        &self,
        at: &FilePosition,
        limit: usize,
        deadline: &Deadline,
    ) -> lens_core::Result<Navigation> {
        self.inner.references(at, limit, deadline)
    }
    fn hover(&self, at: &FilePosition) -> lens_core::Result<Option<lens_core::navigate::Hover>> {
        self.inner.hover(at)
    }
    fn describe(&self) -> &Description {
        self.inner.describe()
    }
}

fn run_planted(defect: Defect) -> GateReport {
    let f = fixture();
    let planted = Planted {
        inner: &f.full,
        defect,
    };
    let candidate = Target {
        searcher: &planted,
        bundle: &f.full,
    };
    let report = gates::run(candidate, Target::engine(&f.full), &f.golden, &thresholds());
    print(&report);
    report
}

fn print(r: &GateReport) {
    for g in &r.gates {
        eprintln!(
            "  {:24} {:?} value={:?} threshold={:?} baseline={:?} {}",
            g.gate,
            g.status,
            g.value,
            g.threshold,
            g.baseline,
            g.reason.as_deref().unwrap_or("")
        );
    }
    eprintln!("  report in {} ms", r.duration_ms);
}

fn status(r: &GateReport, gate: &str) -> GateStatus {
    r.gate(gate)
        .unwrap_or_else(|| panic!("no gate {gate}"))
        .status
}

/// Asserts `failing` fail and every other gate passes; consistency may also
/// fail, but only through the stable-vs-candidate check (same content,
/// different results is a real violation) when `cross_ok`.
fn assert_only(r: &GateReport, failing: &[&str], cross_ok: bool) {
    for g in &r.gates {
        if failing.contains(&g.gate.as_str()) {
            assert_eq!(g.status, GateStatus::Fail, "{} should fail: {g:?}", g.gate);
        } else if cross_ok && g.gate == gates::CONSISTENCY_VIOLATIONS && !g.passed() {
            assert_eq!(g.evidence["repeat"], 0, "{g:?}");
            assert_eq!(g.evidence["paged_vs_unpaged"], 0, "{g:?}");
        } else {
            assert_eq!(g.status, GateStatus::Pass, "{} should pass: {g:?}", g.gate);
        }
    }
    assert!(!r.passed());
    assert!(!r.recommendations.is_empty());
}

#[test]
fn golden_set_is_deterministic_and_covers_every_kind() {
    let _s = serial();
    let f = fixture();
    assert_eq!(gates::sample(&f.full, 7, 60), f.golden);
    assert_eq!(f.golden.lexical.len(), 60);
    assert!(
        f.golden.definitions.len() >= 20,
        "{}",
        f.golden.definitions.len()
    );
    for kind in gates::QueryKind::ALL {
        assert!(f.golden.lexical.iter().any(|q| q.kind == kind), "{kind:?}");
    }
    let json = serde_json::to_string(&f.golden).unwrap();
    assert_eq!(serde_json::from_str::<GoldenSet>(&json).unwrap(), f.golden);
}

#[test]
fn clean_candidate_passes_every_gate() {
    let _s = serial();
    let f = fixture();
    let r = gates::run(
        Target::engine(&f.full),
        Target::engine(&f.full),
        &f.golden,
        &thresholds(),
    );
    print(&r);
    assert!(r.passed(), "{:#?}", r.blocking_issues);
    assert_eq!(r.gates.len(), 7);
    assert!(r.recommendations.is_empty());
    let span = r.gate(gates::SPAN_COVERAGE).unwrap();
    assert_eq!(span.value, Some(1.0));
    // Per-gate wall time on this bundle (shown with --nocapture).
    let (c, t) = (Target::engine(&f.full), thresholds());
    let time = |name: &str, run: &dyn Fn()| {
        let started = std::time::Instant::now();
        run();
        eprintln!("  {name:24} {:?}", started.elapsed());
    };
    time("span_coverage", &|| {
        drop(gates::span_coverage(c, &f.golden, &t))
    });
    time("recall_at_50", &|| {
        drop(gates::recall_at_50(&f.full, &f.full, &f.golden, &t))
    });
    time("definition_first", &|| {
        drop(gates::definition_first(&f.full, &f.full, &f.golden))
    });
    time("consistency", &|| {
        drop(gates::consistency(&f.full, &f.full, &f.golden))
    });
    time("index_completeness", &|| {
        drop(gates::index_completeness(&f.full, &f.full))
    });
    time("latency (both gates)", &|| {
        drop(gates::latency(&f.full, &f.golden, &t))
    });
}

#[test]
fn dropped_matches_fail_span_coverage() {
    let _s = serial();
    let f = fixture();
    // One match lost from every query that has one.
    let lost: Vec<Span> = f
        .golden
        .lexical
        .iter()
        .filter_map(|q| q.truth.first().cloned())
        .collect();
    let r = run_planted(Defect::DropMatch(lost));
    assert_only(&r, &[gates::SPAN_COVERAGE], false);
    let g = r.gate(gates::SPAN_COVERAGE).unwrap();
    assert!(g.value.unwrap() < 0.98, "{g:?}");
}

#[test]
fn a_single_dropped_match_is_evidence_even_under_the_tolerance() {
    let _s = serial();
    let f = fixture();
    let q = f
        .golden
        .lexical
        .iter()
        .find(|q| !q.truth.is_empty())
        .unwrap();
    let r = run_planted(Defect::DropMatch(vec![q.truth[0].clone()]));
    let g = r.gate(gates::SPAN_COVERAGE).unwrap();
    assert!(g.value.unwrap() < 1.0);
    let failing = g.evidence["failing_queries"].as_array().unwrap();
    assert!(
        failing.iter().any(|x| x["query"] == q.query.as_str()),
        "{g:?}"
    );
}

#[test]
fn shuffled_ranking_fails_definition_first() {
    let _s = serial();
    let r = run_planted(Defect::ShuffleRanking);
    assert_only(&r, &[gates::DEFINITION_FIRST], true);
}

#[test]
fn nondeterminism_fails_consistency() {
    let _s = serial();
    let r = run_planted(Defect::Nondeterministic(AtomicUsize::new(0)));
    assert_only(&r, &[gates::CONSISTENCY_VIOLATIONS], false);
    assert!(
        r.gate(gates::CONSISTENCY_VIOLATIONS).unwrap().evidence["repeat"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[test]
fn slow_searches_fail_stage_a_p95() {
    let _s = serial();
    let r = run_planted(Defect::Sleep(8));
    assert_eq!(status(&r, gates::STAGE_A_P95), GateStatus::Fail);
    assert_only(&r, &[gates::STAGE_A_P95], false);
}

#[test]
fn rare_slow_searches_fail_tail_latency() {
    let _s = serial();
    // 1 in 40 (2.5%): above p99's share, below p95's.
    let r = run_planted(Defect::Spike {
        every: 40,
        ms: 40,
        calls: AtomicUsize::new(0),
    });
    assert_only(&r, &[gates::TAIL_LATENCY], false);
}

#[test]
fn lost_files_fail_index_completeness() {
    let _s = serial();
    let f = fixture();
    let r = gates::run(
        Target::engine(&f.lost),
        Target::engine(&f.full),
        &f.golden,
        &thresholds(),
    );
    print(&r);
    let g = r.gate(gates::INDEX_COMPLETENESS).unwrap();
    assert_eq!(g.status, GateStatus::Fail);
    assert_eq!(g.evidence["missing_files"], FILES / 5);
    // The engine is right about the content it has: span coverage holds.
    assert_eq!(status(&r, gates::SPAN_COVERAGE), GateStatus::Pass);
    // The index lost files the stable finds: recall falls too.
    assert_eq!(status(&r, gates::RECALL_AT_50), GateStatus::Fail);
    let c = r.gate(gates::CONSISTENCY_VIOLATIONS).unwrap();
    assert_eq!(c.status, GateStatus::Pass);
    assert!(c.evidence["stable_vs_candidate_skipped"].is_string());
}
