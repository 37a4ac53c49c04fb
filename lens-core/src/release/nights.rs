//! Nights and promotability.
//!
//! A candidate is promotable after [`REQUIRED_NIGHTS`] passing nights in a
//! row, on consecutive calendar dates, on that same candidate. Counting walks
//! from the newest night back and stops at the first failing night, night of
//! another candidate, gap of more than a day, or unreadable date. A second
//! passing night on a date already counted (a drill via `force_night`) adds
//! nothing, so drills cannot compress three days into one.

use serde::{Deserialize, Serialize};

use super::version::Version;

/// Passing nights in a row needed for promotion.
pub const REQUIRED_NIGHTS: u32 = 3;

/// Counts of gate outcomes in a night.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GateSummary {
    /// Gates that passed.
    pub passed: u32,
    /// Gates that failed.
    pub failed: u32,
    /// Gates that could not run (count as not passed).
    pub skipped: u32,
}

/// One nightly validation of a candidate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NightRecord {
    /// Night number, increasing.
    pub night: u32,
    /// Calendar date, `YYYY-MM-DD`.
    pub date: String,
    /// The candidate validated.
    pub candidate_version: Version,
    /// Whether every gate passed.
    pub passed: bool,
    /// Gate outcomes.
    pub gates: GateSummary,
}

