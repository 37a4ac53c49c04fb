//! Gates on the release records and artifacts rather than on searches:
//! bundle and API compatibility, semver, the UPGRADE.md section and the
//! dependencies (licences, advisories).

use std::path::{Path, PathBuf};

use lens_core::bundle::manifest::{API_VERSION, FORMAT_VERSION, MIN_FORMAT_VERSION};
use lens_core::release::Version;
use lens_core::release::store::Release;
use serde_json::json;

use super::report::{GateResult, GateStatus};
use super::{COMPATIBILITY, DEPENDENCIES, RELEASE_NOTES, SEMVER};
use crate::sbom::{self, Dependency};

fn result(
    gate: &str,
    ok: bool,
    value: Option<f64>,
    threshold: Option<f64>,
    evidence: serde_json::Value,
    reason: impl FnOnce() -> String,
) -> GateResult {
    GateResult {
        gate: gate.to_string(),
        status: if ok {
            GateStatus::Pass
        } else {
            GateStatus::Fail
        },
        value,
        threshold,
        baseline: None,
        evidence,
        reason: (!ok).then(reason),
        not_applicable: false,
    }
}

/// The candidate's and the stable's release records against this build.
/// Rules: this build reads both bundle formats
/// (`MIN_FORMAT_VERSION..=FORMAT_VERSION`: the candidate to serve it, the
/// stable so that a rollback can serve the old one), and both serve this
/// build's API version (`API_VERSION`, the rule `/compat/bundles` applies),
/// so clients see the same API on either arm.
pub fn compatibility(candidate: &Release, stable: &Release) -> GateResult {
    let formats = MIN_FORMAT_VERSION..=FORMAT_VERSION;
    let checks = [
        (
            "candidate_format_readable",
            formats.contains(&candidate.format_version),
            format!(
                "candidate {} bundle format {} (this build reads {MIN_FORMAT_VERSION}..={FORMAT_VERSION})",
                candidate.version, candidate.format_version
            ),
        ),
        (
            "stable_format_readable",
            formats.contains(&stable.format_version),
            format!(
                "stable {} bundle format {} (this build reads {MIN_FORMAT_VERSION}..={FORMAT_VERSION}; a rollback serves it)",
                stable.version, stable.format_version
            ),
        ),
        (
            "candidate_api_version",
            candidate.api_version == API_VERSION,
            format!(
                "candidate API {} (this build serves {API_VERSION})",
                candidate.api_version
            ),
        ),
        (
            "stable_api_version",
            stable.api_version == API_VERSION,
            format!(
                "stable API {} (this build serves {API_VERSION})",
                stable.api_version
            ),
        ),
        (
            "api_versions_equal",
            candidate.api_version == stable.api_version,
            format!(
                "candidate API {} vs stable API {}",
                candidate.api_version, stable.api_version
            ),
        ),
    ];
    let passed = checks.iter().filter(|c| c.1).count();
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.1)
        .map(|c| c.2.as_str())
        .collect();
    let evidence = json!({
        "checks": checks
            .iter()
            .map(|(name, ok, detail)| json!({"check": name, "passed": ok, "detail": detail}))
            .collect::<Vec<_>>(),
        "this_build": {
            "format_versions_read": [MIN_FORMAT_VERSION, FORMAT_VERSION],
            "api_version": API_VERSION,
            "lens_version": env!("CARGO_PKG_VERSION"),
        },
        "candidate": {"version": candidate.version.to_string(), "format_version": candidate.format_version,
            "api_version": candidate.api_version, "built_by": candidate.built_by},
        "stable": {"version": stable.version.to_string(), "format_version": stable.format_version,
            "api_version": stable.api_version, "built_by": stable.built_by},
    });
    result(
        COMPATIBILITY,
        failed.is_empty(),
        Some(passed as f64 / checks.len() as f64),
        Some(1.0),
        evidence,
        || failed.join("; "),
    )
}

