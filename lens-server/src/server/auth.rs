//! API keys (stored as SHA-256, compared in constant time), scopes and the policy mode.

use sha2::{Digest, Sha256};

use super::config::KeyEntry;
use crate::errors::ErrorCode;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Search,
    Ops,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Search => "search",
            Scope::Ops => "ops",
        }
    }
}

/// `permissive` logs would-be denials; `enforce` blocks them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Permissive,
    Enforce,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Permissive => "permissive",
            Policy::Enforce => "enforce",
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No key presented.
    Anonymous,
    /// A key that matches no configured key.
    UnknownKey,
    Key {
        id: String,
        scopes: Vec<String>,
    },
}

impl Caller {
    pub fn key_id(&self) -> Option<&str> {
        match self {
            Caller::Key { id, .. } => Some(id),
            _ => None,
        }
    }
}

pub fn hash_key(key: &str) -> String {
    let d = Sha256::digest(key.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Finds the caller; every configured key is compared, so timing does not
/// reveal which (or whether an early) key matched.
pub fn identify(presented: Option<&str>, keys: &[KeyEntry]) -> Caller {
    let Some(key) = presented else {
        return Caller::Anonymous;
    };
    let h = hash_key(key);
    let mut found: Option<&KeyEntry> = None;
    for k in keys {
        if constant_time_eq(h.as_bytes(), k.sha256.as_bytes()) {
            found = Some(k);
        }
    }
    match found {
        Some(k) => Caller::Key {
            id: k.id.clone(),
            scopes: k.scopes.clone(),
        },
        None => Caller::UnknownKey,
    }
}

/// Why a call is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    MissingKey,
    InvalidKey,
    MissingScope,
}

impl Denial {
    pub fn code(self) -> ErrorCode {
        match self {
            Denial::MissingKey => ErrorCode::MissingKey,
            Denial::InvalidKey => ErrorCode::InvalidKey,
            Denial::MissingScope => ErrorCode::MissingScope,
        }
    }
}

/// Why a call would be refused; `None` means allowed.
pub fn check(caller: &Caller, needed: Option<Scope>) -> Option<Denial> {
    let needed = needed?;
    match caller {
        Caller::Anonymous => Some(Denial::MissingKey),
        Caller::UnknownKey => Some(Denial::InvalidKey),
        Caller::Key { scopes, .. } if !scopes.iter().any(|s| s == needed.as_str()) => {
            Some(Denial::MissingScope)
        }
        Caller::Key { .. } => None,
    }
}

/// A new random key (`lens_` + 43 base64url characters).
pub fn new_key() -> std::io::Result<String> {
    use base64::Engine;
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(format!(
        "lens_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifies_and_checks_scopes() {
        let keys = vec![KeyEntry {
            id: "ci".into(),
            sha256: hash_key("k1"),
            scopes: vec!["search".into()],
        }];
        let c = identify(Some("k1"), &keys);
        assert_eq!(c.key_id(), Some("ci"));
        assert_eq!(check(&c, Some(Scope::Search)), None);
        assert_eq!(check(&c, Some(Scope::Ops)), Some(Denial::MissingScope));
        assert_eq!(Denial::MissingScope.code().status().as_u16(), 403);
        assert_eq!(
            check(&identify(Some("nope"), &keys), Some(Scope::Search)),
            Some(Denial::InvalidKey)
        );
        assert_eq!(
            check(&identify(None, &keys), Some(Scope::Search)),
            Some(Denial::MissingKey)
        );
        assert_eq!(check(&Caller::Anonymous, None), None);
        assert!(new_key().unwrap().starts_with("lens_"));
    }
}
