//! Comparing two reports, for `wl-user diff`: which syscalls and subsystems a workload
//! started or stopped using, which of its syscalls changed in calls, errors and
//! latency beyond noise, and the same of the events (signals, context switches, page
//! faults, block I/O). Rendering is in `render.rs`, the CI conditions in `fail_on.rs`.

pub mod fail_on;
pub mod profile;
pub mod render;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{
    percentile::percentile,
    read::{ReadEvent, ReadReport, ReadSyscall},
};

/// What counts as a change rather than noise.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Thresholds {
    /// A count (calls, errors, one errno) changes when it moves by more than this
    /// percentage of the base ...
    pub count_pct: f64,
    /// ... and by more than this many. Latency is compared only for syscalls timed at
    /// least this many times on both sides, fewer making percentiles noise; a
    /// percentile q needs 1/(1-q) timed calls too (100 for p99), or it is merely the
    /// slowest call.
    pub count_min: u64,
    /// A percentile changes when the larger is more than this percentage above the
    /// smaller. 100 (twice) is one log2 bucket, the estimate's own error.
    pub latency_pct: f64,
}

impl Default for Thresholds {
    fn default() -> Thresholds {
        Thresholds {
            count_pct: 5.0,
            count_min: 10,
            latency_pct: 100.0,
        }
    }
}

impl Thresholds {
    fn count_changed(&self, base: u64, new: u64) -> bool {
        let delta = base.abs_diff(new);
        delta > self.count_min && (base == 0 || delta as f64 * 100.0 / base as f64 > self.count_pct)
    }

    fn latency_changed(&self, base: u64, new: u64) -> bool {
        let (lo, hi) = (base.min(new).max(1), base.max(new).max(1));
        hi as f64 > lo as f64 * (1.0 + self.latency_pct / 100.0)
    }
}

/// One report as the comparison describes it.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub file: String,
    pub kernel_release: String,
    pub arch: String,
    /// `syscall_tables.linux` and `.origin`.
    pub tables: String,
    pub tables_origin: String,
    pub latency: bool,
    pub latency_sample: u32,
    pub duration_ns: u64,
}

/// A number on both sides, and whether it changed beyond the thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Change {
    pub base: u64,
    pub new: u64,
    pub changed: bool,
}

/// A syscall only one side made.
#[derive(Debug, Clone, Serialize)]
pub struct OneSided {
    pub name: String,
    pub abi: String,
    pub subsystem: String,
    pub calls: u64,
    pub errors: u64,
    pub errno: BTreeMap<String, u64>,
}