/// A version's text is valid semver exactly when it parses back to itself
/// (a `Version` assembled by hand may carry an empty or leading-zero identifier).
fn valid(v: &Version) -> bool {
    let text = v.to_string();
    Version::parse(&text).is_ok_and(|p| p == *v && p.to_string() == text)
}

/// The candidate's version is valid semver and strictly newer than the
/// stable's (semver precedence: `1.0.0-rc.1` < `1.0.0-rc.2` < `1.0.0`;
/// build metadata ignored).
pub fn semver(candidate: &Version, stable: &Version) -> GateResult {
    let (cv, sv) = (valid(candidate), valid(stable));
    let newer = candidate > stable;
    let order = match candidate.cmp(stable) {
        std::cmp::Ordering::Greater => "newer",
        std::cmp::Ordering::Equal => "equal",
        std::cmp::Ordering::Less => "older",
    };
    let evidence = json!({
        "candidate": candidate.to_string(),
        "stable": stable.to_string(),
        "candidate_valid": cv,
        "stable_valid": sv,
        "candidate_prerelease": candidate.is_prerelease(),
        "order": order,
    });
    result(SEMVER, cv && newer, None, None, evidence, || {
        let mut why = Vec::new();
        if !cv {
            why.push(format!("candidate version {candidate} is not valid semver"));
        }
        if !newer {
            why.push(format!(
                "candidate {candidate} is not newer than stable {stable} ({order})"
            ));
        }
        why.join("; ")
    })
}

/// Where the release notes are: `configured` (relative to `root` unless
/// absolute), else `root/UPGRADE.md`.
pub fn release_notes_path(root: &Path, configured: Option<&Path>) -> PathBuf {
    match configured {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => root.join(p),
        None => root.join("UPGRADE.md"),
    }
}

/// The heading text of a Markdown ATX heading line (`## 1.0.0` → `1.0.0`).
fn heading(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let hashes = t.len() - t.trim_start_matches('#').len();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = &t[hashes..];
    (rest.is_empty() || rest.starts_with([' ', '\t']))
        .then(|| rest.trim().trim_end_matches('#').trim())
}

/// Whether a heading names `version`: a word of it (split at spaces and
/// `[]()`:,;*`), less a leading `v`, is the version (without build
/// metadata) or its release (`1.0.0` for `1.0.0-rc.1`).
fn names_version(text: &str, version: &Version) -> Option<&'static str> {
    let release = format!("{}.{}.{}", version.major, version.minor, version.patch);
    let full = {
        let mut v = version.clone();
        v.build.clear();
        v.to_string()
    };
    let mut best = None;
    for word in text.split(|c: char| c.is_whitespace() || "[]():,;*`'\"".contains(c)) {
        let w = word.strip_prefix(['v', 'V']).unwrap_or(word);
        let w = w.split('+').next().unwrap_or(w);
        if w == full {
            return Some("version");
        }
        if w == release {
            best = Some("release");
        }
    }
    best
}

/// The release notes at `path` have a section whose heading names the
/// candidate's version (`## 1.0.0-rc.1`, `## v1.0.0-rc.1`,
/// `## [1.0.0-rc.1] - 2026-12-01`) or its release (`## 1.0.0`). Fails when
/// the file is missing or has no such section.
pub fn release_notes(path: &Path, version: &Version) -> GateResult {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            let why = if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "no release notes at {} (looked for the file there)",
                    path.display()
                )
            } else {
                format!("release notes at {} unreadable: {e}", path.display())
            };
            return result(
                RELEASE_NOTES,
                false,
                None,
                None,
                json!({"path": path.display().to_string(), "exists": false, "version": version.to_string()}),
                || why,
            );
        }
    };
    let mut headings = Vec::new();
    let mut found = None;
    let mut in_code = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        let Some(h) = heading(line).filter(|_| !in_code) else {
            continue;
        };
        if let Some(how) = names_version(h, version) {
            // An exact version heading wins over its release's.
            if found.is_none() || how == "version" {
                found = Some((i + 1, h.to_string(), how));
            }
            if how == "version" {
                break;
            }
        }
        headings.push(h.to_string());
    }
    let ok = found.is_some();
    headings.truncate(20);
    let evidence = json!({
        "path": path.display().to_string(),
        "exists": true,
        "version": version.to_string(),
        "section": found.as_ref().map(|(line, h, how)| json!({"line": line, "heading": h, "names": how})),
        "headings": headings,
    });
    result(RELEASE_NOTES, ok, None, None, evidence, || {
        format!(
            "{} has no section for {version} (a heading such as `## {version}`)",
            path.display()
        )
    })
}

