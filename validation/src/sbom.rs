//! The crates this build was made from (the workspace's `Cargo.lock`, read by
//! `build.rs` at build time, with each crate's declared licence where it
//! could be read offline), as a CycloneDX-like SBOM; the licence allow-list
//! and an offline RustSec advisory check over them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lens_core::release::Version;
use serde::Serialize;
use serde_json::{Value, json};

/// One crate of the lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub name: &'static str,
    pub version: &'static str,
    /// Cargo.lock's `source` (`registry+…`, `git+…`); `None` for a workspace (path) crate.
    pub source: Option<&'static str>,
    /// The SPDX expression of the crate's `license` field, if it was found.
    pub license: Option<&'static str>,
    /// Whether the crate's manifest was found when this binary was built (in
    /// `$CARGO_HOME/registry/src` for a registry crate): cargo extracts
    /// every crate it compiles there, so a registry crate without sources
    /// was not compiled on the build host (another target's or another
    /// package's dependency).
    pub sources_found: bool,
}

impl Dependency {
    pub fn is_registry(&self) -> bool {
        self.source
            .is_some_and(|s| s.starts_with("registry+") || s.starts_with("sparse+"))
    }

    pub fn is_workspace(&self) -> bool {
        self.source.is_none()
    }

    pub fn purl(&self) -> String {
        format!("pkg:cargo/{}@{}", self.name, self.version)
    }
}

include!(concat!(env!("OUT_DIR"), "/dependencies.rs"));

/// The crates of the workspace's `Cargo.lock` when this binary was built.
pub fn dependencies() -> &'static [Dependency] {
    DEPENDENCIES
}

/// A minimal CycloneDX 1.5 document of `deps`.
pub fn cyclonedx(deps: &[Dependency]) -> Value {
    let components: Vec<Value> = deps
        .iter()
        .map(|d| {
            let licenses = match d.license {
                Some(l) => json!([{"expression": l}]),
                None => json!([]),
            };
            let mut c = json!({
                "type": "library",
                "name": d.name,
                "version": d.version,
                "purl": d.purl(),
                "licenses": licenses,
            });
            if d.is_workspace() {
                c["scope"] = json!("required");
                c["properties"] = json!([{"name": "lens:workspace", "value": "true"}]);
            }
            c
        })
        .collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "component": {"type": "application", "name": "lens", "version": env!("CARGO_PKG_VERSION")},
        },
        "components": components,
    })
}

/// Licences a release may ship (permissive and weak copyleft SPDX ids).
pub const ALLOWED_LICENCES: &[&str] = &[
    "MIT",
    "Apache-2.0",
    "BSD-2-Clause",
    "BSD-3-Clause",
    "ISC",
    "Zlib",
    "Unicode-3.0",
    "Unicode-DFS-2016",
    "MPL-2.0",
    "CC0-1.0",
    "BSL-1.0",
    "0BSD",
    "Unlicense",
];

/// Licence exceptions (`X WITH E`) that only widen what `X` allows.
pub const ALLOWED_EXCEPTIONS: &[&str] = &["LLVM-exception"];

/// Whether an SPDX licence expression (`A OR B`, `A AND B`, `A WITH E`,
/// parentheses, and the legacy `A/B` meaning `A OR B`) can be satisfied with
/// the allowed licences: `OR` needs one side allowed, `AND` both; `None` if it
/// does not parse.
pub fn licence_allowed(expr: &str) -> Option<bool> {
    let spaced = expr
        .replace('/', " OR ")
        .replace('(', " ( ")
        .replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    if tokens.is_empty() {
        return None;
    }
    let mut p = Expr { tokens, at: 0 };
    let v = p.or()?;
    (p.at == p.tokens.len()).then_some(v)
}

struct Expr<'a> {
    tokens: Vec<&'a str>,
    at: usize,
}

