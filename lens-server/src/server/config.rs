//! `lens.toml`: listen address, policy, limits, audit log and hashed keys.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::auth::Policy;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_log: Option<PathBuf>,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyEntry>,
    /// How a candidate release is rolled out and judged.
    #[serde(default)]
    pub canary: lens_core::release::CanaryConfig,
    /// Injected faults for drills (off by default).
    #[serde(default)]
    pub drills: lens_core::release::DrillsConfig,
    /// Quality gates and nights: schedule, duration, labelled sets, release notes.
    #[serde(default)]
    pub validation: lens_core::release::ValidationConfig,
    /// The MCP endpoint at `/mcp`.
    #[serde(default)]
    pub mcp: McpConfig,
}

/// `[mcp]`: which `Host` (and browser `Origin`) values `/mcp` answers, against
/// DNS rebinding. A server reached by another name lists it here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct McpConfig {
    /// Host names or `host:port` authorities; `[]` accepts any (not advised).
    pub allowed_hosts: Vec<String>,
    /// Browser origins (`https://app.example.com:443`, `http://localhost:*`); `[]`: not checked.
    pub allowed_origins: Vec<String>,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    pub id: String,
    /// SHA-256 of the key, lower-case hex; the key itself is never stored.
    pub sha256: String,
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Sustained requests per second per key (or per client address without a key).
    pub requests_per_second: u32,
    /// Requests allowed in a burst.
    pub burst: u32,
    /// Searches running at once before new ones are shed with 503.
    pub max_inflight: usize,
    pub max_query_bytes: usize,
    pub max_body_bytes: usize,
    pub max_limit: usize,
    pub max_regex_bytes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            requests_per_second: 2000,
            burst: 4000,
            max_inflight: 64,
            max_query_bytes: lens_core::limits::MAX_QUERY_BYTES,
            max_body_bytes: 64 << 10,
            max_limit: 1000,
            max_regex_bytes: lens_core::limits::MAX_REGEX_SIZE_BYTES,
        }
    }
}

impl LimitsConfig {
    /// The limits a search request is validated against.
    pub fn request_limits(&self) -> lens_core::RequestLimits {
        lens_core::RequestLimits {
            max_query_bytes: self.max_query_bytes,
            max_limit: self.max_limit,
            max_regex_bytes: self.max_regex_bytes,
            ..lens_core::RequestLimits::default()
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Writes atomically (temporary file, fsync, rename).
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        use std::io::Write;
        let text = toml::to_string_pretty(self)?;
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}
