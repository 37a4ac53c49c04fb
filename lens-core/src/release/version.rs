//! Release versions: semver 2.0 (`1.0.0`, `1.0.0-rc.1`, `1.0.0+build.5`).
//!
//! A candidate must be newer than stable, and the compatibility gate checks
//! semver order, so ordering follows semver.org §11 exactly: pre-release
//! identifiers compare numerically when both are numeric (`rc.2 < rc.10`),
//! numeric identifiers sort before alphanumeric ones, a shorter identifier
//! list sorts first when all shared ones are equal, and any pre-release sorts
//! before its release (`1.0.0-rc.1 < 1.0.0`). Build metadata is kept for
//! display but ignored by ordering and equality.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What is wrong with a version string.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The input was empty.
    #[error("version is empty")]
    Empty,
    /// The core was not exactly `MAJOR.MINOR.PATCH`.
    #[error("version core {0:?} must be MAJOR.MINOR.PATCH")]
    CoreShape(String),
    /// A core number was empty, not decimal, or had a leading zero.
    #[error("{part} {value:?} must be a decimal number without leading zeros")]
    BadNumber {
        /// `major`, `minor` or `patch`.
        part: &'static str,
        /// The offending text.
        value: String,
    },
    /// A core number does not fit in 64 bits.
    #[error("{part} {value:?} is too large")]
    NumberTooLarge {
        /// `major`, `minor` or `patch`.
        part: &'static str,
        /// The offending text.
        value: String,
    },
    /// A pre-release or build identifier was empty (`1.0.0-rc..1`).
    #[error("{section} has an empty identifier")]
    EmptyIdentifier {
        /// `pre-release` or `build metadata`.
        section: &'static str,
    },
    /// An identifier held a character outside `[0-9A-Za-z-]`.
    #[error("{section} identifier {value:?} may hold only ASCII letters, digits and '-'")]
    BadCharacter {
        /// `pre-release` or `build metadata`.
        section: &'static str,
        /// The offending identifier.
        value: String,
    },
    /// A numeric pre-release identifier had a leading zero (`rc.01`).
    #[error("numeric pre-release identifier {0:?} has a leading zero")]
    LeadingZero(String),
}

/// One dot-separated pre-release identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// Digits only; compared numerically.
    Numeric(u64),
    /// Anything else; compared as ASCII.
    Alpha(String),
}

impl Ord for Identifier {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Identifier::Numeric(a), Identifier::Numeric(b)) => a.cmp(b),
            (Identifier::Numeric(_), Identifier::Alpha(_)) => Ordering::Less,
            (Identifier::Alpha(_), Identifier::Numeric(_)) => Ordering::Greater,
            (Identifier::Alpha(a), Identifier::Alpha(b)) => a.as_bytes().cmp(b.as_bytes()),
        }
    }
}

impl PartialOrd for Identifier {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identifier::Numeric(n) => write!(f, "{n}"),
            Identifier::Alpha(s) => f.write_str(s),
        }
    }
}

/// A semver 2.0 version. Equality and order ignore build metadata.
#[derive(Debug, Clone)]
pub struct Version {
    /// Incompatible changes.
    pub major: u64,
    /// Compatible additions.
    pub minor: u64,
    /// Fixes.
    pub patch: u64,
    /// Pre-release identifiers; empty for a release.
    pub pre: Vec<Identifier>,
    /// Build metadata identifiers, kept verbatim for display only.
    pub build: Vec<String>,
}

impl Version {
    /// A plain release version `major.minor.patch`.
    pub fn new(major: u64, minor: u64, patch: u64) -> Self {
        Version {
            major,
            minor,
            patch,
            pre: Vec::new(),
            build: Vec::new(),
        }
    }