impl<'a> Expr<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.tokens.get(self.at).copied()
    }
    fn eat(&mut self, word: &str) -> bool {
        if self.peek().is_some_and(|t| t.eq_ignore_ascii_case(word)) {
            self.at += 1;
            true
        } else {
            false
        }
    }
    fn or(&mut self) -> Option<bool> {
        let mut v = self.and()?;
        while self.eat("OR") {
            v |= self.and()?;
        }
        Some(v)
    }
    fn and(&mut self) -> Option<bool> {
        let mut v = self.atom()?;
        while self.eat("AND") {
            v &= self.atom()?;
        }
        Some(v)
    }
    fn atom(&mut self) -> Option<bool> {
        if self.eat("(") {
            let v = self.or()?;
            return self.eat(")").then_some(v);
        }
        let id = self.peek()?;
        if [")", "OR", "AND", "WITH"]
            .iter()
            .any(|k| id.eq_ignore_ascii_case(k))
        {
            return None;
        }
        self.at += 1;
        let id = id.trim_end_matches('+');
        let mut v = ALLOWED_LICENCES.iter().any(|a| a.eq_ignore_ascii_case(id));
        if self.eat("WITH") {
            let e = self.peek()?;
            self.at += 1;
            v &= ALLOWED_EXCEPTIONS.iter().any(|a| a.eq_ignore_ascii_case(e));
        }
        Some(v)
    }
}

/// The licence check of a crate list. Rules (RELEASES.md has no stricter
/// one): a declared licence must be satisfiable from [`ALLOWED_LICENCES`];
/// a registry crate whose sources were found but declare no `license` (a
/// `license-file` only) fails, since someone must read it; a registry crate
/// whose sources were not on the build host was not compiled there and is
/// only listed (`not_built_here`); a workspace crate without a licence is
/// ours and is only listed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LicenceCheck {
    pub crates: usize,
    /// `name@version: expression` of crates whose licence is not allowed.
    pub disallowed: Vec<String>,
    /// Registry crates whose sources declare no licence.
    pub unknown: Vec<String>,
    /// Registry (or git) crates whose sources were not on the build host.
    pub not_built_here: Vec<String>,
    /// Workspace crates without a licence.
    pub unknown_workspace: Vec<String>,
    /// How many crates carry each licence expression.
    pub by_licence: BTreeMap<String, usize>,
}

impl LicenceCheck {
    pub fn passed(&self) -> bool {
        self.disallowed.is_empty() && self.unknown.is_empty()
    }

    /// Crates whose licence was read.
    pub fn checked(&self) -> usize {
        self.by_licence.values().sum()
    }
}

pub fn check_licences(deps: &[Dependency]) -> LicenceCheck {
    let mut c = LicenceCheck {
        crates: deps.len(),
        ..LicenceCheck::default()
    };
    for d in deps {
        let id = format!("{}@{}", d.name, d.version);
        match d.license {
            Some(l) => {
                *c.by_licence.entry(l.to_string()).or_default() += 1;
                if licence_allowed(l) != Some(true) {
                    c.disallowed.push(format!("{id}: {l}"));
                }
            }
            None if d.is_workspace() => c.unknown_workspace.push(id),
            None if d.sources_found => c.unknown.push(id),
            None => c.not_built_here.push(id),
        }
    }
    c
}

/// Where cargo-audit keeps its advisory database: `$CARGO_HOME/advisory-db`
/// (CARGO_HOME defaults to `~/.cargo`).
pub fn default_advisory_db() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    Some(home.join("advisory-db"))
}

/// One RustSec advisory that applies to a crate of the list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub id: String,
    pub package: String,
    pub version: String,
    /// `unmaintained`, `unsound`, `notice` for an informational advisory.
    pub informational: Option<String>,
    pub patched: Vec<String>,
}

/// What the advisory check found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AdvisoryCheck {
    pub db: String,
    pub advisories_read: usize,
    /// Vulnerabilities affecting a crate's version: these fail the gate.
    pub vulnerable: Vec<Finding>,
    /// Informational advisories (unmaintained, unsound, notice): listed only.
    pub warnings: Vec<Finding>,
    /// Advisory files that did not parse, or versions that could not be compared.
    pub unreadable: Vec<String>,
}

