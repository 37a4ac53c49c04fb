//! `lens nightly-validation`, `lens check-signoff`, `lens promote` and
//! `lens rollback`: nights and the end of a rollout from the command line,
//! on the same store, log and rules as the server (`validation::nightly`,
//! `validation::signoff`). A running server notices a promotion or rollback
//! within a second and serves the new stable.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use lens_core::release::store::ReleaseStore;
use lens_core::release::{Event, NightLog, RolloutState, Version, apply};
use lens_core::{Engine, Model};
use serde_json::json;
use validation::nightly::{self, GateSides, NightPlan};
use validation::signoff;

use super::release::{StoreArgs, change_state, current_state, parse_version};

/// Exit code of a refusal (the error table's "refused").
const REFUSED: u8 = 3;

#[derive(Debug, Args)]
pub struct NightlyArgs {
    /// The longest the night may take, in minutes (default: [validation] night_minutes).
    #[arg(long, value_name = "MINUTES")]
    pub duration: Option<u64>,
    /// The candidate to validate (default: the store's candidate; must be it).
    #[arg(long)]
    pub version: Option<String>,
    /// A drill: record night N now (needs [drills] enabled = true).
    #[arg(long, value_name = "N")]
    pub force_night: Option<u32>,
    /// The embedding model for Stage-C gates (default: the one `lens search` finds).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct SignoffArgs {
    /// The candidate.
    #[arg(long)]
    pub version: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// Why (recorded in the event and audit logs).
    #[arg(long)]
    pub reason: Option<String>,
    #[command(flatten)]
    pub store: StoreArgs,
}

fn open_release(
    store: &ReleaseStore,
    v: &Version,
    model: &Option<PathBuf>,
) -> anyhow::Result<Engine> {
    let r = store.read_release(v)?;
    let ranking = store.read_ranking(v)?;
    let e = Engine::open(&store.bundle_of(&r), Model::lazy(model.clone()))
        .with_context(|| format!("opening release {v}"))?;
    Ok(e.with_ranking(ranking).for_release(&v.to_string()))
}

fn user() -> String {
    format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "unknown".into())
    )
}

fn nights_of(store: &ReleaseStore) -> Result<Vec<lens_core::release::NightRecord>, String> {
    NightLog::in_dir(&nightly::validation_dir(store.root()))
        .read()
        .map_err(|e| e.to_string())
}