/// A syscall both sides made.
#[derive(Debug, Clone, Serialize)]
pub struct Compared {
    pub name: String,
    pub abi: String,
    pub subsystem: String,
    pub calls: Change,
    pub errors: Change,
    /// Every errno either side saw; one that appears or vanishes is always a change.
    pub errno: BTreeMap<String, Change>,
    /// Absent when latency cannot be compared (see [`Thresholds::count_min`]).
    pub p50_ns: Option<Change>,
    pub p99_ns: Option<Change>,
    /// Whether anything above changed.
    pub changed: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SyscallDiff {
    /// Made by NEW only, busiest first.
    pub appeared: Vec<OneSided>,
    /// Made by BASE only, busiest first.
    pub vanished: Vec<OneSided>,
    /// Made by both, in NEW's order (by time): those that changed, or all with `--all`.
    pub compared: Vec<Compared>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SubsystemDiff {
    /// `object` when both reports say which subsystem served each call (objects
    /// resolved), else `entry`: by each syscall's entry point.
    pub by: &'static str,
    pub appeared: Vec<String>,
    pub vanished: Vec<String>,
}

/// An event only one side had.
#[derive(Debug, Clone, Serialize)]
pub struct OneSidedEvent {
    /// `page fault file major ext4`, `signal SIGSEGV`, `block I/O vda write`.
    pub event: String,
    pub subsystem: String,
    pub calls: u64,
    pub bytes: Option<u64>,
}

/// An event both sides had.
#[derive(Debug, Clone, Serialize)]
pub struct ComparedEvent {
    pub event: String,
    pub subsystem: String,
    pub calls: Change,
    /// Block I/O: the bytes.
    pub bytes: Option<Change>,
    pub changed: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EventDiff {
    /// Whether both reports counted events; nothing below is filled otherwise.
    pub compared: bool,
    pub appeared: Vec<OneSidedEvent>,
    pub vanished: Vec<OneSidedEvent>,
    /// Had by both, in NEW's order: those that changed, or all with `--all`.
    pub changed: Vec<ComparedEvent>,
}

/// A `--fail-on` condition that held, with what made it hold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub condition: String,
    pub because: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub base: Side,
    pub new: Side,
    pub thresholds: Thresholds,
    /// What cannot be compared, or only with care.
    pub notes: Vec<String>,
    /// Whether percentiles were compared at all (both reports timed).
    pub latency_compared: bool,
    pub syscalls: SyscallDiff,
    pub subsystems: SubsystemDiff,
    pub events: EventDiff,
    /// Both reports' profiles (`--profile`), by share of the kernel samples.
    pub profile: profile::ProfileDiff,
    /// The `--fail-on` conditions that held.
    pub fail_on: Vec<Hit>,
}

fn side(file: &str, r: &ReadReport) -> Side {
    Side {
        file: file.to_owned(),
        kernel_release: r.kernel.release.clone(),
        arch: r.kernel.arch.clone(),
        tables: r.syscall_tables.linux.clone(),
        tables_origin: r.syscall_tables.origin.clone(),
        latency: r.latency,
        latency_sample: r.latency_sample.unwrap_or(0),
        duration_ns: r.duration_ns,
    }
}

fn one_sided(s: &ReadSyscall) -> OneSided {
    OneSided {
        name: s.name.clone(),
        abi: s.abi.clone(),
        subsystem: s.served_by.clone().unwrap_or_else(|| s.subsystem.clone()),
        calls: s.counts.calls,
        errors: s.counts.errors,
        errno: s.errno.clone(),
    }
}

fn abis(r: &ReadReport) -> BTreeSet<&str> {
    r.syscalls.iter().map(|s| s.abi.as_str()).collect()
}

fn notes(base: &ReadReport, new: &ReadReport) -> Vec<String> {
    let mut notes = Vec::new();
    for (which, r) in [("BASE", base), ("NEW", new)] {
        if let Some(only) = &r.only {
            notes.push(format!(
                "{which} counted only some calls ({}): what it left out shows as vanished or appeared",
                only.options()
            ));
        }
        if r.schema == 0 {
            notes.push(format!(
                "{which} has no schema number (an older wl-user wrote it): read as if every call was timed, or none with latency false"
            ));
        }
    }
    if base.kernel.arch != new.kernel.arch {
        notes.push(format!(
            "BASE was traced on {}, NEW on {}: their syscalls belong to different ABIs, so they show as vanished and appeared rather than compared",
            base.kernel.arch, new.kernel.arch
        ));
    } else if abis(base) != abis(new) {
        let list = |r| abis(r).into_iter().collect::<Vec<_>>().join(", ");
        notes.push(format!(
            "the reports hold different ABIs (BASE: {}; NEW: {}): the syscalls of an ABI only one has show as vanished or appeared",
            list(base),
            list(new)
        ));
    }
    if base.events.is_some() != new.events.is_some() {
        notes.push(
            "only one report counted events (the other ran with --events none or an older wl-user): events are not compared".to_owned(),
        );
    }
    if let (Some(b), Some(n)) = (&base.profile, &new.profile)
        && b.hz != n.hz
    {
        notes.push(format!(
            "the profiles were sampled at different rates (BASE {} Hz, NEW {} Hz): kernel time is compared by shares of the samples",
            b.hz, n.hz
        ));
    }
    if let (Some(b), Some(n)) = (&base.profile, &new.profile)
        && b.samples.min(n.samples) < profile::MIN_SAMPLES
    {
        notes.push(format!(
            "a profile has fewer than {} kernel samples (BASE {}, NEW {}): shares move by chance, and --fail-on new-function and subsystem-share are not judged (trace longer, or raise the --profile rate)",
            profile::MIN_SAMPLES, b.samples, n.samples
        ));
    }
    if base.profile.is_some() != new.profile.is_some() {
        notes.push(
            "only one report has a profile (the other ran without --profile): kernel time is not compared".to_owned(),
        );
    }
    if base.subsystems_by_object.is_some() != new.subsystems_by_object.is_some() {
        notes.push(
            "only one report resolved objects (the other ran with --objects none or an older wl-user): subsystems are compared by syscall entry point".to_owned(),
        );
    }
    if base.syscall_tables.linux != new.syscall_tables.linux {
        notes.push(format!(
            "the reports were named with different syscall tables (BASE: Linux {} from {}; NEW: Linux {} from {}): a syscall named in one and not the other (`syscall_<nr>`) shows as vanished and appeared",
            base.syscall_tables.linux,
            base.syscall_tables.origin,
            new.syscall_tables.linux,
            new.syscall_tables.origin
        ));
    }
    for (which, r) in [("BASE", base), ("NEW", new)] {
        if !r.latency {
            notes.push(format!(
                "{which} was not timed (--no-latency): latency is not compared"
            ));
        }
    }
    let (bs, ns) = (
        base.latency_sample.unwrap_or(0),
        new.latency_sample.unwrap_or(0),
    );
    if base.latency && new.latency && bs != ns {
        notes.push(format!(
            "BASE timed one call in {bs} per thread, NEW one in {ns}: percentiles come from different samples"
        ));
    }
    for (which, r) in [("BASE", base), ("NEW", new)] {
        let lost: Vec<String> = r
            .lost
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        if !lost.is_empty() {
            notes.push(format!(
                "{which} did not record everything ({}): its counts may be low",
                lost.join(", ")
            ));
        }
    }
    notes
}

/// Compares BASE with NEW. Every syscall both made is in `syscalls.compared`, changed
/// or not; [`Diff::only_changes`] drops the unchanged ones.
pub fn compare(
    base_file: &str,
    base: &ReadReport,
    new_file: &str,
    new: &ReadReport,
    t: Thresholds,
) -> Diff {
    let key = |s: &ReadSyscall| (s.name.clone(), s.abi.clone());
    let base_rows: BTreeMap<_, &ReadSyscall> = base.syscalls.iter().map(|s| (key(s), s)).collect();
    let new_rows: BTreeMap<_, &ReadSyscall> = new.syscalls.iter().map(|s| (key(s), s)).collect();
    let latency_compared = base.latency && new.latency;

    let mut syscalls = SyscallDiff::default();
    for s in &new.syscalls {
        let Some(b) = base_rows.get(&key(s)) else {
            syscalls.appeared.push(one_sided(s));
            continue;
        };
        let count = |b, n| Change {
            base: b,
            new: n,
            changed: t.count_changed(b, n),
        };
        let errno: BTreeMap<String, Change> = b
            .errno
            .keys()
            .chain(s.errno.keys())
            .map(|e| {
                let (bn, nn) = (
                    b.errno.get(e).copied().unwrap_or(0),
                    s.errno.get(e).copied().unwrap_or(0),
                );
                let change = Change {
                    base: bn,
                    new: nn,
                    changed: (bn == 0) != (nn == 0) || t.count_changed(bn, nn),
                };
                (e.clone(), change)
            })
            .collect();
        let timed = |r: &ReadSyscall| r.timed_calls.unwrap_or(0);
        let pct = |q: f64| {
            let enough = t.count_min.max((1.0 / (1.0 - q)).round() as u64);
            let comparable = latency_compared && timed(b) >= enough && timed(s) >= enough;
            comparable.then(|| {
                let bp = percentile(&b.latency_log2, q, b.min_ns, b.max_ns);
                let np = percentile(&s.latency_log2, q, s.min_ns, s.max_ns);
                Change {
                    base: bp,
                    new: np,
                    changed: t.latency_changed(bp, np),
                }
            })
        };
        let mut c = Compared {
            name: s.name.clone(),
            abi: s.abi.clone(),
            subsystem: s.served_by.clone().unwrap_or_else(|| s.subsystem.clone()),
            calls: count(b.counts.calls, s.counts.calls),
            errors: count(b.counts.errors, s.counts.errors),
            errno,
            p50_ns: pct(0.5),
            p99_ns: pct(0.99),
            changed: false,
        };
        c.changed = c.calls.changed
            || c.errors.changed
            || c.errno.values().any(|e| e.changed)
            || [c.p50_ns, c.p99_ns].iter().flatten().any(|p| p.changed);
        syscalls.compared.push(c);
    }
    syscalls.vanished = base
        .syscalls
        .iter()
        .filter(|s| !new_rows.contains_key(&key(s)))
        .map(one_sided)
        .collect();
    // Busiest first: reports sort by time, which an untimed report does not have.
    for list in [&mut syscalls.appeared, &mut syscalls.vanished] {
        list.sort_by(|a, b| b.calls.cmp(&a.calls).then_with(|| a.name.cmp(&b.name)));
    }

    // By what served the calls where both reports know it: a workload that starts
    // talking to a socket shows Network appearing, though write was Filesystem before.
    let by_object = base.subsystems_by_object.is_some() && new.subsystems_by_object.is_some();
    // The subsystems the events and io_uring operations reached count where both
    // reports counted them; otherwise only those of the syscalls.
    let with_events = base.events.is_some() && new.events.is_some();
    let names = |r: &ReadReport| -> BTreeSet<String> {
        let rows = match (&r.subsystems_by_object, by_object) {
            (Some(rows), true) => rows,
            _ => &r.subsystems,
        };
        rows.iter()
            .filter(|s| with_events || s.syscalls != Some(0))
            .map(|s| s.name.clone())
            .collect()
    };
    let (bsub, nsub) = (names(base), names(new));
    let subsystems = SubsystemDiff {
        by: if by_object { "object" } else { "entry" },
        appeared: nsub.difference(&bsub).cloned().collect(),
        vanished: bsub.difference(&nsub).cloned().collect(),
    };

    Diff {
        base: side(base_file, base),
        new: side(new_file, new),
        thresholds: t,
        notes: notes(base, new),
        latency_compared,
        syscalls,
        subsystems,
        events: compare_events(base.events.as_deref(), new.events.as_deref(), &t),
        profile: profile::compare(base.profile.as_ref(), new.profile.as_ref()),
        fail_on: Vec::new(),
    }
}

/// The events of two reports, keyed by what they are (`page fault file minor ext4`).
fn compare_events(
    base: Option<&[ReadEvent]>,
    new: Option<&[ReadEvent]>,
    t: &Thresholds,
) -> EventDiff {
    let (Some(base), Some(new)) = (base, new) else {
        return EventDiff::default();
    };
    let one_sided = |e: &ReadEvent| OneSidedEvent {
        event: e.label(),
        subsystem: e.subsystem.clone(),
        calls: e.calls,
        bytes: e.bytes,
    };
    let base_rows: BTreeMap<String, &ReadEvent> = base.iter().map(|e| (e.label(), e)).collect();
    let new_labels: BTreeSet<String> = new.iter().map(ReadEvent::label).collect();
    let mut diff = EventDiff {
        compared: true,
        ..EventDiff::default()
    };
    for e in new {
        let Some(b) = base_rows.get(&e.label()) else {
            diff.appeared.push(one_sided(e));
            continue;
        };
        let count = |b, n| Change {
            base: b,
            new: n,
            changed: t.count_changed(b, n),
        };
        let calls = count(b.calls, e.calls);
        let bytes = b.bytes.zip(e.bytes).map(|(b, n)| count(b, n));
        diff.changed.push(ComparedEvent {
            event: e.label(),
            subsystem: e.subsystem.clone(),
            calls,
            bytes,
            changed: calls.changed || bytes.is_some_and(|b| b.changed),
        });
    }
    diff.vanished = base
        .iter()
        .filter(|e| !new_labels.contains(&e.label()))
        .map(one_sided)
        .collect();
    diff
}

impl Diff {
    /// Keeps, of the syscalls both made, those that changed.
    pub fn only_changes(&mut self) {
        self.syscalls.compared.retain(|c| c.changed);
        self.events.changed.retain(|c| c.changed);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// (name, calls, errno list, latency bucket of every call).
    pub type Row<'a> = (&'a str, u64, &'a [(&'a str, u64)], usize);