/// Checks the registry crates of `deps` against an offline RustSec advisory
/// database (`DB/crates/NAME/RUSTSEC-*.md`); `Err` says why it could not run.
pub fn check_advisories(deps: &[Dependency], db: &Path) -> Result<AdvisoryCheck, String> {
    let crates = db.join("crates");
    if !crates.is_dir() {
        return Err(format!(
            "no advisory database at {} (no crates/ directory; `cargo audit fetch` makes one)",
            db.display()
        ));
    }
    let mut out = AdvisoryCheck {
        db: db.display().to_string(),
        ..AdvisoryCheck::default()
    };
    for d in deps.iter().filter(|d| d.is_registry()) {
        let dir = crates.join(d.name);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "md" || e == "toml"))
            .collect();
        files.sort();
        let Ok(version) = Version::parse(d.version) else {
            out.unreadable
                .push(format!("{}@{}: version does not parse", d.name, d.version));
            continue;
        };
        for f in files {
            let Some(a) = std::fs::read_to_string(&f)
                .ok()
                .and_then(|t| parse_advisory(&t))
            else {
                out.unreadable.push(f.display().to_string());
                continue;
            };
            out.advisories_read += 1;
            if a.withdrawn || (!a.package.is_empty() && a.package != d.name) {
                continue;
            }
            let matches = |reqs: &[String]| -> Option<bool> {
                let mut any = false;
                for r in reqs {
                    any |= version_matches(&version, r)?;
                }
                Some(any)
            };
            let (Some(patched), Some(unaffected)) = (matches(&a.patched), matches(&a.unaffected))
            else {
                out.unreadable
                    .push(format!("{}: a version requirement does not parse", a.id));
                continue;
            };
            if patched || unaffected {
                continue;
            }
            let finding = Finding {
                id: a.id,
                package: d.name.to_string(),
                version: d.version.to_string(),
                informational: a.informational.clone(),
                patched: a.patched,
            };
            if a.informational.is_some() {
                out.warnings.push(finding);
            } else {
                out.vulnerable.push(finding);
            }
        }
    }
    Ok(out)
}

struct Advisory {
    id: String,
    package: String,
    informational: Option<String>,
    withdrawn: bool,
    patched: Vec<String>,
    unaffected: Vec<String>,
}

/// The TOML front matter of a RustSec advisory (```` ```toml ```` … ```` ``` ````
/// in a `.md`, or the whole of a `.toml`): `[advisory] id, package,
/// informational, withdrawn` and `[versions] patched, unaffected`.
fn parse_advisory(text: &str) -> Option<Advisory> {
    let body = match text.find("```toml") {
        Some(i) => {
            let rest = &text[i + 7..];
            &rest[..rest.find("```")?]
        }
        None => text,
    };
    let mut a = Advisory {
        id: String::new(),
        package: String::new(),
        informational: None,
        withdrawn: false,
        patched: Vec::new(),
        unaffected: Vec::new(),
    };
    let mut table = String::new();
    let mut lines = body.lines();
    while let Some(line) = lines.next() {
        let t = line.trim();
        if t.starts_with('[') && !t.contains('=') {
            table = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            continue;
        }
        let Some((k, v)) = t.split_once('=') else {
            continue;
        };
        let (k, mut v) = (k.trim(), v.trim().to_string());
        if v.starts_with('[') {
            while !v.contains(']') {
                let Some(next) = lines.next() else { break };
                v.push_str(next.trim());
            }
        }
        match (table.as_str(), k) {
            ("advisory", "id") => a.id = strings(&v).into_iter().next()?,
            ("advisory", "package") => a.package = strings(&v).into_iter().next()?,
            ("advisory", "informational") => a.informational = strings(&v).into_iter().next(),
            ("advisory", "withdrawn") => a.withdrawn = true,
            ("versions", "patched") => a.patched = strings(&v),
            ("versions", "unaffected") => a.unaffected = strings(&v),
            _ => {}
        }
    }
    (!a.id.is_empty()).then_some(a)
}

