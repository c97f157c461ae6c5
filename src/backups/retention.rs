//! Which backups a retention rule keeps (`VERGEFLOW_BACKUP_KEEP`).
//!
//! A rule is a comma-separated list of terms, each keeping backups independently; a backup any
//! term keeps is kept, and the newest backup is always kept:
//! - `N` — the newest N backups;
//! - `Nh`, `Nd`, `Nw`, `Nm` — for each of the last N hours / days / ISO weeks / months that have a
//!   backup, the newest backup of that period (restic's `--keep-daily` and friends).
//!
//! The default `10,7d,4w` keeps the last ten backups, a week of dailies and a month of weeklies.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Term {
    Last(u32),
    Hourly(u32),
    Daily(u32),
    Weekly(u32),
    Monthly(u32),
}

/// Which hour, day, week or month a time falls in.
type Period = fn(OffsetDateTime) -> (i32, u32);

/// A parsed retention rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keep {
    terms: Vec<Term>,
    raw: String,
}

impl FromStr for Keep {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            let n: u32 = digits
                .parse()
                .ok()
                .filter(|n| (1..=100_000).contains(n))
                .ok_or_else(|| format!("'{part}' must start with a number from 1 to 100000"))?;
            terms.push(match &part[digits.len()..] {
                "" => Term::Last(n),
                "h" => Term::Hourly(n),
                "d" => Term::Daily(n),
                "w" => Term::Weekly(n),
                "m" => Term::Monthly(n),
                unit => return Err(format!("'{part}': unknown unit '{unit}' (use h, d, w, m or none)")),
            });
        }
        if terms.is_empty() {
            return Err("a retention rule needs at least one term, e.g. '7d,4w' or '10'".into());
        }
        Ok(Self { terms, raw: raw.trim().to_string() })
    }
}

impl fmt::Display for Keep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Keep {
    /// Given backup times (any order), the indexes of those to keep.
    pub fn select(&self, times: &[OffsetDateTime]) -> HashSet<usize> {
        let mut order: Vec<usize> = (0..times.len()).collect();
        order.sort_by(|a, b| times[*b].cmp(&times[*a]));
        let mut keep = HashSet::new();
        if let Some(newest) = order.first() {
            keep.insert(*newest);
        }
        for term in &self.terms {
            let (n, period): (u32, Period) = match *term {
                Term::Last(n) => {
                    keep.extend(order.iter().take(n as usize));
                    continue;
                }
                Term::Hourly(n) => (n, |t| (t.year(), t.ordinal() as u32 * 24 + t.hour() as u32)),
                Term::Daily(n) => (n, |t| (t.year(), t.ordinal() as u32)),
                Term::Weekly(n) => (n, |t| {
                    let (y, w, _) = t.to_iso_week_date();
                    (y, w as u32)
                }),
                Term::Monthly(n) => (n, |t| (t.year(), t.month() as u32)),
            };
            let mut seen = HashSet::new();
            for &i in &order {
                if seen.len() as u32 >= n {
                    break;
                }
                if seen.insert(period(times[i])) {
                    keep.insert(i);
                }
            }
        }
        keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn parses_rules_and_refuses_nonsense() {
        assert!("7d,4w".parse::<Keep>().is_ok());
        assert!("10".parse::<Keep>().is_ok());
        assert!("24h, 3m".parse::<Keep>().is_ok());
        for bad in ["", "0", "7x", "d", "-1", "7d,,w"] {
            assert!(bad.parse::<Keep>().is_err(), "{bad}");
        }
    }

    #[test]
    fn keeps_the_newest_of_each_period_and_always_the_newest() {
        let times = [
            datetime!(2026-11-28 12:00 UTC), // 0 newest
            datetime!(2026-11-28 06:00 UTC), // 1 same day
            datetime!(2026-11-27 23:00 UTC), // 2
            datetime!(2026-11-20 10:00 UTC), // 3 a week earlier
            datetime!(2026-10-01 10:00 UTC), // 4 two months earlier
        ];
        let days = "2d".parse::<Keep>().unwrap().select(&times);
        assert_eq!(days, HashSet::from([0, 2]));
        let count = "3".parse::<Keep>().unwrap().select(&times);
        assert_eq!(count, HashSet::from([0, 1, 2]));
        let weeks = "1d,3w".parse::<Keep>().unwrap().select(&times);
        assert_eq!(weeks, HashSet::from([0, 3, 4]));
        let months = "1m".parse::<Keep>().unwrap().select(&times);
        assert_eq!(months, HashSet::from([0]));
    }
}
