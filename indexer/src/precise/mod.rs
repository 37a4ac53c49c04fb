//! Imports precise code intelligence (SCIP indexes, LSIF dumps) into a bundle:
//! positions become byte spans in the bundle's files, symbols get ids, roles
//! and hover text.

mod lsif;
mod scip;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use lens_core::bundle::PreciseSource;
use lens_core::precise::{self, Occurrence, PreciseWriter};

use crate::BuildError;

/// One imported occurrence before positions are mapped: 0-based line and column.
#[derive(Debug, Clone)]
pub(crate) struct RawOccurrence {
    pub path: String,
    pub start: (u32, u32),
    pub end: (u32, u32),
    pub symbol: String,
    pub flags: u32,
}

/// What an importer hands over: documents (relative to `root`), occurrences, hovers.
#[derive(Debug, Default)]
pub(crate) struct RawIndex {
    pub tool: String,
    /// Project root as a path (from a `file://` URI), if recorded.
    pub root: Option<PathBuf>,
    pub utf16: bool,
    pub documents: Vec<String>,
    pub occurrences: Vec<RawOccurrence>,
    pub hovers: HashMap<String, String>,
}

/// A bundle file an import can point at.
pub struct BundleFile {
    pub doc: u32,
    pub repo_root: PathBuf,
    pub path: String,
}

/// Precise inputs of a build.
#[derive(Debug, Clone, Default)]
pub struct PreciseInputs {
    pub scip: Vec<PathBuf>,
    pub lsif: Vec<PathBuf>,
}

impl PreciseInputs {
    pub fn is_empty(&self) -> bool {
        self.scip.is_empty() && self.lsif.is_empty()
    }
}

pub(crate) fn file_uri_path(uri: &str) -> Option<PathBuf> {
    uri.strip_prefix("file://")
        .map(|p| PathBuf::from(percent_decode(p)))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Imports every input; files are matched to bundle docs by path.
pub fn import(
    inputs: &PreciseInputs,
    files: &[BundleFile],
) -> Result<(PreciseWriter, Vec<PreciseSource>), BuildError> {
    let mut writer = PreciseWriter::new();
    let mut sources = Vec::new();
    for (format, path) in inputs
        .scip
        .iter()
        .map(|p| ("scip", p))
        .chain(inputs.lsif.iter().map(|p| ("lsif", p)))
    {
        let raw = match format {
            "scip" => scip::read(path)?,
            _ => lsif::read(path)?,
        };
        sources.push(add(&mut writer, format, path, raw, files)?);
    }
    Ok((writer, sources))
}

/// Bundle path of an index document: the project root's place inside a
/// repository, then the document path; otherwise the path as it is.
fn resolve<'a>(
    files: &'a [BundleFile],
    by_path: &HashMap<(&Path, &str), usize>,
    root: Option<&Path>,
    doc: &str,
) -> Option<&'a BundleFile> {
    if let Some(root) = root {
        let mut roots: Vec<&Path> = files.iter().map(|f| f.repo_root.as_path()).collect();
        roots.dedup();
        for repo_root in roots {
            if let Ok(rel) = root.strip_prefix(repo_root) {
                let full = rel.join(doc);
                if let Some(&i) = by_path.get(&(repo_root, full.to_string_lossy().as_ref())) {
                    return Some(&files[i]);
                }
            }
        }
    }
    files.iter().find(|f| f.path == doc)
}

/// An index document found in the bundle, with its content for position mapping.
struct Matched<'a> {
    file: &'a BundleFile,
    content: Vec<u8>,
    line_starts: Vec<u32>,
}

fn add(
    writer: &mut PreciseWriter,
    format: &str,
    file: &Path,
    raw: RawIndex,
    files: &[BundleFile],
) -> Result<PreciseSource, BuildError> {
    let by_path: HashMap<(&Path, &str), usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| ((f.repo_root.as_path(), f.path.as_str()), i))
        .collect();
    let mut matched: HashMap<&str, Option<Matched<'_>>> = HashMap::new();
    for d in &raw.documents {
        let entry = resolve(files, &by_path, raw.root.as_deref(), d).and_then(|f| {
            let content = std::fs::read(f.repo_root.join(&f.path)).ok()?;
            let starts = precise::line_starts(&content);
            Some(Matched {
                file: f,
                content,
                line_starts: starts,
            })
        });
        matched.insert(d.as_str(), entry);
    }
    let mut symbols = std::collections::HashSet::new();
    let mut count = 0u64;
    for o in &raw.occurrences {
        let Some(Some(Matched {
            file: f,
            content,
            line_starts: starts,
        })) = matched.get(o.path.as_str())
        else {
            continue;
        };
        let (Some(s), Some(e)) = (
            precise::position_to_byte(content, starts, o.start.0, o.start.1, raw.utf16),
            precise::position_to_byte(content, starts, o.end.0, o.end.1, raw.utf16),
        ) else {
            continue;
        };
        if e < s {
            continue;
        }
        let hover = raw.hovers.get(&o.symbol).cloned();
        let key = format!("{format}:{}", o.symbol);
        let symbol = writer.symbol(&key, hover);
        symbols.insert(symbol);
        writer.add(Occurrence {
            doc: f.doc,
            start: s,
            end: e,
            symbol,
            flags: o.flags,
        });
        count += 1;
    }
    Ok(PreciseSource {
        format: format.to_string(),
        file: file.to_string_lossy().into_owned(),
        tool: raw.tool,
        documents: raw.documents.len() as u64,
        documents_matched: matched.values().filter(|m| m.is_some()).count() as u64,
        occurrences: count,
        symbols: symbols.len() as u64,
    })
}

pub(crate) fn read_error(path: &Path, why: impl std::fmt::Display) -> BuildError {
    BuildError::Precise {
        path: path.to_path_buf(),
        reason: why.to_string(),
    }
}
