//! Which arm answers a request.
//!
//! Every client gets one **bucket** per candidate, `0..10000`, from a hash
//! that must never change between lens versions or machines: a client on the
//! candidate at 5% stays on it at 25% and 100%, and no client changes arm
//! within a stage. The hash is pinned here and in tests:
//!
//! `bucket = xxh3_64(candidate_version ++ "\0" ++ client) mod 10000`
//!
//! (xxh3 with seed 0 over the UTF-8 bytes). The NUL separator keeps
//! `("1.0.0-rc.1", "0abc")` and `("1.0.0-rc.10", "abc")` apart. The candidate
//! serves a request iff `bucket < share_percent × 100`.

use serde::{Deserialize, Serialize};

/// Number of buckets; a bucket is one hundredth of a percent of clients.
pub const BUCKETS: u16 = 10_000;

/// Which release answered a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arm {
    /// The release serving users.
    Stable,
    /// The release being rolled out.
    Candidate,
}

impl Arm {
    /// The name used in `X-Lens-Arm` and JSON bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Stable => "stable",
            Arm::Candidate => "candidate",
        }
    }
}

impl std::fmt::Display for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The client's bucket for this candidate, in `0..10000`. Stable across
/// processes, machines and lens versions (see the module doc).
pub fn bucket(candidate_version: &str, client: &str) -> u16 {
    let mut bytes = Vec::with_capacity(candidate_version.len() + 1 + client.len());
    bytes.extend_from_slice(candidate_version.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(client.as_bytes());
    let h = xxhash_rust::xxh3::xxh3_64(&bytes);
    // The remainder is < 10000, so it always fits in u16.
    (h % u64::from(BUCKETS)) as u16
}

/// The arm for a bucket at a candidate share in percent. Shares outside
/// `0..=100` (or NaN) are clamped so a bad figure can never send more than
/// everyone or fewer than no one; NaN sends no one (fail safe).
pub fn route(bucket: u16, share_percent: f64) -> Arm {
    if share_percent.is_nan() {
        return Arm::Stable;
    }
    let share = share_percent.clamp(0.0, 100.0);
    if f64::from(bucket) < share * 100.0 {
        Arm::Candidate
    } else {
        Arm::Stable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_values_never_change() {
        // If one of these fails, the hash changed and every client would be
        // re-bucketed mid-rollout. Do not update them casually.
        let pinned = [
            ("1.0.0-rc.1", "client-a"),
            ("1.0.0-rc.1", "client-b"),
            ("1.0.0-rc.2", "client-a"),
            ("2.3.4", "10.0.0.1"),
            ("", ""),
        ];
        let got: Vec<u16> = pinned.iter().map(|(v, c)| bucket(v, c)).collect();
        assert_eq!(got, PINNED);
        // The definition, spelled out independently.
        let h = xxhash_rust::xxh3::xxh3_64(b"1.0.0-rc.1\0client-a");
        assert_eq!(u64::from(got[0]), h % 10_000);
    }

    const PINNED: [u16; 5] = [8122, 3608, 9695, 5695, 1883];

    #[test]
    fn separator_matters() {
        assert_ne!(
            xxhash_rust::xxh3::xxh3_64(b"1.0.0-rc.1\x000abc"),
            xxhash_rust::xxh3::xxh3_64(b"1.0.0-rc.10\x00abc")
        );
    }

    #[test]
    fn buckets_in_range() {
        for i in 0..2000 {
            assert!(bucket("1.0.0", &format!("c{i}")) < BUCKETS);
        }
    }

    fn clients() -> Vec<String> {
        (0..10_000).map(|i| format!("client-{i}")).collect()
    }

    #[test]
    fn shares_are_close_to_target() {
        let cs = clients();
        for share in [5.0, 25.0, 100.0] {
            let n = cs
                .iter()
                .filter(|c| route(bucket("1.0.0-rc.1", c), share) == Arm::Candidate)
                .count();
            let got = n as f64 / cs.len() as f64 * 100.0;
            assert!((got - share).abs() <= 1.0, "share {share}: got {got}");
        }
    }

    #[test]
    fn zero_sends_nobody_and_hundred_sends_everyone() {
        for b in 0..BUCKETS {
            assert_eq!(route(b, 0.0), Arm::Stable);
            assert_eq!(route(b, 100.0), Arm::Candidate);
        }
        assert_eq!(route(0, -5.0), Arm::Stable);
        assert_eq!(route(0, f64::NAN), Arm::Stable);
        assert_eq!(route(9_999, 500.0), Arm::Candidate);
        assert_eq!(route(499, 5.0), Arm::Candidate);
        assert_eq!(route(500, 5.0), Arm::Stable);
    }

    #[test]
    fn monotone_across_stages() {
        for c in clients() {
            let b = bucket("1.0.0-rc.1", &c);
            if route(b, 5.0) == Arm::Candidate {
                assert_eq!(route(b, 25.0), Arm::Candidate, "{c}");
            }
            if route(b, 25.0) == Arm::Candidate {
                assert_eq!(route(b, 100.0), Arm::Candidate, "{c}");
            }
        }
    }

    #[test]
    fn arm_names() {
        assert_eq!(Arm::Stable.as_str(), "stable");
        assert_eq!(Arm::Candidate.to_string(), "candidate");
        assert_eq!(
            serde_json::to_string(&Arm::Candidate).unwrap(),
            "\"candidate\""
        );
        let a: Arm = serde_json::from_str("\"stable\"").unwrap();
        assert_eq!(a, Arm::Stable);
    }
}
