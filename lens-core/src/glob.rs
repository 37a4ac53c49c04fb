//! `-g GLOB` filters with ripgrep's semantics: gitignore-style globs, `!`
//! excludes, and when any positive glob is given a file must match one. A
//! directory excluded by a glob excludes everything below it, as ripgrep's walk
//! never enters it.

use ignore::overrides::{Override, OverrideBuilder};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct GlobFilter {
    overrides: Override,
}

impl GlobFilter {
    pub fn new(globs: &[String]) -> Result<GlobFilter> {
        let mut b = OverrideBuilder::new(".");
        for g in globs {
            b.add(g).map_err(|e| Error::InvalidGlob {
                glob: g.clone(),
                reason: e.to_string(),
            })?;
        }
        let overrides = b.build().map_err(|e| Error::InvalidGlob {
            glob: globs.join(" "),
            reason: e.to_string(),
        })?;
        Ok(GlobFilter { overrides })
    }

    /// True when `path` (relative to its repository root) passes the globs.
    pub fn allows(&self, path: &str) -> bool {
        if self.overrides.is_empty() {
            return true;
        }
        let mut end = 0;
        while let Some(i) = path[end..].find('/') {
            let dir = &path[..end + i];
            if self.overrides.matched(dir, true).is_ignore() {
                return false;
            }
            end += i + 1;
        }
        !self.overrides.matched(path, false).is_ignore()
    }
}

#[cfg(test)]
mod tests {
    use super::GlobFilter;

    fn f(globs: &[&str]) -> GlobFilter {
        GlobFilter::new(&globs.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn whitelist_and_exclude() {
        let g = f(&["*.rs", "!tests/**"]);
        assert!(g.allows("src/a.rs"));
        assert!(!g.allows("src/a.c"));
        assert!(!g.allows("tests/a.rs"));
        let g = f(&["!vendor"]);
        assert!(!g.allows("vendor/x/a.c"));
        assert!(g.allows("src/vendor.c"));
        let g = f(&["src/**"]);
        assert!(g.allows("src/x/y.c"));
        assert!(!g.allows("lib/x.c"));
    }
}
