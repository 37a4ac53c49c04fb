//! `lens cut-rc` and `lens compat-drill`: releases into the store, and a
//! candidate checked against stable before it gets traffic. Changes to the
//! rollout state go through the same locked update the server uses.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use indexer::{IndexOptions, RepoSpec};
use lens_core::bundle::manifest::{API_VERSION, FORMAT_VERSION, MIN_FORMAT_VERSION};
use lens_core::rank::Ranking;
use lens_core::release::store::{Release, ReleaseStore, locate};
use lens_core::release::{
    CanaryConfig, Event, Refusal, RolloutState, StateFileError, StateRead, Version, apply, read,
    update,
};
use lens_core::request::{Options, QueryInput, Request, RequestLimits};
use lens_core::{Deadline, Engine, Model, Searcher};
use lens_server::server::config::Config;
use serde_json::json;

/// Exit code of a refusal (the error table's "refused").
const REFUSED: u8 = 3;

#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The release store (default: LENS_STATE_DIR, else .lens in the working directory).
    #[arg(long, value_name = "DIR", global = true)]
    pub state: Option<PathBuf>,
    /// lens.toml, for its [canary] stages (default: ./lens.toml when present).
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
}

impl StoreArgs {
    pub(super) fn open(&self) -> anyhow::Result<ReleaseStore> {
        let dir = locate(self.state.as_deref());
        ReleaseStore::open(&dir).with_context(|| format!("release store {}", dir.display()))
    }

    pub(super) fn server_config(&self) -> anyhow::Result<Config> {
        let path = match &self.config {
            Some(p) => Some(p.clone()),
            None => Some(PathBuf::from("lens.toml")).filter(|p| p.is_file()),
        };
        match path {
            Some(p) => Config::load(&p),
            None => Ok(Config::default()),
        }
    }

    pub(super) fn canary(&self) -> anyhow::Result<CanaryConfig> {
        Ok(self.server_config()?.canary)
    }

    /// Records a CLI change in the server's audit log (the config's `audit_log`, if any).
    pub(super) fn audit(&self, command: &str, change: serde_json::Value) -> anyhow::Result<()> {
        let Some(path) = self.server_config()?.audit_log else {
            return Ok(());
        };
        let log = lens_server::server::audit::AuditLog::open(&path)
            .with_context(|| format!("audit log {}", path.display()))?;
        let who = std::env::var("USER").unwrap_or_else(|_| "cli".into());
        log.record(&lens_server::server::audit::AuditEvent {
            time: lens_server::server::audit::now_rfc3339(),
            trace_id: "",
            key_id: Some(&format!("cli:{who}")),
            route: command,
            method: "CLI",
            decision: "allow",
            reasons: Vec::new(),
            status: 0,
            change: Some(change),
        });
        Ok(())
    }
}

