//! Sign-off: whether a candidate may be promoted, and the case for it.
//!
//! A candidate is **signed off** after [`REQUIRED_NIGHTS`] passing nights in
//! a row (`lens_core::release::nights`); it is **promotable** when it is
//! signed off *and* the rollout would accept the promotion now (the
//! candidate at 100%, no kill switch). `lens check-signoff` exits 0, `lens
//! promote` proceeds and `promotion_ready` is true exactly when promotable:
//! one rule, computed here for the CLI and the server alike.

use std::collections::BTreeMap;

use lens_core::release::{
    CanaryConfig, Event, NightRecord, REQUIRED_NIGHTS, RolloutState, Version, apply,
    consecutive_passing,
};
use serde::Serialize;
use serde_json::{Value, json};

/// The verdict on one version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Signoff {
    pub version: String,
    /// Passing nights in a row on this candidate.
    pub consecutive_passes: u32,
    pub required_nights: u32,
    /// Enough passing nights.
    pub signed_off: bool,
    /// Signed off and the rollout would accept `promote` now.
    pub promotable: bool,
    /// Everything that stands in the way, in words a person can act on.
    pub blocking_issues: Vec<String>,
}

/// Decides sign-off for `version` from the rollout state and the night log
/// (`Err`: the log could not be read, which blocks).
pub fn signoff(
    state: &RolloutState,
    nights: &Result<Vec<NightRecord>, String>,
    version: &Version,
    now_ms: u64,
    cfg: &CanaryConfig,
) -> Signoff {
    let mut blocking = Vec::new();
    let candidate = state.candidate.as_ref().map(|c| &c.version);
    if candidate != Some(version) {
        blocking.push(match candidate {
            Some(c) => format!("{version} is not the candidate; the candidate is {c}"),
            None => format!("{version} is not the candidate; there is no candidate (lens cut-rc)"),
        });
    }
    let passes = match nights {
        Ok(n) => consecutive_passing(n, version),
        Err(e) => {
            blocking.push(format!("the night log cannot be read: {e}"));
            0
        }
    };
    if let Ok(n) = nights {
        let mine: Vec<&NightRecord> = n
            .iter()
            .filter(|r| &r.candidate_version == version)
            .collect();
        if passes < REQUIRED_NIGHTS {
            let mut line = format!(
                "{passes} of {REQUIRED_NIGHTS} passing nights in a row; {} more needed",
                REQUIRED_NIGHTS - passes
            );
            if let Some(last) = mine.last()
                && !last.passed
            {
                let failing: Vec<String> = last
                    .results
                    .iter()
                    .filter(|g| g.status != "pass" && !g.not_applicable)
                    .map(|g| match &g.reason {
                        Some(r) => format!("{} {} ({r})", g.gate, g.status),
                        None => format!("{} {}", g.gate, g.status),
                    })
                    .collect();
                line.push_str(&format!(
                    "; night {} on {} failed: {}",
                    last.night,
                    last.date,
                    if failing.is_empty() {
                        "the query replay had errors".to_string()
                    } else {
                        failing.join("; ")
                    }
                ));
            } else if mine.is_empty() {
                line.push_str(" (run `lens nightly-validation` or wait for the scheduler)");
            }
            blocking.push(line);
        }
    }
    if candidate == Some(version)
        && let Err(refusal) = apply(state, Event::Promote { signed_off: true }, now_ms, cfg)
    {
        blocking.extend(refusal.reasons.iter().map(ToString::to_string));
    }
    let signed_off = passes >= REQUIRED_NIGHTS;
    Signoff {
        version: version.to_string(),
        consecutive_passes: passes,
        required_nights: REQUIRED_NIGHTS,
        signed_off,
        promotable: signed_off && blocking.is_empty(),
        blocking_issues: blocking,
    }
}

fn night_json(r: &NightRecord) -> Value {
    json!({
        "night": r.night, "date": r.date, "candidate": r.candidate_version.to_string(),
        "kind": if r.forced { "forced" } else { "scheduled" }, "passed": r.passed,
        "by": r.by, "started_at": r.started_at, "duration_ms": r.duration_ms,
        "budget_ms": r.budget_ms, "gates": r.results, "summary": r.gates, "replay": r.replay,
        "baseline": r.baseline.as_ref().map(ToString::to_string),
    })
}