/// The dependency list's licences against [`sbom::ALLOWED_LICENCES`]
/// (rules: [`sbom::LicenceCheck`]), and, when an offline RustSec database
/// exists (`advisory_db`, else `$CARGO_HOME/advisory-db`), its
/// vulnerabilities; without a database the evidence says
/// `"advisories": "skipped: …"` and the status is the licence check's.
/// Skipped when the licences could not be read at all (no crate sources on
/// the build host).
pub fn dependencies(deps: &[Dependency], advisory_db: Option<&Path>) -> GateResult {
    if deps.is_empty() {
        return GateResult::skipped(
            DEPENDENCIES,
            "the dependency list is empty (build.rs read no Cargo.lock)",
        );
    }
    let licences = sbom::check_licences(deps);
    let registry = deps.iter().filter(|d| d.is_registry()).count();
    let readable = deps.iter().any(|d| d.is_registry() && d.sources_found);
    let db = advisory_db
        .map(Path::to_path_buf)
        .or_else(sbom::default_advisory_db);
    let advisories = match &db {
        None => {
            Err("no advisory database location (neither CARGO_HOME nor HOME is set)".to_string())
        }
        Some(db) => sbom::check_advisories(deps, db),
    };
    let vulnerable = advisories.as_ref().map_or(0, |a| a.vulnerable.len());
    let mut why = Vec::new();
    if !licences.disallowed.is_empty() {
        why.push(format!(
            "licence not allowed: {}",
            licences.disallowed.join(", ")
        ));
    }
    if !licences.unknown.is_empty() {
        why.push(format!(
            "no licence declared (a registry crate; review its licence file): {}",
            licences.unknown.join(", ")
        ));
    }
    if let Ok(a) = &advisories
        && !a.vulnerable.is_empty()
    {
        why.push(format!(
            "vulnerable: {}",
            a.vulnerable
                .iter()
                .map(|f| format!("{} ({}@{})", f.id, f.package, f.version))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let failed = !why.is_empty();
    let evidence = json!({
        "crates": deps.len(),
        "registry_crates": registry,
        "workspace_crates": deps.iter().filter(|d| d.is_workspace()).count(),
        "licences_read": licences.checked(),
        "by_licence": licences.by_licence,
        "allowed": sbom::ALLOWED_LICENCES,
        "disallowed": licences.disallowed,
        "unknown_licence": licences.unknown,
        "not_built_here": licences.not_built_here,
        "unknown_workspace_licence": licences.unknown_workspace,
        "advisories": match &advisories {
            Ok(a) => serde_json::to_value(a).unwrap_or_default(),
            Err(e) => json!(format!("skipped: {e}")),
        },
    });
    let value = Some((licences.disallowed.len() + licences.unknown.len() + vulnerable) as f64);
    if !failed && registry > 0 && !readable {
        return GateResult {
            gate: DEPENDENCIES.to_string(),
            status: GateStatus::Skipped,
            value,
            threshold: Some(0.0),
            baseline: None,
            evidence,
            reason: Some(
                "no registry crate's sources were under $CARGO_HOME/registry/src when this binary was built: licences could not be read".into(),
            ),
            not_applicable: false,
        };
    }
    result(DEPENDENCIES, !failed, value, Some(0.0), evidence, || {
        why.join("; ")
    })
}