    /// A report of `rows`, each of its calls timed.
    pub fn report(rows: &[Row]) -> ReadReport {
        let syscalls: Vec<String> = rows
            .iter()
            .map(|(name, calls, errno, bucket)| {
                let errors: u64 = errno.iter().map(|(_, n)| n).sum();
                let errno: Vec<String> =
                    errno.iter().map(|(e, n)| format!("\"{e}\": {n}")).collect();
                let mut hist = vec![0; bucket + 1];
                hist[*bucket] = *calls;
                let (min, max) = (1u64 << (bucket - 1), (1u64 << bucket) - 1);
                let subsystem = if name.starts_with("get") {
                    "Process Mgmt."
                } else {
                    "Filesystem"
                };
                format!(
                    r#"{{"name": "{name}", "abi": "x86_64", "calls": {calls}, "errors": {errors},
                       "errno": {{{}}}, "timed_calls": {calls}, "min_ns": {min}, "max_ns": {max},
                       "latency_log2": {hist:?}, "subsystem": "{subsystem}"}}"#,
                    errno.join(", ")
                )
            })
            .collect();
        let mut subs: Vec<&str> = rows
            .iter()
            .map(|r| {
                if r.0.starts_with("get") {
                    "Process Mgmt."
                } else {
                    "Filesystem"
                }
            })
            .collect();
        subs.dedup();
        let subs: Vec<String> = subs
            .iter()
            .map(|s| format!(r#"{{"name": "{s}"}}"#))
            .collect();
        let text = format!(
            r#"{{"schema": 1, "kernel": {{"release": "6.12.0", "arch": "x86_64"}},
               "duration_ns": 1000, "latency": true, "latency_sample": 1, "lost": {{}},
               "syscalls": [{}], "subsystems": [{}],
               "syscall_tables": {{"linux": "6.12.38", "origin": "embedded"}}}}"#,
            syscalls.join(", "),
            subs.join(", ")
        );
        ReadReport::parse(&text).unwrap()
    }

    pub fn diff(base: &ReadReport, new: &ReadReport) -> Diff {
        compare("base.json", base, "new.json", new, Thresholds::default())
    }

    /// An event row: (event, detail, object, count, bytes).
    pub fn event(e: (&str, &str, Option<&str>, u64, Option<u64>)) -> ReadEvent {
        ReadEvent {
            event: e.0.into(),
            detail: e.1.into(),
            object: e.2.map(Into::into),
            calls: e.3,
            bytes: e.4,
            subsystem: "Memory Mgmt.".into(),
        }
    }

    /// BASE and NEW with the same syscalls and these events.
    pub fn with_events(
        base: &[(&str, &str, Option<&str>, u64, Option<u64>)],
        new: &[(&str, &str, Option<&str>, u64, Option<u64>)],
    ) -> Diff {
        let mut b = report(&[("getppid", 1000, &[], 9)]);
        let mut n = b.clone();
        b.events = Some(base.iter().copied().map(event).collect());
        n.events = Some(new.iter().copied().map(event).collect());
        diff(&b, &n)
    }

    #[test]
    fn events_appear_vanish_and_change() {
        let mut d = with_events(
            &[
                ("signal", "SIGCHLD", None, 2, None),
                ("page fault", "anon minor", None, 1000, None),
                ("page fault", "file minor", Some("ext4"), 500, None),
                ("block I/O", "vda write", None, 10, Some(40960)),
            ],
            &[
                ("signal", "SIGSEGV", None, 1, None),
                ("page fault", "anon minor", None, 3000, None),
                ("page fault", "file minor", Some("ext4"), 502, None),
                ("page fault", "file minor", Some("tmpfs"), 7, None),
                ("block I/O", "vda write", None, 10, Some(409600)),
            ],
        );
        let labels = |l: &[OneSidedEvent]| l.iter().map(|e| e.event.clone()).collect::<Vec<_>>();
        assert!(d.events.compared);
        assert_eq!(
            labels(&d.events.appeared),
            ["signal SIGSEGV", "page fault file minor tmpfs"]
        );
        assert_eq!(labels(&d.events.vanished), ["signal SIGCHLD"]);
        let changed: Vec<(&str, bool)> = d
            .events
            .changed
            .iter()
            .map(|c| (c.event.as_str(), c.changed))
            .collect();
        assert_eq!(
            changed,
            [
                ("page fault anon minor", true),
                ("page fault file minor ext4", false),
                // The same bios, ten times the bytes.
                ("block I/O vda write", true),
            ]
        );
        d.only_changes();
        assert_eq!(d.events.changed.len(), 2);
        let hits = fail_on::FailOn::parse("new-event").unwrap().check(&d);
        assert_eq!(
            hits[0].because,
            ["signal SIGSEGV", "page fault file minor tmpfs"]
        );
        // Without events on one side, none are compared, and a note says why.
        let b = report(&[("getppid", 1000, &[], 9)]);
        let mut n = b.clone();
        n.events = Some(vec![event(("signal", "SIGSEGV", None, 1, None))]);
        let d = diff(&b, &n);
        assert!(!d.events.compared && d.events.appeared.is_empty());
        assert!(
            d.notes
                .iter()
                .any(|n| n.starts_with("only one report counted events")),
            "{:?}",
            d.notes
        );
    }

    #[test]
    fn the_same_report_shows_no_change() {
        let r = report(&[
            ("getppid", 1000, &[], 9),
            ("openat", 20, &[("ENOENT", 3)], 12),
        ]);
        let d = diff(&r, &r);
        assert!(d.syscalls.appeared.is_empty() && d.syscalls.vanished.is_empty());
        assert!(d.subsystems.appeared.is_empty() && d.subsystems.vanished.is_empty());
        assert!(d.syscalls.compared.iter().all(|c| !c.changed));
        assert!(d.notes.is_empty(), "{:?}", d.notes);
        assert_eq!(d.syscalls.compared.len(), 2);
        assert_eq!(
            d.syscalls.compared[0].p50_ns,
            Some(Change {
                base: 384,
                new: 384,
                changed: false
            })
        );
    }

    #[test]
    fn counts_change_only_beyond_both_thresholds() {
        let base = report(&[
            ("getppid", 1000, &[], 9),
            ("getsid", 100, &[], 9),
            ("openat", 4, &[], 9),
        ]);
        // +5.0% is not more than 5%; +8 is not more than 10 calls; +40 of 100 is both.
        let new = report(&[
            ("getppid", 1050, &[], 9),
            ("getsid", 140, &[], 9),
            ("openat", 12, &[], 9),
        ]);
        let d = diff(&base, &new);
        let changed: Vec<_> = d
            .syscalls
            .compared
            .iter()
            .map(|c| (c.name.as_str(), c.changed))
            .collect();
        assert_eq!(
            changed,
            [("getppid", false), ("getsid", true), ("openat", false)]
        );
        let getppid = &d.syscalls.compared[0];
        assert_eq!(
            getppid.calls,
            Change {
                base: 1000,
                new: 1050,
                changed: false
            }
        );
    }

    #[test]
    fn latency_changes_beyond_one_bucket() {
        let base = report(&[
            ("getppid", 1000, &[], 9),
            ("getsid", 100, &[], 9),
            ("umask", 50, &[], 9),
            ("openat", 5, &[], 9),
        ]);
        // getppid moves up one bucket (not more than 2x), getsid and umask two; openat
        // has too few timed calls to compare, umask too few for a p99.
        let new = report(&[
            ("getppid", 1000, &[], 10),
            ("getsid", 100, &[], 11),
            ("umask", 50, &[], 11),
            ("openat", 5, &[], 14),
        ]);
        let d = diff(&base, &new);
        let [getppid, getsid, umask, openat] = &d.syscalls.compared[..] else {
            panic!()
        };
        assert_eq!(
            getppid.p50_ns,
            Some(Change {
                base: 384,
                new: 768,
                changed: false
            })
        );
        assert!(getsid.changed && getsid.p99_ns.unwrap().changed);
        assert!(umask.changed && umask.p50_ns.unwrap().changed);
        assert_eq!(umask.p99_ns, None);
        assert_eq!(openat.p50_ns, None);
        assert!(!openat.changed);
    }

    #[test]
    fn subsystems_by_what_served_the_calls_where_both_know() {
        let served = |names: &[&str]| {
            Some(
                names
                    .iter()
                    .map(|n| super::super::read::ReadSubsystem {
                        name: (*n).to_owned(),
                        syscalls: Some(u64::from(*n != "Memory Mgmt.")),
                    })
                    .collect(),
            )
        };
        let mut base = report(&[("write", 10, &[], 9)]);
        let mut new = base.clone();
        base.subsystems_by_object = served(&["Filesystem"]);
        new.subsystems_by_object = served(&["Filesystem", "Network"]);
        let d = diff(&base, &new);
        assert_eq!(d.subsystems.by, "object");
        assert_eq!(d.subsystems.appeared, ["Network"]);
        assert!(d.notes.is_empty(), "{:?}", d.notes);
        // One side without objects: by entry point, and a note says so.
        base.subsystems_by_object = None;
        let d = diff(&base, &new);
        assert_eq!(d.subsystems.by, "entry");
        assert!(d.subsystems.appeared.is_empty());
        assert!(
            d.notes
                .iter()
                .any(|n| n.contains("only one report resolved objects"))
        );
        // A subsystem only events reached (page faults: no syscall of it) is new where
        // both reports counted events, and not compared where one did not.
        base.subsystems_by_object = served(&["Filesystem"]);
        new.subsystems_by_object = served(&["Filesystem", "Memory Mgmt."]);
        let d = diff(&base, &new);
        assert!(d.subsystems.appeared.is_empty(), "{:?}", d.subsystems);
        base.events = Some(Vec::new());
        new.events = Some(Vec::new());
        let d = diff(&base, &new);
        assert_eq!(d.subsystems.appeared, ["Memory Mgmt."]);
    }

    #[test]
    fn appeared_and_vanished_syscalls_subsystems_and_errnos() {
        let base = report(&[
            ("getppid", 1000, &[], 9),
            ("rmdir", 9, &[("ENOENT", 9)], 12),
        ]);
        let new = report(&[
            ("getppid", 1000, &[], 9),
            ("getsid", 300, &[], 9),
            ("rmdir", 9, &[("ENOENT", 8), ("EACCES", 1)], 12),
        ]);
        let d = diff(&new, &base);
        assert_eq!(
            d.syscalls
                .vanished
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["getsid"]
        );
        assert!(d.syscalls.appeared.is_empty());
        let d = diff(&base, &new);
        assert_eq!(d.syscalls.appeared[0].name, "getsid");
        assert_eq!(d.syscalls.appeared[0].calls, 300);
        assert!(
            d.subsystems.appeared.is_empty(),
            "getppid was Process Mgmt. already"
        );
        let rmdir = d
            .syscalls
            .compared
            .iter()
            .find(|c| c.name == "rmdir")
            .unwrap();
        // A new errno is a change even by one call; ENOENT 9 -> 8 is not.
        assert!(rmdir.changed);
        assert_eq!(
            rmdir.errno["EACCES"],
            Change {
                base: 0,
                new: 1,
                changed: true
            }
        );
        assert!(!rmdir.errno["ENOENT"].changed);
        let only_fs = report(&[("rmdir", 9, &[("ENOENT", 9)], 12)]);
        let d = diff(&only_fs, &new);
        assert_eq!(d.subsystems.appeared, ["Process Mgmt."]);
        assert!(d.subsystems.vanished.is_empty());
        let mut d = diff(&base, &new);
        d.only_changes();
        assert_eq!(d.syscalls.compared.len(), 1, "getppid did not change");
    }

    #[test]
    fn says_what_cannot_be_compared() {
        let base = report(&[("getppid", 1000, &[], 9)]);
        let mut new = base.clone();
        new.kernel.arch = "aarch64".into();
        new.syscall_tables.linux = "6.99.0".into();
        new.latency = false;
        new.lost.insert("no_task_slot".into(), 3);
        let d = diff(&base, &new);
        assert!(!d.latency_compared);
        assert_eq!(d.syscalls.compared[0].p50_ns, None);
        let notes = d.notes.join("\n");
        assert!(
            notes.contains("BASE was traced on x86_64, NEW on aarch64"),
            "{notes}"
        );
        assert!(
            notes.contains("BASE: Linux 6.12.38 from embedded; NEW: Linux 6.99.0"),
            "{notes}"
        );
        assert!(
            notes.contains("NEW was not timed (--no-latency)"),
            "{notes}"
        );
        assert!(
            notes.contains("NEW did not record everything (no_task_slot 3)"),
            "{notes}"
        );
        let mut i386 = base.clone();
        i386.syscalls[0].abi = "i386".into();
        i386.syscalls.push(base.syscalls[0].clone());
        let d = diff(&base, &i386);
        assert!(
            d.notes[0].contains("(BASE: x86_64; NEW: i386, x86_64)"),
            "{:?}",
            d.notes
        );
    }
}