#[derive(Debug, Args)]
pub struct CutRcArgs {
    /// The candidate's version (semver, newer than stable), e.g. 1.0.0-rc.1.
    #[arg(long)]
    pub version: String,
    /// Sources as NAME=PATH or PATH (default: the stable release's recorded sources).
    #[arg(value_name = "NAME=PATH")]
    pub sources: Vec<String>,
    /// A ranking config (TOML) for the candidate (default: stable's).
    #[arg(long, value_name = "FILE")]
    pub ranking: Option<PathBuf>,
    /// The embedding model to build with (default: the one `lens index` finds).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct CompatDrillArgs {
    /// The candidate to check against stable.
    #[arg(long)]
    pub version: String,
    /// Golden queries to compare (sampled from stable's content).
    #[arg(long, default_value_t = 50)]
    pub queries: usize,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

pub(super) fn parse_version(v: &str) -> anyhow::Result<Version> {
    Version::parse(v).map_err(|e| anyhow::anyhow!("--version {v:?} is not a semver version: {e}"))
}

pub(super) fn current_state(store: &ReleaseStore) -> anyhow::Result<RolloutState> {
    match read(&store.rollout_path()) {
        StateRead::Ok(s) => Ok(*s),
        StateRead::Missing => bail!(
            "the release store {} has no stable release yet: `lens serve --bundle DIR --state {}` registers it",
            store.root().display(),
            store.root().display()
        ),
        StateRead::Unsafe { reason } => bail!(
            "the rollout state {} cannot be trusted ({reason}); repair or remove it first",
            store.rollout_path().display()
        ),
    }
}

/// `version` as the new candidate. A candidate the kill switch or the judge
/// sent to 0% is abandoned for it (a new cut is a new rollout); an active one
/// (ready or rolling) refuses.
fn cut(
    state: &RolloutState,
    version: &Version,
    now: u64,
    cfg: &CanaryConfig,
) -> Result<(RolloutState, Vec<lens_core::release::Effect>), Refusal> {
    use lens_core::release::Phase;
    let stopped = state
        .candidate
        .as_ref()
        .is_some_and(|c| matches!(c.phase, Phase::Killed | Phase::RolledBack));
    let (base, mut effects) = if stopped {
        apply(state, Event::Abandon, now, cfg)?
    } else {
        (state.clone(), Vec::new())
    };
    let event = Event::CutCandidate {
        version: version.clone(),
    };
    let (next, more) = apply(&base, event, now, cfg)?;
    effects.extend(more);
    Ok((next, effects))
}

/// The stable release the state names, and its record.
fn stable_release(
    store: &ReleaseStore,
    state: &RolloutState,
) -> anyhow::Result<(Version, Release)> {
    let v = state
        .stable
        .as_ref()
        .map(|s| s.version.clone())
        .context("the rollout state names no stable release")?;
    let r = store.read_release(&v)?;
    Ok((v, r))
}

/// One locked read-modify-write of the rollout state, as the server makes
/// them: `change` turns the current state into the next and its effects, or
/// refuses. A refusal is printed and comes back as its exit code.
pub(super) fn change_state(
    store: &ReleaseStore,
    change: impl FnOnce(
        &RolloutState,
    ) -> Result<(RolloutState, Vec<lens_core::release::Effect>), Refusal>,
) -> anyhow::Result<Result<(RolloutState, Vec<lens_core::release::Effect>), ExitCode>> {
    let mut effects = Vec::new();
    let result = update(&store.rollout_path(), &store.lock_path(), |cur| {
        let (next, e) = change(cur)?;
        effects = e;
        Ok::<_, Refusal>(next)
    });
    match result {
        Ok(next) => Ok(Ok((next, effects))),
        Err(StateFileError::Rejected(r)) => Ok(Err(print_refusal(&r))),
        Err(e) => Err(e.into()),
    }
}

pub(super) fn print_refusal(r: &Refusal) -> ExitCode {
    eprintln!("lens: refused:");
    for reason in &r.reasons {
        eprintln!("  - {reason}");
    }
    ExitCode::from(REFUSED)
}

pub fn cut_rc(a: CutRcArgs) -> anyhow::Result<ExitCode> {
    let version = parse_version(&a.version)?;
    let store = a.store.open()?;
    let cfg = a.store.canary()?;
    let state = current_state(&store)?;
    // Refuse before building: a second candidate, or a version not newer than stable.
    if let Err(r) = cut(&state, &version, 0, &cfg) {
        return Ok(print_refusal(&r));
    }
    if store.has_release(&version) {
        bail!(
            "release {version} already exists in the store; releases are immutable, cut a new version"
        );
    }
    let (stable_version, stable) = stable_release(&store, &state)?;
    let stable_manifest = Engine::open(&store.bundle_of(&stable), Model::None)
        .with_context(|| format!("opening stable {stable_version}"))?
        .describe()
        .manifest
        .clone();
    let repos: Vec<RepoSpec> = if a.sources.is_empty() {
        stable
            .sources
            .iter()
            .map(|s| RepoSpec {
                name: s.name.clone(),
                root: PathBuf::from(&s.path),
            })
            .collect()
    } else {
        a.sources.iter().map(|s| RepoSpec::parse(s)).collect()
    };
    let ranking = match &a.ranking {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("{}", p.display()))?;
            Ranking::from_toml(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None => store.read_ranking(&stable_version)?,
    };
    let b = &stable_manifest.build;
    let embed_mode = if b.embeddings.is_some() {
        indexer::EmbedMode::On
    } else {
        indexer::EmbedMode::Off
    };
    let opts = IndexOptions {
        no_ignore: !b.respect_ignore_files,
        hidden: b.include_hidden,
        max_file_size: b.max_file_size,
        bundle_version: version.to_string(),
        text_index: b.text_index,
        symbols: b.symbols,
        sparse_grams: b.sparse_grams.is_some(),
        embed: indexer::EmbedOptions {
            mode: embed_mode,
            model_dir: a.model.clone(),
        },
        priors: ranking.priors,
        progress: !a.json && std::io::stderr().is_terminal(),
        ..IndexOptions::default()
    };
    let out = store.bundle_dir(&version);
    let summary = indexer::build(&repos, &out, &opts)
        .with_context(|| format!("building {}", out.display()))?;
    let release = Release::from_manifest(
        version.clone(),
        PathBuf::from("bundle"),
        &summary.manifest,
        Some(stable_version.clone()),
        "cut",
    );
    store.write_release(&release, &ranking)?;
    // The release's golden set, sampled now from the stable it must match
    // (the same sources, unless they changed) and kept with the release.
    let stable_engine = Engine::open(&store.bundle_of(&stable), Model::None)
        .with_context(|| format!("opening stable {stable_version}"))?;
    let golden = validation::gates::golden::for_release(&store, &version, &stable_engine);
    let now = lens_server::server::canary::now_ms();
    let (next, effects) = match change_state(&store, |cur| cut(cur, &version, now, &cfg))? {
        Ok(changed) => changed,
        Err(refused) => return Ok(refused),
    };
    let event = json!({
        "time": lens_server::server::audit::now_rfc3339(), "event": "candidate_cut",
        "by": "lens cut-rc", "version": version.to_string(), "parent": stable_version.to_string(),
        "generation": next.generation, "effects": effects,
        "before": state.stage_label(), "after": next.stage_label(),
    });
    store.append_event(&event)?;
    a.store.audit("lens cut-rc", event)?;
    let c = &summary.manifest.counts;
    if a.json {
        println!(
            "{}",
            json!({"version": version.to_string(), "parent": stable_version.to_string(),
                "bundle": out, "files": c.files, "bytes": c.bytes, "generation": next.generation,
                "golden_set": {"lexical": golden.lexical.len(), "definitions": golden.definitions.len()},
                "traffic_percent": next.traffic_percent()})
        );
    } else {
        println!(
            "lens: cut {version} from {stable_version}: {} files, {} bytes in {}; golden set of {} lexical and {} definition queries; candidate at 0% (generation {})",
            c.files,
            c.bytes,
            out.display(),
            golden.lexical.len(),
            golden.definitions.len(),
            next.generation
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A check of the drill: name, pass or fail, what was seen.
fn check(name: &str, ok: bool, detail: String) -> serde_json::Value {
    json!({"check": name, "status": if ok { "pass" } else { "fail" }, "detail": detail})
}

fn version_checks(stable: &Release, cand: &Release) -> Vec<serde_json::Value> {
    let reads = |f: u32| (MIN_FORMAT_VERSION..=FORMAT_VERSION).contains(&f);
    vec![
        check(
            "candidate_format_readable",
            reads(cand.format_version),
            format!(
                "candidate format {}; this binary reads {MIN_FORMAT_VERSION}..={FORMAT_VERSION}",
                cand.format_version
            ),
        ),
        check(
            "stable_format_readable",
            reads(stable.format_version),
            format!(
                "stable format {}; this binary reads {MIN_FORMAT_VERSION}..={FORMAT_VERSION}",
                stable.format_version
            ),
        ),
        check(
            "api_version_candidate_to_stable",
            cand.api_version == stable.api_version,
            format!(
                "candidate {} vs stable {}",
                cand.api_version, stable.api_version
            ),
        ),
        check(
            "api_version_served",
            cand.api_version == API_VERSION && stable.api_version == API_VERSION,
            format!("this server speaks {API_VERSION}"),
        ),
        check(
            "semver_order",
            cand.version > stable.version,
            format!("{} > {}", cand.version, stable.version),
        ),
    ]
}

type Key = (String, String, u64);

/// The top 10 of a golden query's text.
fn top(engine: &Engine, q: &str) -> anyhow::Result<Vec<Key>> {
    let options = Options {
        limit: Some(10),
        ..Options::default()
    };
    let query = QueryInput::Text {
        text: q.to_string(),
        stages: None,
    };
    let req = Request::new(query, options, &RequestLimits::default())?;
    let r = engine.search(&req, &Deadline::after(std::time::Duration::from_secs(30)))?;
    Ok(r.hits
        .iter()
        .map(|h| (h.repo.to_string(), h.path.to_string(), h.line))
        .collect())
}

pub fn compat_drill(a: CompatDrillArgs) -> anyhow::Result<ExitCode> {
    let version = parse_version(&a.version)?;
    let store = a.store.open()?;
    let state = current_state(&store)?;
    let (stable_version, stable) = stable_release(&store, &state)?;
    let cand = store.read_release(&version)?;
    let mut checks = version_checks(&stable, &cand);
    let open = |r: &Release| -> Result<Engine, String> {
        let ranking = store.read_ranking(&r.version).map_err(|e| e.to_string())?;
        Engine::open(&store.bundle_of(r), Model::None)
            .map(|e| e.with_ranking(ranking))
            .map_err(|e| e.to_string())
    };
    let stable_engine = open(&stable);
    let cand_engine = open(&cand);
    checks.push(check(
        "candidate_opens_and_verifies",
        cand_engine.is_ok(),
        match &cand_engine {
            Ok(e) => format!(
                "{} files verified by this binary",
                e.describe().manifest.files.len()
            ),
            Err(e) => e.clone(),
        },
    ));
    checks.push(check(
        "stable_opens_and_verifies",
        stable_engine.is_ok(),
        stable_engine.as_ref().map_or_else(Clone::clone, |e| {
            format!(
                "{} files verified by this binary",
                e.describe().manifest.files.len()
            )
        }),
    ));
    let mut diffs = Vec::new();
    let (mut added, mut lost, mut reordered, mut same) = (0usize, 0usize, 0usize, 0usize);
    if let (Ok(s), Ok(c)) = (&stable_engine, &cand_engine) {
        let golden = validation::gates::golden::for_release(&store, &version, s);
        for q in golden.lexical.iter().take(a.queries).map(|g| &g.query) {
            let (before, after) = (top(s, q)?, top(c, q)?);
            let plus: Vec<&Key> = after.iter().filter(|k| !before.contains(k)).collect();
            let minus: Vec<&Key> = before.iter().filter(|k| !after.contains(k)).collect();
            let moved = plus.is_empty() && minus.is_empty() && before != after;
            added += plus.len();
            lost += minus.len();
            reordered += usize::from(moved);
            same += usize::from(before == after);
            if before != after {
                diffs.push(json!({"query": q, "added": plus, "lost": minus, "reordered": moved}));
            }
        }
    }
    let compatible = checks.iter().all(|c| c["status"] == "pass");
    let report = json!({
        "version": version.to_string(), "stable": stable_version.to_string(),
        "time": lens_server::server::audit::now_rfc3339(), "compatible": compatible,
        "binary": env!("CARGO_PKG_VERSION"), "checks": checks,
        "golden_queries": {"queries": same + diffs.len(), "identical": same,
            "results_added": added, "results_lost": lost, "reordered_queries": reordered,
            "differences": diffs},
    });
    let path = store.compat_report_path(&version);
    store.write_file(&path, serde_json::to_string_pretty(&report)?.as_bytes())?;
    if a.json {
        println!("{report}");
    } else {
        print_drill(&report, &path);
    }
    Ok(if compatible {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(REFUSED)
    })
}

fn print_drill(report: &serde_json::Value, path: &Path) {
    println!(
        "lens: compat drill {} against stable {}",
        report["version"].as_str().unwrap_or(""),
        report["stable"].as_str().unwrap_or("")
    );
    for c in report["checks"].as_array().into_iter().flatten() {
        println!(
            "  {:<34} {:<4}  {}",
            c["check"].as_str().unwrap_or(""),
            c["status"].as_str().unwrap_or(""),
            c["detail"].as_str().unwrap_or("")
        );
    }
    let g = &report["golden_queries"];
    println!(
        "  golden queries: {} compared, {} identical, {} results added, {} lost, {} reordered",
        g["queries"], g["identical"], g["results_added"], g["results_lost"], g["reordered_queries"]
    );
    println!(
        "  {} (report: {})",
        if report["compatible"] == true {
            "compatible"
        } else {
            "INCOMPATIBLE"
        },
        path.display()
    );
}

#[derive(Debug, Args)]
pub struct CanaryArgs {
    #[command(subcommand)]
    pub action: CanaryAction,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, clap::Subcommand)]
pub enum CanaryAction {
    /// The rollout state as the store holds it (JSON).
    Status,
    /// Send the candidate to 0% at once (the kill switch).
    Kill {
        #[arg(long)]
        reason: String,
    },
    /// Move the candidate to its next stage (`--restart` after a rollback or the kill switch).
    Progress {
        #[arg(long)]
        restart: bool,
        /// Who approves (default: the user running the command).
        #[arg(long)]
        approved_by: Option<String>,
    },
}

/// `lens canary …`: the rollout changed from the CLI, under the same store
/// lock as the server (which notices within a second).
pub fn canary(a: CanaryArgs) -> anyhow::Result<ExitCode> {
    let store = a.store.open()?;
    let cfg = a.store.canary()?;
    let user = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    let reason = match &a.action {
        CanaryAction::Kill { reason } => Some(reason.clone()),
        _ => None,
    };
    let event = match a.action {
        CanaryAction::Status => {
            let s = current_state(&store)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&json!({
                    "generation": s.generation, "stage": s.stage_label(),
                    "traffic_percent": s.traffic_percent(), "state": s,
                }))?
            );
            return Ok(ExitCode::SUCCESS);
        }
        CanaryAction::Kill { reason } => Event::KillSwitch {
            reason,
            by: format!("cli:{user}"),
        },
        CanaryAction::Progress {
            restart,
            approved_by,
        } => Event::Progress {
            restart,
            approved_by: approved_by.or(Some(format!("cli:{user}"))),
        },
    };
    let kind = match &event {
        Event::KillSwitch { .. } => "killed",
        _ => "progressed",
    };
    let now = lens_server::server::canary::now_ms();
    let before = current_state(&store)?.stage_label();
    let next = match change_state(&store, |cur| apply(cur, event, now, &cfg))? {
        Ok((next, _)) => next,
        Err(refused) => return Ok(refused),
    };
    let line = json!({
        "time": lens_server::server::audit::now_rfc3339(), "event": kind,
        "by": format!("cli:{user}"), "generation": next.generation,
        "before": before, "after": next.stage_label(), "reason": reason,
    });
    store.append_event(&line)?;
    a.store.audit("lens canary", line)?;
    println!(
        "lens: {} (generation {})",
        next.stage_label(),
        next.generation
    );
    Ok(ExitCode::SUCCESS)
}