    /// Parses a semver 2.0 string. A leading `v` is *not* accepted: release
    /// versions are written bare everywhere in lens.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        if input.is_empty() {
            return Err(ParseError::Empty);
        }
        let (rest, build) = match input.split_once('+') {
            Some((r, b)) => (r, Some(b)),
            None => (input, None),
        };
        let (core, pre) = match rest.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (rest, None),
        };
        let parts: Vec<&str> = core.split('.').collect();
        let [major, minor, patch] = parts.as_slice() else {
            return Err(ParseError::CoreShape(core.to_string()));
        };
        let major = parse_core_number("major", major)?;
        let minor = parse_core_number("minor", minor)?;
        let patch = parse_core_number("patch", patch)?;

        let mut pre_ids = Vec::new();
        if let Some(pre) = pre {
            for id in pre.split('.') {
                check_identifier("pre-release", id)?;
                if id.bytes().all(|b| b.is_ascii_digit()) {
                    if id.len() > 1 && id.starts_with('0') {
                        return Err(ParseError::LeadingZero(id.to_string()));
                    }
                    match id.parse::<u64>() {
                        Ok(n) => pre_ids.push(Identifier::Numeric(n)),
                        // Semver puts no bound on numeric identifiers; one
                        // beyond u64 is still a valid version, so keep it as
                        // text rather than refuse it.
                        Err(_) => pre_ids.push(Identifier::Alpha(id.to_string())),
                    }
                } else {
                    pre_ids.push(Identifier::Alpha(id.to_string()));
                }
            }
        }
        let mut build_ids = Vec::new();
        if let Some(build) = build {
            for id in build.split('.') {
                check_identifier("build metadata", id)?;
                build_ids.push(id.to_string());
            }
        }
        Ok(Version {
            major,
            minor,
            patch,
            pre: pre_ids,
            build: build_ids,
        })
    }

    /// True for a pre-release such as `1.0.0-rc.1`.
    pub fn is_prerelease(&self) -> bool {
        !self.pre.is_empty()
    }
}

fn parse_core_number(part: &'static str, value: &str) -> Result<u64, ParseError> {
    let bad = || ParseError::BadNumber {
        part,
        value: value.to_string(),
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if value.len() > 1 && value.starts_with('0') {
        return Err(bad());
    }
    value.parse().map_err(|_| ParseError::NumberTooLarge {
        part,
        value: value.to_string(),
    })
}

fn check_identifier(section: &'static str, id: &str) -> Result<(), ParseError> {
    if id.is_empty() {
        return Err(ParseError::EmptyIdentifier { section });
    }
    if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(ParseError::BadCharacter {
            section,
            value: id.to_string(),
        });
    }
    Ok(())
}