/// Per gate, its value and status night by night (oldest first), and the
/// change from the first night to the last.
pub fn trends(nights: &[&NightRecord]) -> Value {
    let mut by_gate: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for r in nights {
        for g in &r.results {
            by_gate.entry(g.gate.as_str()).or_default().push(
                json!({"night": r.night, "date": r.date, "status": g.status, "value": g.value}),
            );
        }
    }
    let out: serde_json::Map<String, Value> = by_gate
        .into_iter()
        .map(|(gate, points)| {
            let values: Vec<f64> = points.iter().filter_map(|p| p["value"].as_f64()).collect();
            let change = match (values.first(), values.last()) {
                (Some(a), Some(b)) if values.len() > 1 => Some(b - a),
                _ => None,
            };
            (
                gate.to_string(),
                json!({"points": points, "change": change}),
            )
        })
        .collect();
    Value::Object(out)
}

/// `GET /validation/status`'s document.
pub fn status(
    state: &RolloutState,
    nights: &Result<Vec<NightRecord>, String>,
    now_ms: u64,
    cfg: &CanaryConfig,
    schedule: Value,
) -> Value {
    let candidate = state.candidate.as_ref().map(|c| c.version.clone());
    let all: Vec<&NightRecord> = nights
        .as_ref()
        .map(|n| n.iter().collect())
        .unwrap_or_default();
    let mine: Vec<&NightRecord> = match &candidate {
        Some(v) => all
            .iter()
            .copied()
            .filter(|r| &r.candidate_version == v)
            .collect(),
        None => Vec::new(),
    };
    let s = candidate
        .as_ref()
        .map(|v| signoff(state, nights, v, now_ms, cfg));
    json!({"validation_status": {
        "candidate": candidate.as_ref().map(ToString::to_string),
        "stable": state.stable.as_ref().map(|r| r.version.to_string()),
        "promotion_ready": s.as_ref().is_some_and(|s| s.promotable),
        "signed_off": s.as_ref().is_some_and(|s| s.signed_off),
        "consecutive_passes": s.as_ref().map_or(0, |s| s.consecutive_passes),
        "required_nights": REQUIRED_NIGHTS,
        "blocking_issues": s.as_ref().map(|s| s.blocking_issues.clone()).unwrap_or_else(|| vec!["there is no candidate".to_string()]),
        "nights": mine.iter().map(|r| night_json(r)).collect::<Vec<_>>(),
        "trends": trends(&mine),
        "log": match nights { Ok(n) => json!({"readable": true, "nights": n.len()}), Err(e) => json!({"readable": false, "error": e}) },
        "schedule": schedule,
    }})
}

/// Everything an approver reads before promoting `version`.
pub struct CaseForPromotion<'a> {
    pub state: &'a RolloutState,
    pub nights: &'a Result<Vec<NightRecord>, String>,
    pub version: &'a Version,
    pub now_ms: u64,
    pub cfg: &'a CanaryConfig,
    /// The last quality-gate report (`quality_gates_report`), if any.
    pub quality_gates: Option<Value>,
    /// The rollout's event log lines about this candidate, oldest first.
    pub canary_history: Vec<Value>,
    pub generated_at: String,
}

/// `GET /validation/signoff-report` as JSON.
pub fn report_json(c: &CaseForPromotion<'_>) -> Value {
    let s = signoff(c.state, c.nights, c.version, c.now_ms, c.cfg);
    let mine: Vec<&NightRecord> = c
        .nights
        .as_ref()
        .map(|n| {
            n.iter()
                .filter(|r| &r.candidate_version == c.version)
                .collect()
        })
        .unwrap_or_default();
    let cand = c
        .state
        .candidate
        .as_ref()
        .filter(|k| &k.version == c.version);
    json!({"signoff_report": {
        "release": c.version.to_string(),
        "stable": c.state.stable.as_ref().map(|r| r.version.to_string()),
        "generated_at": c.generated_at,
        "decision": if s.promotable { "promotable" } else if s.signed_off { "signed off, not promotable yet" } else { "not signed off" },
        "signoff": s,
        "rollout": {
            "stage": c.state.stage_label(),
            "traffic_percent": c.state.traffic_percent(),
            "phase": cand.map(|k| k.phase.as_str()),
            "rollbacks": cand.map(|k| k.rollbacks),
            "kill_switch": cand.and_then(|k| k.killed.clone()),
            "intervals": cand.map(|k| k.intervals.clone()),
        },
        "nights": mine.iter().map(|r| night_json(r)).collect::<Vec<_>>(),
        "trends": trends(&mine),
        "quality_gates": c.quality_gates,
        "canary_history": c.canary_history,
    }})
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "–".into(),
        Value::Number(n) => n
            .as_f64()
            .map(|f| {
                if f.fract() == 0.0 {
                    format!("{f}")
                } else {
                    format!("{f:.4}")
                }
            })
            .unwrap_or_default(),
        Value::String(s) => s.replace('|', "\\|"),
        other => other.to_string().replace('|', "\\|"),
    }
}