pub fn nightly_validation(a: NightlyArgs) -> anyhow::Result<ExitCode> {
    let store = a.store.open()?;
    let config = a.store.server_config()?;
    let state = current_state(&store)?;
    let Some(cand) = state.candidate.as_ref().map(|c| c.version.clone()) else {
        eprintln!("lens: refused: there is no candidate to validate (lens cut-rc makes one)");
        return Ok(ExitCode::from(REFUSED));
    };
    if let Some(v) = &a.version {
        let v = parse_version(v)?;
        if v != cand {
            eprintln!("lens: refused: {v} is not the candidate; the candidate is {cand}");
            return Ok(ExitCode::from(REFUSED));
        }
    }
    if a.force_night.is_some() && !config.drills.enabled {
        eprintln!(
            "lens: refused: --force-night is a drill: it needs [drills] enabled = true in the config"
        );
        return Ok(ExitCode::from(REFUSED));
    }
    let minutes = a.duration.unwrap_or(config.validation.night_minutes);
    if minutes == 0 || minutes > 24 * 60 {
        anyhow::bail!("--duration {minutes}: a night takes 1 to 1440 minutes");
    }
    let stable_v = state
        .stable
        .as_ref()
        .map(|s| s.version.clone())
        .context("the rollout state names no stable release")?;
    let vdir = nightly::validation_dir(store.root());
    let log = NightLog::in_dir(&vdir);
    let now = lens_server::server::canary::now_ms();
    let plan = NightPlan {
        candidate_version: cand.clone(),
        baseline: stable_v.clone(),
        forced: a.force_night,
        by: user(),
        local_date: lens_server::server::quality::local_time(now / 1000).0,
        started_at: lens_server::server::audit::now_rfc3339(),
        budget: Duration::from_secs(minutes * 60),
    };
    if let Err(e) = nightly::check_plan(&log, &plan) {
        eprintln!("lens: refused: {e}");
        return Ok(ExitCode::from(REFUSED));
    }
    let candidate = open_release(&store, &cand, &a.model)?;
    let stable = open_release(&store, &stable_v, &a.model)?;
    let (cand_rec, stable_rec) = (store.read_release(&cand)?, store.read_release(&stable_v)?);
    let golden = validation::gates::golden::for_release(&store, &cand, &stable);
    let (queries, source) = nightly::replay_queries(&vdir, &golden);
    let mut gate_doc = serde_json::Value::Null;
    let run = nightly::run_night(
        &candidate,
        || {
            let started_at = lens_server::server::audit::now_rfc3339();
            let report = nightly::release_gates(
                &GateSides {
                    candidate: &candidate,
                    stable: &stable,
                    candidate_release: Some(&cand_rec),
                    stable_release: Some(&stable_rec),
                },
                &golden,
                &config.validation,
            );
            gate_doc = nightly::gate_document(
                &report,
                &cand,
                "candidate",
                &stable_v,
                &started_at,
                &golden,
            );
            report
        },
        &queries,
        source,
        plan.budget,
    );
    std::fs::create_dir_all(&vdir)?;
    store.write_file(
        &vdir.join("quality-gates.json"),
        serde_json::to_string_pretty(&gate_doc)?.as_bytes(),
    )?;
    let record = match nightly::record(&log, &plan, &run) {
        Ok(r) => r,
        Err(nightly::NightError::Refused(r)) => {
            eprintln!("lens: refused: {r}");
            return Ok(ExitCode::from(REFUSED));
        }
        Err(e) => return Err(e.into()),
    };
    let event = json!({
        "time": lens_server::server::audit::now_rfc3339(), "event": "night_recorded",
        "by": user(), "version": cand.to_string(), "night": record.night, "date": record.date,
        "forced": record.forced, "passed": record.passed, "gates": record.gates,
    });
    store.append_event(&event)?;
    a.store.audit("lens nightly-validation", event)?;
    let state = current_state(&store)?;
    let s = signoff::signoff(&state, &nights_of(&store), &cand, now, &config.canary);
    if a.json {
        println!("{}", json!({"night": record, "signoff": s}));
    } else {
        println!(
            "lens: night {} of {} ({}{}): {} in {:.1} s — {} passed, {} failed, {} skipped; replay {} searches, {} errors, p95 {:.2} ms",
            record.night,
            cand,
            record.date,
            if record.forced { ", forced" } else { "" },
            if record.passed { "PASSED" } else { "FAILED" },
            record.duration_ms as f64 / 1e3,
            record.gates.passed,
            record.gates.failed,
            record.gates.skipped,
            run.replay.requests,
            run.replay.errors,
            run.replay.p95_ms,
        );
        for g in record.results.iter().filter(|g| g.status != "pass") {
            let g_status = if g.not_applicable {
                "not applicable"
            } else {
                g.status.as_str()
            };
            println!(
                "  {} {g_status}: {}",
                g.gate,
                g.reason.as_deref().unwrap_or("")
            );
        }
        println!(
            "lens: {} of {} passing nights in a row",
            s.consecutive_passes, s.required_nights
        );
    }
    Ok(if record.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn print_signoff(s: &signoff::Signoff, json_out: bool) {
    if json_out {
        println!("{}", serde_json::to_string_pretty(s).unwrap_or_default());
        return;
    }
    println!(
        "lens: {}: {} ({} of {} passing nights in a row{})",
        s.version,
        if s.promotable {
            "PROMOTABLE"
        } else if s.signed_off {
            "signed off, not promotable yet"
        } else {
            "NOT signed off"
        },
        s.consecutive_passes,
        s.required_nights,
        if s.signed_off { ", signed off" } else { "" }
    );
    for b in &s.blocking_issues {
        println!("  - {b}");
    }
}

fn decide(
    a: &SignoffArgs,
) -> anyhow::Result<(ReleaseStore, RolloutState, Version, signoff::Signoff)> {
    let version = parse_version(&a.version)?;
    let store = a.store.open()?;
    let cfg = a.store.canary()?;
    let state = current_state(&store)?;
    let now = lens_server::server::canary::now_ms();
    let s = signoff::signoff(&state, &nights_of(&store), &version, now, &cfg);
    Ok((store, state, version, s))
}

/// Exits 0 only when `lens promote` would proceed.
pub fn check_signoff(a: SignoffArgs) -> anyhow::Result<ExitCode> {
    let (_, _, _, s) = decide(&a)?;
    print_signoff(&s, a.json);
    Ok(if s.promotable {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(REFUSED)
    })
}

/// Makes the candidate stable (keeping the previous stable for rollback),
/// atomically under the store lock, only with sign-off.
pub fn promote(a: SignoffArgs) -> anyhow::Result<ExitCode> {
    let (store, before, version, s) = decide(&a)?;
    if !s.promotable {
        eprintln!("lens: refused: {version} cannot be promoted:");
        for b in &s.blocking_issues {
            eprintln!("  - {b}");
        }
        return Ok(ExitCode::from(REFUSED));
    }
    let cfg = a.store.canary()?;
    let now = lens_server::server::canary::now_ms();
    let nights = nights_of(&store);
    // Sign-off is decided again under the lock: the state may have moved.
    let promoted = change_state(&store, |cur| {
        let signed_off = signoff::signoff(cur, &nights, &version, now, &cfg).signed_off;
        apply(cur, Event::Promote { signed_off }, now, &cfg)
    })?;
    let (next, effects) = match promoted {
        Ok(changed) => changed,
        Err(refused) => return Ok(refused),
    };
    let event = json!({
        "time": lens_server::server::audit::now_rfc3339(), "event": "promoted", "by": user(),
        "version": version.to_string(), "generation": next.generation, "effects": effects,
        "before": {"stable": before.stable.as_ref().map(|r| r.version.to_string()), "stage": before.stage_label()},
        "after": {"stable": version.to_string(), "stage": next.stage_label()},
        "signoff": s,
    });
    store.append_event(&event)?;
    a.store.audit("lens promote", event)?;
    println!(
        "lens: {version} is stable (previous {}, kept for `lens rollback`; generation {})",
        next.previous
            .as_ref()
            .map_or("none".to_string(), |p| p.version.to_string()),
        next.generation
    );
    Ok(ExitCode::SUCCESS)
}

/// Makes the previous stable the stable again.
pub fn rollback(a: RollbackArgs) -> anyhow::Result<ExitCode> {
    let store = a.store.open()?;
    let cfg = a.store.canary()?;
    let before = current_state(&store)?;
    let now = lens_server::server::canary::now_ms();
    let (next, effects) = match change_state(&store, |cur| apply(cur, Event::Rollback, now, &cfg))?
    {
        Ok(changed) => changed,
        Err(refused) => return Ok(refused),
    };
    let stable = next.stable.as_ref().map(|r| r.version.to_string());
    let event = json!({
        "time": lens_server::server::audit::now_rfc3339(), "event": "stable_restored",
        "by": user(), "reason": a.reason, "generation": next.generation, "effects": effects,
        "version": stable,
        "before": {"stable": before.stable.as_ref().map(|r| r.version.to_string())},
        "after": {"stable": stable},
    });
    store.append_event(&event)?;
    a.store.audit("lens rollback", event)?;
    println!(
        "lens: stable is {} again (replacing {}; generation {})",
        stable.unwrap_or_default(),
        before
            .stable
            .as_ref()
            .map_or("none".to_string(), |r| r.version.to_string()),
        next.generation
    );
    Ok(ExitCode::SUCCESS)
}