/// The double-quoted strings of a TOML value.
fn strings(v: &str) -> Vec<String> {
    v.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Whether `v` meets a cargo version requirement (`>= 1.2.3`, `^0.9`,
/// `~1.2`, `= 1.0.0`, `< 2, >= 1.5`; a bare version is a caret); `None` if
/// it does not parse.
pub fn version_matches(v: &Version, req: &str) -> Option<bool> {
    let mut all = true;
    for part in req.split(',') {
        let part = part.trim();
        if part.is_empty() || part == "*" {
            continue;
        }
        let (op, rest) = [">=", "<=", ">", "<", "=", "^", "~"]
            .iter()
            .find_map(|op| part.strip_prefix(op).map(|r| (*op, r.trim())))
            .unwrap_or(("^", part));
        let (lo, parts) = partial(rest)?;
        let next = |i: usize| -> Version {
            let mut n = [lo.major, lo.minor, lo.patch];
            n[i] += 1;
            for x in n.iter_mut().skip(i + 1) {
                *x = 0;
            }
            Version::new(n[0], n[1], n[2])
        };
        let ok = match op {
            ">=" => *v >= lo,
            ">" => *v > lo,
            "<=" => *v <= lo,
            "<" => *v < lo,
            "=" => match parts {
                3 => *v == lo,
                _ => *v >= lo && *v < next(parts - 1),
            },
            "~" => *v >= lo && *v < next(if parts == 1 { 0 } else { 1 }),
            _ => {
                // Caret: the left-most non-zero component may not change.
                let i = if lo.major > 0 || parts == 1 {
                    0
                } else if lo.minor > 0 || parts == 2 {
                    1
                } else {
                    2
                };
                *v >= lo && *v < next(i)
            }
        };
        all &= ok;
    }
    Some(all)
}

/// `1`, `1.2` or `1.2.3[-pre]` as a version (missing parts 0) and how many parts it had.
fn partial(s: &str) -> Option<(Version, usize)> {
    if let Ok(v) = Version::parse(s) {
        return Some((v, 3));
    }
    let nums: Vec<u64> = s
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match nums.as_slice() {
        [a] => Some((Version::new(*a, 0, 0), 1)),
        [a, b] => Some((Version::new(*a, *b, 0), 2)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_expressions() {
        assert_eq!(licence_allowed("MIT"), Some(true));
        assert_eq!(licence_allowed("MIT OR Apache-2.0"), Some(true));
        assert_eq!(licence_allowed("MIT/Apache-2.0"), Some(true));
        assert_eq!(licence_allowed("GPL-3.0 OR MIT"), Some(true));
        assert_eq!(licence_allowed("GPL-3.0"), Some(false));
        assert_eq!(licence_allowed("MIT AND GPL-3.0"), Some(false));
        assert_eq!(
            licence_allowed("(MIT OR Apache-2.0) AND Unicode-3.0"),
            Some(true)
        );
        assert_eq!(
            licence_allowed("Apache-2.0 WITH LLVM-exception OR Apache-2.0 OR MIT"),
            Some(true)
        );
        assert_eq!(
            licence_allowed("GPL-2.0 WITH Classpath-exception-2.0"),
            Some(false)
        );
        assert_eq!(
            licence_allowed("Apache-2.0 WITH LLVM-exception"),
            Some(true)
        );
        assert_eq!(licence_allowed("(MIT"), None);
        assert_eq!(licence_allowed(""), None);
        assert_eq!(licence_allowed("MIT OR"), None);
    }

    #[test]
    fn version_requirements() {
        let v = |s| Version::parse(s).unwrap();
        assert_eq!(version_matches(&v("1.2.3"), ">= 1.2.0"), Some(true));
        assert_eq!(version_matches(&v("1.2.3"), ">= 1.2.4"), Some(false));
        assert_eq!(version_matches(&v("0.3.7"), "^0.3.5"), Some(true));
        assert_eq!(version_matches(&v("0.4.0"), "^0.3.5"), Some(false));
        assert_eq!(version_matches(&v("1.9.0"), "^1.2"), Some(true));
        assert_eq!(version_matches(&v("2.0.0"), "^1.2"), Some(false));
        assert_eq!(version_matches(&v("0.0.4"), "^0.0.3"), Some(false));
        assert_eq!(version_matches(&v("1.2.9"), "~1.2.3"), Some(true));
        assert_eq!(version_matches(&v("1.3.0"), "~1.2.3"), Some(false));
        assert_eq!(version_matches(&v("0.1.9"), "< 0.2, >= 0.1.5"), Some(true));
        assert_eq!(version_matches(&v("0.1.4"), "< 0.2, >= 0.1.5"), Some(false));
        assert_eq!(version_matches(&v("1.0.0"), "= 1.0.0"), Some(true));
        assert_eq!(version_matches(&v("1.0.0"), ">= x"), None);
    }
}
