//! `wl-user diff --fail-on`: the conditions a CI gate fails on, their grammar, and
//! whether a comparison meets them.

use super::{Compared, Diff, Hit, Thresholds};

/// The grammar, for `--help`, README and error messages alike.
pub const GRAMMAR: &str = "new-syscall, gone-syscall, new-subsystem, gone-subsystem, new-errno, \
new-event, new-function, or METRIC:+N% / METRIC:-N% with METRIC one of calls, errors, p50, p99, \
subsystem-share";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Calls,
    Errors,
    P50,
    P99,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// NEW makes a syscall (name and ABI) that BASE does not.
    NewSyscall,
    /// BASE makes a syscall that NEW does not.
    GoneSyscall,
    NewSubsystem,
    GoneSubsystem,
    /// A syscall fails with an errno it did not fail with in BASE (or a new syscall fails).
    NewErrno,
    /// NEW has an event BASE does not: a signal, major faults of a file system, block
    /// I/O on a device or of an operation.
    NewEvent,
    /// NEW's profile has a kernel function with at least
    /// [`super::profile::NEW_FUNCTION_SHARE`] of its samples that BASE never sampled.
    NewFunction,
    /// A subsystem's share of the kernel samples rose (`rise`) or fell by more than
    /// `points` percentage points.
    ShareMoved {
        rise: bool,
        points: f64,
    },
    /// A syscall both made grew (`rise`) or shrank by more than `pct` percent.
    Moved {
        metric: Metric,
        rise: bool,
        pct: f64,
    },
}

/// A parsed `--fail-on`, each condition with the text it was written as.
#[derive(Debug, Clone, PartialEq)]
pub struct FailOn(pub Vec<(String, Condition)>);

impl FailOn {
    /// Parses `new-syscall,calls:+20%,...`. The error is one line for `--fail-on`.
    pub fn parse(spec: &str) -> Result<FailOn, String> {
        let mut conditions = Vec::new();
        for word in spec.split(',').map(str::trim) {
            let bad = |why: &str| {
                format!("--fail-on: '{word}' {why}; conditions are {GRAMMAR}, joined by commas")
            };
            let condition = match word {
                "" => return Err(bad("is empty")),
                "new-syscall" => Condition::NewSyscall,
                "gone-syscall" => Condition::GoneSyscall,
                "new-subsystem" => Condition::NewSubsystem,
                "gone-subsystem" => Condition::GoneSubsystem,
                "new-errno" => Condition::NewErrno,
                "new-event" => Condition::NewEvent,
                "new-function" => Condition::NewFunction,
                _ => {
                    let Some((metric, amount)) = word.split_once(':') else {
                        return Err(bad("is not a condition"));
                    };
                    let metric = match metric {
                        "calls" => Some(Metric::Calls),
                        "errors" => Some(Metric::Errors),
                        "p50" => Some(Metric::P50),
                        "p99" => Some(Metric::P99),
                        "subsystem-share" => None,
                        _ => return Err(bad(&format!("names no metric ('{metric}')"))),
                    };
                    let (rise, rest) = match amount.as_bytes().first() {
                        Some(b'+') => (true, &amount[1..]),
                        Some(b'-') => (false, &amount[1..]),
                        _ => return Err(bad("needs a sign: +N% for a rise, -N% for a fall")),
                    };
                    let pct: f64 = rest
                        .strip_suffix('%')
                        .and_then(|n| n.parse().ok())
                        .filter(|n: &f64| n.is_finite() && *n >= 0.0)
                        .ok_or_else(|| bad("needs a percentage such as +20%"))?;
                    match metric {
                        Some(metric) => Condition::Moved { metric, rise, pct },
                        // Shares are percentages already: N is in points.
                        None => Condition::ShareMoved { rise, points: pct },
                    }
                }
            };
            conditions.push((word.to_owned(), condition));
        }
        Ok(FailOn(conditions))
    }

    /// The conditions that hold for `diff`, each with the syscalls or subsystems that
    /// make it hold.
    pub fn check(&self, diff: &Diff) -> Vec<Hit> {
        self.0
            .iter()
            .filter_map(|(text, c)| {
                let because = reasons(*c, diff);
                (!because.is_empty()).then(|| Hit {
                    condition: text.clone(),
                    because,
                })
            })
            .collect()
    }
}

