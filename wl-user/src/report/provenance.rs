//! What made a report: which wl-user, when, with which command line, on which host.
//! Written at the top of every report and every interval line, so that a file found
//! later says where it came from.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Provenance {
    /// The version of the wl-user that wrote the report.
    pub wl_version: &'static str,
    /// When tracing started, in UTC (RFC 3339, to the millisecond).
    pub started_at: String,
    /// wl-user's own command line, as it was given.
    pub command_line: Vec<String>,
    /// The traced machine's host name.
    pub host: String,
}

impl Provenance {
    /// This process, starting now.
    pub fn now() -> Provenance {
        Provenance {
            wl_version: env!("CARGO_PKG_VERSION"),
            started_at: rfc3339(SystemTime::now()),
            command_line: std::env::args_os()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            host: nix::sys::utsname::uname()
                .map(|u| u.nodename().to_string_lossy().into_owned())
                .unwrap_or_default(),
        }
    }
}

/// `t` in UTC as RFC 3339 (`2026-12-07T03:49:33.123Z`).
pub fn rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        since.subsec_millis()
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01: the calendar's 400-year cycle
/// counted from 0000-03-01, so that the leap day ends each year.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn dates_read_like_date_u() {
        let at = |secs: u64, ms: u64| {
            rfc3339(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        // `date -u -d @951782400`: the leap day of a year divisible by 400.
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(951_868_799, 999), "2000-02-29T23:59:59.999Z");
        assert_eq!(at(1_798_688_973, 0), "2026-12-31T03:49:33.000Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn this_process_is_described() {
        let p = Provenance::now();
        assert_eq!(p.wl_version, env!("CARGO_PKG_VERSION"));
        assert!(!p.command_line.is_empty());
        assert!(p.started_at.ends_with('Z') && p.started_at.len() == 24);
    }
}