/// The same report as Markdown, for a change ticket.
pub fn report_markdown(doc: &Value) -> String {
    let r = &doc["signoff_report"];
    let s = &r["signoff"];
    let mut md = format!(
        "# Sign-off report: {}\n\n- Decision: **{}**\n- Stable: {}\n- Generated: {}\n- Passing nights in a row: {} of {}\n- Rollout: {}\n\n",
        cell(&r["release"]),
        cell(&r["decision"]),
        cell(&r["stable"]),
        cell(&r["generated_at"]),
        cell(&s["consecutive_passes"]),
        cell(&s["required_nights"]),
        cell(&r["rollout"]["stage"]),
    );
    md.push_str("## Blocking issues\n\n");
    match s["blocking_issues"].as_array() {
        Some(b) if !b.is_empty() => {
            for i in b {
                md.push_str(&format!("- {}\n", cell(i)));
            }
        }
        _ => md.push_str("None.\n"),
    }
    md.push_str("\n## Nights\n\n| night | date | kind | passed | gates passed / failed / skipped | replay p95 ms | replay errors |\n|---:|---|---|---|---|---:|---:|\n");
    for n in r["nights"].as_array().into_iter().flatten() {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} / {} / {} | {} | {} |\n",
            cell(&n["night"]),
            cell(&n["date"]),
            cell(&n["kind"]),
            if n["passed"] == true { "yes" } else { "no" },
            cell(&n["summary"]["passed"]),
            cell(&n["summary"]["failed"]),
            cell(&n["summary"]["skipped"]),
            cell(&n["replay"]["p95_ms"]),
            cell(&n["replay"]["errors"]),
        ));
    }
    md.push_str(
        "\n## Gates by night\n\n| gate | values, oldest first | change |\n|---|---|---:|\n",
    );
    if let Some(t) = r["trends"].as_object() {
        for (gate, v) in t {
            let pts: Vec<String> = v["points"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| format!("{} ({})", cell(&p["value"]), cell(&p["status"])))
                .collect();
            md.push_str(&format!(
                "| {gate} | {} | {} |\n",
                pts.join(", "),
                cell(&v["change"])
            ));
        }
    }
    md.push_str("\n## Last quality gates\n\n");
    match r["quality_gates"]["gates"].as_array() {
        Some(gates) => {
            md.push_str(
                "| gate | status | value | threshold | baseline |\n|---|---|---:|---:|---:|\n",
            );
            for g in gates {
                md.push_str(&format!(
                    "| {} | {} | {} | {} | {} |\n",
                    cell(&g["gate"]),
                    cell(&g["status"]),
                    cell(&g["value"]),
                    cell(&g["threshold"]),
                    cell(&g["baseline"])
                ));
            }
        }
        None => md.push_str("No report (POST /validation/quality-gates).\n"),
    }
    md.push_str("\n## Canary history\n\n");
    let hist = r["canary_history"].as_array().cloned().unwrap_or_default();
    if hist.is_empty() {
        md.push_str("Nothing recorded.\n");
    }
    for h in hist {
        md.push_str(&format!(
            "- {} {} by {}{}\n",
            cell(&h["time"]),
            cell(&h["event"]),
            cell(&h["by"]),
            h["after"]["stage"]
                .as_str()
                .or(h["after"].as_str())
                .map(|s| format!(" → {s}"))
                .unwrap_or_default()
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use lens_core::release::{GateSummary, Phase};

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn night(n: u32, date: &str, passed: bool) -> NightRecord {
        NightRecord {
            night: n,
            date: date.into(),
            candidate_version: v("1.1.0-rc.1"),
            passed,
            gates: GateSummary::default(),
            forced: false,
            by: "test".into(),
            started_at: String::new(),
            duration_ms: 1,
            budget_ms: 1,
            results: Vec::new(),
            replay: None,
            baseline: None,
        }
    }

    /// A candidate at 100% under the default stages.
    fn at_full() -> (RolloutState, CanaryConfig) {
        let cfg = CanaryConfig {
            soak_seconds: vec![0, 0, 0],
            auto_progress: vec![false, false, false],
            ..CanaryConfig::default()
        };
        let mut s = RolloutState::with_stable(v("1.0.0"), 0);
        s = apply(
            &s,
            Event::CutCandidate {
                version: v("1.1.0-rc.1"),
            },
            1,
            &cfg,
        )
        .unwrap()
        .0;
        let c = s.candidate.as_mut().unwrap();
        c.phase = Phase::Rolling;
        c.stage_index = Some(2);
        (s, cfg)
    }

    #[test]
    fn promotable_needs_three_nights_and_full_traffic() {
        let (s, cfg) = at_full();
        let three = Ok(vec![
            night(1, "2026-01-01", true),
            night(2, "2026-01-02", true),
            night(3, "2026-01-03", true),
        ]);
        let ok = signoff(&s, &three, &v("1.1.0-rc.1"), 5, &cfg);
        assert!(ok.promotable && ok.signed_off, "{ok:?}");
        assert!(ok.blocking_issues.is_empty());
        let two = Ok(three.as_ref().unwrap()[..2].to_vec());
        let no = signoff(&s, &two, &v("1.1.0-rc.1"), 5, &cfg);
        assert!(!no.promotable && !no.signed_off);
        assert!(
            no.blocking_issues[0].contains("2 of 3"),
            "{:?}",
            no.blocking_issues
        );
        // Signed off but at 25%: not promotable, and it says why.
        let mut s25 = s.clone();
        s25.candidate.as_mut().unwrap().stage_index = Some(1);
        let held = signoff(&s25, &three, &v("1.1.0-rc.1"), 5, &cfg);
        assert!(held.signed_off && !held.promotable);
        assert!(
            held.blocking_issues.iter().any(|b| b.contains("100%")),
            "{:?}",
            held.blocking_issues
        );
        // Another version, or an unreadable log, never.
        assert!(!signoff(&s, &three, &v("1.1.0-rc.2"), 5, &cfg).promotable);
        let damaged: Result<Vec<NightRecord>, String> = Err("damaged".into());
        let d = signoff(&s, &damaged, &v("1.1.0-rc.1"), 5, &cfg);
        assert!(!d.promotable && d.blocking_issues[0].contains("cannot be read"));
    }

    #[test]
    fn a_failed_night_names_its_gates() {
        let (s, cfg) = at_full();
        let mut bad = night(2, "2026-01-02", false);
        bad.results.push(lens_core::release::NightGate {
            gate: "span_coverage".into(),
            status: "fail".into(),
            value: Some(0.5),
            threshold: Some(0.98),
            reason: Some("3 of 6 truth spans returned".into()),
            not_applicable: false,
        });
        let nights = Ok(vec![night(1, "2026-01-01", true), bad]);
        let so = signoff(&s, &nights, &v("1.1.0-rc.1"), 5, &cfg);
        assert!(
            so.blocking_issues[0].contains("span_coverage fail (3 of 6"),
            "{:?}",
            so.blocking_issues
        );
        let st = status(&s, &nights, 5, &cfg, Value::Null);
        assert_eq!(
            st["validation_status"]["nights"].as_array().unwrap().len(),
            2
        );
        assert_eq!(st["validation_status"]["promotion_ready"], false);
        assert_eq!(
            st["validation_status"]["trends"]["span_coverage"]["points"][0]["value"],
            0.5
        );
        let case = CaseForPromotion {
            state: &s,
            nights: &nights,
            version: &v("1.1.0-rc.1"),
            now_ms: 5,
            cfg: &cfg,
            quality_gates: None,
            canary_history: vec![json!({"time": "t", "event": "candidate_cut", "by": "cli"})],
            generated_at: "now".into(),
        };
        let md = report_markdown(&report_json(&case));
        assert!(md.contains("# Sign-off report: 1.1.0-rc.1"), "{md}");
        assert!(md.contains("not signed off"));
        assert!(md.contains("| span_coverage | 0.5000 (fail) |"), "{md}");
        assert!(md.contains("candidate_cut by cli"));
    }
}