/// Days since 1970-01-01 of a proleptic Gregorian `YYYY-MM-DD` date, or
/// `None` if it is not exactly that shape or not a real date.
pub fn day_number(date: &str) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (y, m, d) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let max_day = *month_days.get(usize::try_from(m).ok()?.checked_sub(1)?)?;
    if d < 1 || d > max_day {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Passing nights in a row, on consecutive dates, for `candidate_version`,
/// counted back from the newest record. Records may come in any order; they
/// are ordered by night number (which increases by contract). Walking back,
/// dates must stay the same (a drill) or go back exactly one day; anything
/// else, including an unreadable date, ends the streak: fail safe.
pub fn consecutive_passing(records: &[NightRecord], candidate_version: &Version) -> u32 {
    let mut ordered: Vec<&NightRecord> = records.iter().collect();
    ordered.sort_by_key(|r| r.night);
    let mut count = 0;
    let mut last_day: Option<i64> = None;
    for r in ordered.iter().rev() {
        if &r.candidate_version != candidate_version || !r.passed {
            break;
        }
        let Some(day) = day_number(&r.date) else {
            break;
        };
        match last_day {
            None => count += 1,
            Some(prev) if prev == day => {} // another night on a counted date
            Some(prev) if prev - 1 == day => count += 1,
            Some(_) => break,
        }
        last_day = Some(day);
    }
    count
}

/// Whether `version` has at least `required` passing nights in a row.
pub fn promotable(records: &[NightRecord], version: &Version, required: u32) -> bool {
    consecutive_passing(records, version) >= required
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(night: u32, date: &str, version: &str, passed: bool) -> NightRecord {
        NightRecord {
            night,
            date: date.into(),
            candidate_version: Version::parse(version).unwrap(),
            passed,
            gates: GateSummary {
                passed: if passed { 6 } else { 5 },
                failed: u32::from(!passed),
                skipped: 0,
            },
        }
    }

    fn rc1() -> Version {
        Version::parse("1.0.0-rc.1").unwrap()
    }

    #[test]
    fn day_numbers() {
        assert_eq!(day_number("1970-01-01"), Some(0));
        assert_eq!(day_number("1970-01-02"), Some(1));
        assert_eq!(day_number("1969-12-31"), Some(-1));
        assert_eq!(day_number("2000-03-01"), Some(11_017));
        assert_eq!(
            day_number("2024-02-29").map(|d| d + 1),
            day_number("2024-03-01")
        );
        assert_eq!(
            day_number("2023-12-31").map(|d| d + 1),
            day_number("2024-01-01")
        );
        assert_eq!(day_number("2023-02-29"), None);
        assert_eq!(day_number("1900-02-29"), None);
        assert!(day_number("2000-02-29").is_some());
        for bad in [
            "2024-13-01",
            "2024-00-10",
            "2024-01-32",
            "2024-1-01",
            "2024/01/01",
            "",
            "abcd-ef-gh",
            "2024-01-01T",
        ] {
            assert_eq!(day_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn three_consecutive_passing_nights_promote() {
        let r = vec![
            rec(1, "2024-02-28", "1.0.0-rc.1", true),
            rec(2, "2024-02-29", "1.0.0-rc.1", true),
            rec(3, "2024-03-01", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&r, &rc1()), 3);
        assert!(promotable(&r, &rc1(), REQUIRED_NIGHTS));
        assert!(!promotable(&r[..2], &rc1(), REQUIRED_NIGHTS));
        // Order of the input does not matter.
        let mut rev = r.clone();
        rev.reverse();
        assert_eq!(consecutive_passing(&rev, &rc1()), 3);
    }

    #[test]
    fn failing_night_resets() {
        let r = vec![
            rec(1, "2024-01-01", "1.0.0-rc.1", true),
            rec(2, "2024-01-02", "1.0.0-rc.1", true),
            rec(3, "2024-01-03", "1.0.0-rc.1", false),
            rec(4, "2024-01-04", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&r, &rc1()), 1);
        assert_eq!(consecutive_passing(&r[..3], &rc1()), 0);
    }

    #[test]
    fn gap_in_dates_resets() {
        let r = vec![
            rec(1, "2024-01-01", "1.0.0-rc.1", true),
            rec(2, "2024-01-02", "1.0.0-rc.1", true),
            rec(3, "2024-01-04", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&r, &rc1()), 1);
    }

    #[test]
    fn different_candidate_resets() {
        let r = vec![
            rec(1, "2024-01-01", "1.0.0-rc.1", true),
            rec(2, "2024-01-02", "1.0.0-rc.1", true),
            rec(3, "2024-01-03", "1.0.0-rc.2", true),
        ];
        assert_eq!(consecutive_passing(&r, &rc1()), 0);
        let rc2 = Version::parse("1.0.0-rc.2").unwrap();
        assert_eq!(consecutive_passing(&r, &rc2), 1);
        // Build metadata is not a different candidate.
        let r2 = vec![rec(1, "2024-01-01", "1.0.0-rc.1+b1", true)];
        assert_eq!(consecutive_passing(&r2, &rc1()), 1);
    }

    #[test]
    fn drills_on_one_date_count_once() {
        let r = vec![
            rec(1, "2024-01-01", "1.0.0-rc.1", true),
            rec(2, "2024-01-01", "1.0.0-rc.1", true),
            rec(3, "2024-01-01", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&r, &rc1()), 1);
        // A failing drill later the same day still resets.
        let mut r2 = r.clone();
        r2.push(rec(4, "2024-01-01", "1.0.0-rc.1", false));
        assert_eq!(consecutive_passing(&r2, &rc1()), 0);
    }

    #[test]
    fn unreadable_date_breaks_the_streak() {
        let r = vec![
            rec(1, "2024-01-01", "1.0.0-rc.1", true),
            rec(2, "2024-01-02", "1.0.0-rc.1", true),
            rec(3, "yesterday", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&r, &rc1()), 0);
        // An old unreadable record no longer matters once a streak follows it.
        let r2 = vec![
            rec(1, "garbage", "1.0.0-rc.1", true),
            rec(2, "2024-01-02", "1.0.0-rc.1", true),
            rec(3, "2024-01-03", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&r2, &rc1()), 2);
        assert_eq!(consecutive_passing(&[], &rc1()), 0);
    }

    #[test]
    fn dates_going_forward_when_walking_back_break() {
        // Night 2 claims a later date than night 3: inconsistent, not counted.
        let r = vec![
            rec(1, "2024-01-01", "1.0.0-rc.1", true),
            rec(2, "2024-01-05", "1.0.0-rc.1", true),
            rec(3, "2024-01-02", "1.0.0-rc.1", true),
        ];
        assert_eq!(consecutive_passing(&r, &rc1()), 1);
    }

    #[test]
    fn record_serde() {
        let r = rec(7, "2024-01-01", "1.0.0-rc.1", true);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["candidate_version"], "1.0.0-rc.1");
        let back: NightRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }
}
