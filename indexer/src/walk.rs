//! Walks repositories with the `ignore` crate and lists what to index.

use std::path::{Path, PathBuf};

use ignore::WalkBuilder;
use lens_core::bundle::{Skip, SkipReason};

use crate::IndexOptions;

/// A repository to index: its name and root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    pub name: String,
    pub root: PathBuf,
}

impl RepoSpec {
    /// Parses `NAME=PATH` or `PATH` (the name is then the directory name).
    pub fn parse(arg: &str) -> RepoSpec {
        if let Some((name, path)) = arg
            .split_once('=')
            .filter(|(n, _)| !n.is_empty() && !n.contains('/'))
        {
            return RepoSpec {
                name: name.to_string(),
                root: PathBuf::from(path),
            };
        }
        let root = PathBuf::from(arg);
        let name = std::fs::canonicalize(&root)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| {
                arg.trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or(arg)
                    .to_string()
            });
        RepoSpec { name, root }
    }
}

/// A file found by the walk, not yet read.
#[derive(Debug, Clone)]
pub struct WalkedFile {
    pub repo: u16,
    pub rel_path: String,
    pub abs_path: PathBuf,
    pub size: u64,
}

/// Lists the files of one repository, recording oversized and unreadable ones as skips.
pub fn walk(
    repo_index: u16,
    spec: &RepoSpec,
    opts: &IndexOptions,
    files: &mut Vec<WalkedFile>,
    skips: &mut Vec<Skip>,
) {
    let ignore = !opts.no_ignore;
    let mut b = WalkBuilder::new(&spec.root);
    b.hidden(!opts.hidden)
        .ignore(ignore)
        .git_ignore(ignore)
        .git_global(ignore)
        .git_exclude(ignore)
        .parents(ignore)
        .require_git(false)
        .follow_links(false);
    for entry in b.build() {
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                let path = error_path(&err)
                    .map(|p| rel(&spec.root, p))
                    .unwrap_or_default();
                skips.push(Skip {
                    repo: spec.name.clone(),
                    path,
                    reason: SkipReason::Unreadable,
                    detail: Some(err.to_string()),
                });
                continue;
            }
        };
        let Some(ft) = entry.file_type() else {
            continue;
        };
        if !ft.is_file() {
            continue;
        }
        let rel_path = rel(&spec.root, entry.path());
        let size = match entry.metadata() {
            Ok(m) => m.len(),
            Err(err) => {
                skips.push(Skip {
                    repo: spec.name.clone(),
                    path: rel_path,
                    reason: SkipReason::Unreadable,
                    detail: Some(err.to_string()),
                });
                continue;
            }
        };
        if opts.max_file_size != 0 && size > opts.max_file_size {
            skips.push(Skip {
                repo: spec.name.clone(),
                path: rel_path,
                reason: SkipReason::TooLarge,
                detail: Some(format!("{size} bytes > {}", opts.max_file_size)),
            });
            continue;
        }
        files.push(WalkedFile {
            repo: repo_index,
            rel_path,
            abs_path: entry.into_path(),
            size,
        });
    }
}

fn error_path(err: &ignore::Error) -> Option<&Path> {
    match err {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        _ => None,
    }
}

fn rel(root: &Path, path: &Path) -> String {
    let p = path.strip_prefix(root).unwrap_or(path);
    let s = p.to_string_lossy();
    s.trim_start_matches("./").to_string()
}

/// The commit checked out in a git work tree, if any.
pub fn git_commit(root: &Path) -> Option<String> {
    let git = root.join(".git");
    let head = std::fs::read_to_string(git.join("HEAD")).ok()?;
    let head = head.trim();
    let Some(reference) = head.strip_prefix("ref: ") else {
        return Some(head.to_string());
    };
    if let Ok(c) = std::fs::read_to_string(git.join(reference)) {
        return Some(c.trim().to_string());
    }
    let packed = std::fs::read_to_string(git.join("packed-refs")).ok()?;
    packed
        .lines()
        .find_map(|l| l.strip_suffix(reference).map(|c| c.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::RepoSpec;

    #[test]
    fn repo_spec_names() {
        assert_eq!(RepoSpec::parse("kernel=/src/linux").name, "kernel");
        assert_eq!(RepoSpec::parse("/nonexistent/dir/proj/").name, "proj");
    }
}