/// The process exit status for `diff`: 1 when a `--fail-on` condition holds, else 0.
/// (2, for trouble, is the command's.)
pub fn exit_code(hits: &[Hit]) -> u8 {
    u8::from(!hits.is_empty())
}

fn label(name: &str, abi: &str) -> String {
    crate::report::render::label_for(name, abi)
}

fn reasons(c: Condition, d: &Diff) -> Vec<String> {
    let s = &d.syscalls;
    match c {
        Condition::NewSyscall => s.appeared.iter().map(|r| label(&r.name, &r.abi)).collect(),
        Condition::GoneSyscall => s.vanished.iter().map(|r| label(&r.name, &r.abi)).collect(),
        Condition::NewSubsystem => d.subsystems.appeared.clone(),
        Condition::GoneSubsystem => d.subsystems.vanished.clone(),
        Condition::NewEvent => d.events.appeared.iter().map(|e| e.event.clone()).collect(),
        // A profile too short to judge holds no condition (a note says so).
        Condition::NewFunction | Condition::ShareMoved { .. } if !d.profile.enough_samples => {
            Vec::new()
        }
        Condition::NewFunction => d
            .profile
            .new_functions
            .iter()
            .map(|f| format!("{} ({:.1}% of the kernel samples)", f.name, f.new))
            .collect(),
        Condition::ShareMoved { rise, points } => d
            .profile
            .subsystems
            .iter()
            .filter(|s| {
                let moved = if rise { s.points() } else { -s.points() };
                moved > points
            })
            .map(|s| format!("{} {:.1}% -> {:.1}%", s.name, s.base, s.new))
            .collect(),
        Condition::NewErrno => {
            let fresh = s.appeared.iter().flat_map(|r| {
                r.errno
                    .keys()
                    .map(move |e| format!("{} {e}", label(&r.name, &r.abi)))
            });
            let grown = s.compared.iter().flat_map(|r| {
                r.errno
                    .iter()
                    .filter(|(_, c)| c.base == 0 && c.new > 0)
                    .map(move |(e, _)| format!("{} {e}", label(&r.name, &r.abi)))
            });
            fresh.chain(grown).collect()
        }
        Condition::Moved { metric, rise, pct } => s
            .compared
            .iter()
            .filter_map(|r| moved(r, metric, rise, pct, &d.thresholds))
            .collect(),
    }
}