impl FromStr for Version {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Version::parse(s)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        for (i, id) in self.pre.iter().enumerate() {
            f.write_str(if i == 0 { "-" } else { "." })?;
            write!(f, "{id}")?;
        }
        for (i, id) in self.build.iter().enumerate() {
            f.write_str(if i == 0 { "+" } else { "." })?;
            f.write_str(id)?;
        }
        Ok(())
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                // Lexicographic over identifiers; a prefix sorts first.
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl std::hash::Hash for Version {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Consistent with Eq: build metadata is left out.
        (self.major, self.minor, self.patch, &self.pre).hash(state);
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Version::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).expect(s)
    }

    #[test]
    fn semver_org_precedence_chain() {
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ];
        for pair in chain.windows(2) {
            assert!(v(pair[0]) < v(pair[1]), "{} < {}", pair[0], pair[1]);
            assert!(v(pair[1]) > v(pair[0]));
        }
        // Transitively sorted from any shuffle.
        let mut shuffled: Vec<Version> = chain.iter().rev().map(|s| v(s)).collect();
        shuffled.sort();
        let got: Vec<String> = shuffled.iter().map(|x| x.to_string()).collect();
        assert_eq!(got, chain);
    }

    #[test]
    fn core_ordering_is_numeric() {
        assert!(v("1.0.0") < v("2.0.0"));
        assert!(v("2.0.0") < v("2.1.0"));
        assert!(v("2.1.0") < v("2.1.1"));
        assert!(v("1.9.0") < v("1.10.0"));
        assert!(v("1.0.0-rc.2") < v("1.0.0-rc.10"));
        assert!(v("1.0.0-rc.1") < v("1.0.0"));
        assert!(v("1.0.0") < v("1.0.1-rc.1"));
    }

    #[test]
    fn build_metadata_ignored_for_order_but_displayed() {
        assert_eq!(v("1.0.0+a"), v("1.0.0+b"));
        assert_eq!(v("1.0.0-rc.1+build.5").to_string(), "1.0.0-rc.1+build.5");
        assert_eq!(
            v("1.0.0+x").cmp(&v("1.0.0")),
            std::cmp::Ordering::Equal,
            "build metadata must not order"
        );
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "0.0.0",
            "1.2.3",
            "1.0.0-rc.1",
            "1.0.0-x-y.0.a",
            "10.20.30+meta.1-2",
        ] {
            assert_eq!(v(s).to_string(), s);
        }
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(Version::parse(""), Err(ParseError::Empty));
        assert!(matches!(
            Version::parse("1.0"),
            Err(ParseError::CoreShape(_))
        ));
        assert!(matches!(
            Version::parse("1.0.0.0"),
            Err(ParseError::CoreShape(_))
        ));
        assert!(matches!(
            Version::parse("01.0.0"),
            Err(ParseError::BadNumber { part: "major", .. })
        ));
        assert!(matches!(
            Version::parse("1.x.0"),
            Err(ParseError::BadNumber { part: "minor", .. })
        ));
        assert!(matches!(
            Version::parse("1.0.-1"),
            Err(ParseError::BadNumber { part: "patch", .. })
        ));
        assert!(matches!(
            Version::parse("99999999999999999999.0.0"),
            Err(ParseError::NumberTooLarge { .. })
        ));
        assert!(matches!(
            Version::parse("1.0.0-rc..1"),
            Err(ParseError::EmptyIdentifier {
                section: "pre-release"
            })
        ));
        assert!(matches!(
            Version::parse("1.0.0-"),
            Err(ParseError::EmptyIdentifier { .. })
        ));
        assert!(matches!(
            Version::parse("1.0.0+"),
            Err(ParseError::EmptyIdentifier {
                section: "build metadata"
            })
        ));
        assert!(matches!(
            Version::parse("1.0.0-rc_1"),
            Err(ParseError::BadCharacter { .. })
        ));
        assert!(matches!(
            Version::parse("1.0.0-rc.01"),
            Err(ParseError::LeadingZero(_))
        ));
        assert!(Version::parse("v1.0.0").is_err());
        assert!(Version::parse(" 1.0.0").is_err());
        // Errors read as plain words.
        let msg = Version::parse("1.0").unwrap_err().to_string();
        assert!(msg.contains("MAJOR.MINOR.PATCH"), "{msg}");
    }

    #[test]
    fn hyphens_inside_prerelease_are_allowed() {
        let x = v("1.0.0-rc-1.2");
        assert_eq!(
            x.pre,
            vec![Identifier::Alpha("rc-1".into()), Identifier::Numeric(2)]
        );
    }

    #[test]
    fn serde_as_string() {
        let x = v("1.0.0-rc.1");
        assert_eq!(serde_json::to_string(&x).unwrap(), "\"1.0.0-rc.1\"");
        let back: Version = serde_json::from_str("\"1.0.0-rc.1\"").unwrap();
        assert_eq!(back, x);
        assert!(serde_json::from_str::<Version>("\"1.0\"").is_err());
    }

    #[test]
    fn huge_numeric_prerelease_still_parses() {
        let x = v("1.0.0-99999999999999999999999");
        assert!(x.is_prerelease());
        assert!(x > v("1.0.0-5"));
    }
}