/// `r`'s `metric` moved in the direction and by more than `pct`, as "name base -> new".
/// Counts must also move by more than the noise floor (`--count-min`), so that a
/// syscall made 3 times instead of 2 does not fail a gate; percentiles must have been
/// comparable.
fn moved(r: &Compared, metric: Metric, rise: bool, pct: f64, t: &Thresholds) -> Option<String> {
    let (what, change, counted) = match metric {
        Metric::Calls => ("calls", r.calls, true),
        Metric::Errors => ("errors", r.errors, true),
        Metric::P50 => ("p50", r.p50_ns?, false),
        Metric::P99 => ("p99", r.p99_ns?, false),
    };
    let (from, to) = if rise {
        (change.base, change.new)
    } else {
        (change.new, change.base)
    };
    if to <= from || (counted && to - from <= t.count_min) {
        return None;
    }
    // A rise from nothing is a rise by any percentage.
    let beyond = from == 0 || (to - from) as f64 * 100.0 / from as f64 > pct;
    let unit = if counted { "" } else { " ns" };
    beyond.then(|| {
        format!(
            "{} {what} {}{unit} -> {}{unit}",
            label(&r.name, &r.abi),
            change.base,
            change.new
        )
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{diff, report};
    use super::*;

    #[test]
    fn parses_the_documented_grammar() {
        let f = FailOn::parse("new-syscall, new-subsystem,calls:+20%,errors:+5%,p99:+50%,new-errno,p50:-10.5%,gone-syscall,gone-subsystem").unwrap();
        let conditions: Vec<Condition> = f.0.iter().map(|(_, c)| *c).collect();
        assert_eq!(
            conditions,
            [
                Condition::NewSyscall,
                Condition::NewSubsystem,
                Condition::Moved {
                    metric: Metric::Calls,
                    rise: true,
                    pct: 20.0
                },
                Condition::Moved {
                    metric: Metric::Errors,
                    rise: true,
                    pct: 5.0
                },
                Condition::Moved {
                    metric: Metric::P99,
                    rise: true,
                    pct: 50.0
                },
                Condition::NewErrno,
                Condition::Moved {
                    metric: Metric::P50,
                    rise: false,
                    pct: 10.5
                },
                Condition::GoneSyscall,
                Condition::GoneSubsystem,
            ]
        );
        assert_eq!(f.0[1].0, "new-subsystem");
    }

    #[test]
    fn refuses_bad_specs_in_one_line_naming_the_flag() {
        for (spec, why) in [
            ("new-sycall", "'new-sycall' is not a condition"),
            ("calls:20%", "'calls:20%' needs a sign"),
            ("calls:+20", "'calls:+20' needs a percentage"),
            ("calls:+x%", "'calls:+x%' needs a percentage"),
            ("p95:+5%", "'p95:+5%' names no metric ('p95')"),
            ("new-syscall,", "'' is empty"),
        ] {
            let e = FailOn::parse(spec).unwrap_err();
            assert!(e.starts_with(&format!("--fail-on: {why}")), "{spec}: {e}");
            assert!(
                e.ends_with(", joined by commas") && !e.contains('\n'),
                "{e}"
            );
        }
    }

    #[test]
    fn conditions_hold_only_beyond_their_amount_and_the_noise_floor() {
        let base = report(&[
            ("getppid", 1000, &[], 9),
            ("getsid", 5, &[], 9),
            ("rmdir", 9, &[("ENOENT", 9)], 12),
        ]);
        // getppid +30%; getsid +100% but only 5 calls more; rmdir fails anew with EACCES
        // and its p99 rises four times; getpgid is new.
        let new = report(&[
            ("getppid", 1300, &[], 9),
            ("getsid", 10, &[], 9),
            ("rmdir", 10, &[("ENOENT", 9), ("EACCES", 1)], 14),
            ("getpgid", 20, &[], 9),
        ]);
        let t = Thresholds {
            count_min: 8,
            ..Thresholds::default()
        };
        let d = super::super::compare("base.json", &base, "new.json", &new, t);
        let hits = |spec| FailOn::parse(spec).unwrap().check(&d);
        assert_eq!(
            hits("calls:+20%"),
            [Hit {
                condition: "calls:+20%".into(),
                because: vec!["getppid calls 1000 -> 1300".into()]
            }]
        );
        assert!(hits("calls:+30%").is_empty(), "+30% is not more than 30%");
        assert!(hits("calls:-20%").is_empty());
        assert_eq!(hits("new-syscall")[0].because, ["getpgid"]);
        assert!(hits("gone-syscall,new-subsystem,gone-subsystem").is_empty());
        assert_eq!(hits("new-errno")[0].because, ["rmdir EACCES"]);
        assert!(
            hits("errors:+5%").is_empty(),
            "one error more is below the floor"
        );
        // rmdir is timed 9 and 10 times: too few for the default count_min of 10, not
        // for 8; too few for a p99 in any case.
        assert_eq!(
            hits("p50:+50%")[0].because,
            ["rmdir p50 3186 ns -> 12288 ns"]
        );
        assert!(hits("p99:+50%").is_empty());
        let defaults = diff(&base, &new);
        let p50 = FailOn::parse("p50:+50%").unwrap().check(&defaults);
        assert!(p50.is_empty(), "{p50:?}");
        assert_eq!(exit_code(&hits("calls:+20%,p50:-1%")), 1);
        assert_eq!(exit_code(&hits("calls:+50%,gone-syscall")), 0);
        assert_eq!(exit_code(&[]), 0);
    }

    #[test]
    fn falls_and_new_errnos_of_new_syscalls() {
        let base = report(&[("getppid", 1000, &[], 9)]);
        let new = report(&[
            ("getppid", 400, &[], 9),
            ("openat", 3, &[("ENOENT", 3)], 12),
        ]);
        let d = diff(&base, &new);
        let hits = FailOn::parse("calls:-50%,new-errno,new-subsystem")
            .unwrap()
            .check(&d);
        let because: Vec<&[String]> = hits.iter().map(|h| &h.because[..]).collect();
        assert_eq!(
            because,
            [
                &["getppid calls 1000 -> 400".to_owned()][..],
                &["openat ENOENT".to_owned()][..],
                &["Filesystem".to_owned()][..]
            ]
        );
    }
}
