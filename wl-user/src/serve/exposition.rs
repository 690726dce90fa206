//! What one scrape shows, and its encoding: OpenMetrics text through prometheus-client
//! when the scraper asks for it (Prometheus does), the classic Prometheus text format
//! otherwise (curl, browsers, older agents).
//!
//! prometheus-client writes OpenMetrics only; the classic format differs from it in
//! metadata alone (a counter's `# TYPE` names its `_total` series, there is no info
//! type, `# UNIT` and `# EOF`), so [`Classic`] rewrites those lines as they are
//! written and leaves every sample as it is: at `--max-series 100000` the text runs to
//! 150 MB, and it exists once.

use std::collections::BTreeMap;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, NoLabelSet},
    metrics::MetricType,
    registry::{Registry, Unit},
};
use wl_common::{CgroupSyscallCounts, LATENCY_BUCKETS};

use super::cgroups::Unit as CgroupUnit;

/// The labels that say which cgroup: its path and, with `--by-unit`, its unit,
/// container and pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CgroupLabels {
    pub path: String,
    pub unit: Option<(String, String, String)>,
}

impl CgroupLabels {
    pub fn new(path: String, unit: Option<CgroupUnit>) -> CgroupLabels {
        CgroupLabels {
            path,
            unit: unit.map(|u| (u.unit, u.container, u.pod)),
        }
    }

    fn push<'a>(&'a self, labels: &mut Vec<(&'static str, &'a str)>) {
        labels.push(("cgroup", &self.path));
        if let Some((unit, container, pod)) = &self.unit {
            labels.push(("unit", unit));
            labels.push(("container", container));
            labels.push(("pod", pod));
        }
    }
}

/// One (cgroup, syscall) pair.
#[derive(Debug)]
pub struct SyscallRow {
    pub cgroup: usize,
    pub syscall: String,
    pub abi: &'static str,
    pub subsystem: &'static str,
    /// Calls, time and the latency histogram (errors are counted by errno apart).
    pub counts: CgroupSyscallCounts,
}

/// One (cgroup, syscall, errno) triple.
#[derive(Debug)]
pub struct ErrnoRow {
    pub cgroup: usize,
    pub syscall: String,
    pub abi: &'static str,
    pub errno: String,
    pub errors: u64,
}

/// One (cgroup, event, detail) count: `page fault` `minor`, `signal` `SIGUSR1`.
#[derive(Debug)]
pub struct EventRow {
    pub cgroup: usize,
    pub event: &'static str,
    pub detail: String,
    pub count: u64,
}

/// io_uring completions of one (cgroup, operation, serving subsystem).
#[derive(Debug)]
pub struct IoUringRow {
    pub cgroup: usize,
    pub op: String,
    pub subsystem: &'static str,
    pub count: u64,
}

/// Everything one scrape shows, labels resolved.
#[derive(Debug, Default)]
pub struct Scrape {
    /// Indexed by the rows' `cgroup`.
    pub cgroups: Vec<CgroupLabels>,
    pub syscalls: Vec<SyscallRow>,
    pub errnos: Vec<ErrnoRow>,
    /// With events.
    pub events: Vec<EventRow>,
    pub io_uring: Vec<IoUringRow>,
    /// Whether calls were timed (no histogram with `--no-latency`).
    pub timed: bool,
    pub lost: BTreeMap<&'static str, u64>,
    /// Cgroups by state: live, gone (shown for the last time), unresolved (made since
    /// the last walk of the hierarchy; shown from the next scrape on).
    pub cgroup_states: BTreeMap<&'static str, u64>,
    /// Kernel map name → (entries, capacity).
    pub maps: BTreeMap<&'static str, (u64, u64)>,
    pub version: &'static str,
    pub kernel: String,
}

impl Scrape {
    /// The exposition, in OpenMetrics or the classic text format.
    pub fn encode(self, openmetrics: bool) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(self));
        let mut text = String::new();
        // Writing to a String cannot fail.
        if openmetrics {
            prometheus_client::encoding::text::encode(&mut text, &registry)
        } else {
            let mut classic = Classic::new(&mut text);
            prometheus_client::encoding::text::encode(&mut classic, &registry)
                .map(|()| classic.finish())
        }
        .expect("encoding into a String");
        text
    }
}

/// Upper bound in seconds of log2 bucket `b`: calls of 2^(b-1) to 2^b ns.
fn bucket_le(b: usize) -> f64 {
    (1u64 << b) as f64 / 1e9
}

/// The histogram's buckets as (le, count in this bucket), from the lowest to the
/// highest non-empty bucket, then +Inf. Buckets below the fastest call or above the
/// slowest one only repeat a neighbour's cumulative count; leaving them out keeps 34
/// series per pair down to the few a syscall spans. The range only ever widens, so a
/// bucket once shown stays. The last log2 bucket has no upper bound: it is +Inf's.
fn buckets(log2: &[u64; LATENCY_BUCKETS]) -> Vec<(f64, u64)> {
    let last = LATENCY_BUCKETS - 1;
    let lo = log2.iter().position(|&n| n > 0);
    let hi = log2[..last].iter().rposition(|&n| n > 0);
    let mut out = Vec::new();
    if let (Some(lo), Some(hi)) = (lo, hi) {
        for (b, &n) in log2.iter().enumerate().take(hi + 1).skip(lo) {
            out.push((bucket_le(b), n));
        }
    }
    out.push((f64::INFINITY, log2[last]));
    out
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut labels: Vec<(&'static str, &str)> = Vec::with_capacity(8);

        let mut m = encoder.encode_descriptor(
            "wl_syscalls",
            "System calls made by the tasks of a cgroup, by syscall and ABI, with the kernel subsystem that implements it.",
            None,
            MetricType::Counter,
        )?;
        for r in &self.syscalls {
            labels.clear();
            self.cgroups[r.cgroup].push(&mut labels);
            labels.extend([
                ("syscall", r.syscall.as_str()),
                ("abi", r.abi),
                ("subsystem", r.subsystem),
            ]);
            m.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&r.counts.counts.calls, None)?;
        }

        let mut m = encoder.encode_descriptor(
            "wl_syscall_errors",
            "System calls that failed, by the error number they returned.",
            None,
            MetricType::Counter,
        )?;
        for r in &self.errnos {
            labels.clear();
            self.cgroups[r.cgroup].push(&mut labels);
            labels.extend([
                ("syscall", r.syscall.as_str()),
                ("abi", r.abi),
                ("errno", r.errno.as_str()),
            ]);
            m.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&r.errors, None)?;
        }

        let mut m = encoder.encode_descriptor(
            "wl_events",
            "Kernel work beside the system calls in a cgroup: page faults (minor, major, failed), signals sent to its tasks by name, their context switches (voluntary, involuntary), and block I/O bios they submitted by operation.",
            None,
            MetricType::Counter,
        )?;
        for r in &self.events {
            labels.clear();
            self.cgroups[r.cgroup].push(&mut labels);
            labels.extend([("event", r.event), ("detail", r.detail.as_str())]);
            m.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&r.count, None)?;
        }

        let mut m = encoder.encode_descriptor(
            "wl_io_uring_ops",
            "io_uring operations completed for the rings a cgroup's tasks set up, by operation and the kernel subsystem that served it (an ext4 file's READ: Filesystem).",
            None,
            MetricType::Counter,
        )?;
        for r in &self.io_uring {
            labels.clear();
            self.cgroups[r.cgroup].push(&mut labels);
            labels.extend([("op", r.op.as_str()), ("subsystem", r.subsystem)]);
            m.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(&r.count, None)?;
        }

        if self.timed {
            let mut m = encoder.encode_descriptor(
                "wl_syscall_duration",
                "Time in system calls, from entry to return, in power-of-two buckets (exit and exit_group are not timed).",
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            for r in &self.syscalls {
                let timed: u64 = r.counts.latency_log2.iter().sum();
                if timed == 0 {
                    continue;
                }
                labels.clear();
                self.cgroups[r.cgroup].push(&mut labels);
                labels.extend([("syscall", r.syscall.as_str()), ("abi", r.abi)]);
                m.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
                    r.counts.counts.total_ns as f64 / 1e9,
                    timed,
                    &buckets(&r.counts.latency_log2),
                    None,
                )?;
            }
        }

        let mut by_subsystem: BTreeMap<(usize, &str), u64> = BTreeMap::new();
        for r in &self.syscalls {
            *by_subsystem.entry((r.cgroup, r.subsystem)).or_default() += r.counts.counts.calls;
        }
        let mut m = encoder.encode_descriptor(
            "wl_subsystem_calls",
            "System calls made by the tasks of a cgroup, by the kernel subsystem that implements them.",
            None,
            MetricType::Counter,
        )?;
        for ((cgroup, subsystem), calls) in &by_subsystem {
            labels.clear();
            self.cgroups[*cgroup].push(&mut labels);
            labels.push(("subsystem", subsystem));
            m.encode_family(&labels)?
                .encode_counter::<NoLabelSet, _, u64>(calls, None)?;
        }

        let mut m = encoder.encode_descriptor(
            "wl_lost",
            "Calls or records the kernel side could not keep, by reason (calls of cgroups or pairs past --max-cgroups or --max-series are counted under cgroup \"(others)\" as well).",
            None,
            MetricType::Counter,
        )?;
        for (reason, n) in &self.lost {
            m.encode_family(&[("reason", *reason)])?
                .encode_counter::<NoLabelSet, _, u64>(n, None)?;
        }

        let mut m = encoder.encode_descriptor(
            "wl_cgroups",
            "Cgroups counted in the kernel: live, gone (removed; shown with their final counts for a grace period), unresolved (new since the last walk of the hierarchy; shown from the next scrape).",
            None,
            MetricType::Gauge,
        )?;
        for (state, n) in &self.cgroup_states {
            m.encode_family(&[("state", *state)])?
                .encode_gauge(&(*n as i64))?;
        }

        let mut m = encoder.encode_descriptor(
            "wl_map_entries",
            "Entries in the kernel side's per-cgroup maps.",
            None,
            MetricType::Gauge,
        )?;
        for (map, (entries, _)) in &self.maps {
            m.encode_family(&[("map", *map)])?
                .encode_gauge(&(*entries as i64))?;
        }
        let mut m = encoder.encode_descriptor(
            "wl_map_capacity",
            "Capacity of the kernel side's per-cgroup maps (--max-cgroups, --max-series).",
            None,
            MetricType::Gauge,
        )?;
        for (map, (_, capacity)) in &self.maps {
            m.encode_family(&[("map", *map)])?
                .encode_gauge(&(*capacity as i64))?;
        }

        let m = encoder.encode_descriptor(
            "wl_build",
            "wl-user's version and the running kernel's release.",
            None,
            MetricType::Info,
        )?;
        let mut m = m;
        m.encode_info(&[("version", self.version), ("kernel", self.kernel.as_str())])?;
        Ok(())
    }
}

/// The OpenMetrics text as the classic Prometheus text format (version 0.0.4).
#[cfg(test)]
pub fn classic_text(openmetrics: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let mut classic = Classic::new(&mut out);
    classic.write_str(openmetrics).expect("into a String");
    classic.finish();
    out
}

/// Writes OpenMetrics text into `out` as the classic text format, a line at a time:
/// samples as they are, metadata renamed, `# UNIT` and `# EOF` left out.
pub struct Classic<'a> {
    out: &'a mut String,
    /// The line being written.
    line: String,
    /// A `# HELP` line waiting for its `# TYPE`, which decides the family's name.
    help: Option<String>,
}

impl<'a> Classic<'a> {
    pub fn new(out: &'a mut String) -> Classic<'a> {
        Classic {
            out,
            line: String::new(),
            help: None,
        }
    }

    /// Writes what is left: a last line without its newline, a HELP without a TYPE.
    pub fn finish(mut self) {
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.end_line(&line);
        }
        self.flush_help("");
    }

    fn flush_help(&mut self, kind: &str) {
        let Some(help) = self.help.take() else {
            return;
        };
        let (name, text) = help.split_once(' ').unwrap_or((&help, ""));
        let (name, _) = classic_name(name, kind);
        self.out.push_str(&format!("# HELP {name} {text}\n"));
    }

    fn end_line(&mut self, line: &str) {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            return;
        }
        if let Some(help) = line.strip_prefix("# HELP ") {
            self.flush_help("");
            self.help = Some(help.to_owned());
            return;
        }
        if let Some((name, kind)) = line
            .strip_prefix("# TYPE ")
            .and_then(|t| t.rsplit_once(' '))
        {
            self.flush_help(kind);
            let (name, kind) = classic_name(name, kind);
            self.out.push_str(&format!("# TYPE {name} {kind}\n"));
            return;
        }
        self.flush_help("");
        self.out.push_str(line);
        self.out.push('\n');
    }
}

impl std::fmt::Write for Classic<'_> {
    fn write_str(&mut self, mut s: &str) -> std::fmt::Result {
        while let Some(nl) = s.find('\n') {
            self.line.push_str(&s[..nl]);
            let line = std::mem::take(&mut self.line);
            self.end_line(&line);
            // The line's buffer is used again for the next one.
            self.line = line;
            self.line.clear();
            s = &s[nl + 1..];
        }
        self.line.push_str(s);
        Ok(())
    }
}

fn classic_name(name: &str, kind: &str) -> (String, &'static str) {
    match kind {
        "counter" => (format!("{name}_total"), "counter"),
        "info" => (format!("{name}_info"), "gauge"),
        "gauge" => (name.to_owned(), "gauge"),
        "histogram" => (name.to_owned(), "histogram"),
        "summary" => (name.to_owned(), "summary"),
        _ => (name.to_owned(), "untyped"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape() -> Scrape {
        let mut log2 = [0; LATENCY_BUCKETS];
        log2[7] = 3; // 64..128 ns
        log2[10] = 1; // 512..1024 ns
        Scrape {
            cgroups: vec![
                CgroupLabels::new("/system.slice/ssh.service".into(), None),
                CgroupLabels::new("/a".into(), None),
            ],
            syscalls: vec![
                SyscallRow {
                    cgroup: 0,
                    syscall: "getppid".into(),
                    abi: "x86_64",
                    subsystem: "process",
                    counts: CgroupSyscallCounts {
                        counts: wl_common::Counts {
                            calls: 4,
                            errors: 0,
                            total_ns: 1000,
                        },
                        latency_log2: log2,
                    },
                },
                SyscallRow {
                    cgroup: 0,
                    syscall: "exit_group".into(),
                    abi: "x86_64",
                    subsystem: "process",
                    counts: CgroupSyscallCounts {
                        counts: wl_common::Counts {
                            calls: 1,
                            errors: 0,
                            total_ns: 0,
                        },
                        latency_log2: [0; LATENCY_BUCKETS],
                    },
                },
            ],
            errnos: vec![ErrnoRow {
                cgroup: 1,
                syscall: "dup".into(),
                abi: "i386",
                errno: "EBADF".into(),
                errors: 2,
            }],
            events: vec![EventRow {
                cgroup: 1,
                event: "page fault",
                detail: "minor".into(),
                count: 700,
            }],
            io_uring: vec![IoUringRow {
                cgroup: 1,
                op: "READ".into(),
                subsystem: "Filesystem",
                count: 5,
            }],
            timed: true,
            lost: [("cgroup_map_full", 0)].into(),
            cgroup_states: [("live", 2)].into(),
            maps: [("cgroups", (2, 1000))].into(),
            version: "0.1.0",
            kernel: "6.18.0".into(),
        }
    }

    #[test]
    fn openmetrics_has_every_family_and_exact_values() {
        let text = scrape().encode(true);
        for line in [
            "# TYPE wl_syscalls counter",
            r#"wl_syscalls_total{cgroup="/system.slice/ssh.service",syscall="getppid",abi="x86_64",subsystem="process"} 4"#,
            r#"wl_syscall_errors_total{cgroup="/a",syscall="dup",abi="i386",errno="EBADF"} 2"#,
            r#"wl_events_total{cgroup="/a",event="page fault",detail="minor"} 700"#,
            r#"wl_io_uring_ops_total{cgroup="/a",op="READ",subsystem="Filesystem"} 5"#,
            "# UNIT wl_syscall_duration_seconds seconds",
            r#"wl_syscall_duration_seconds_count{cgroup="/system.slice/ssh.service",syscall="getppid",abi="x86_64"} 4"#,
            r#"wl_syscall_duration_seconds_bucket{le="+Inf",cgroup="/system.slice/ssh.service",syscall="getppid",abi="x86_64"} 4"#,
            r#"wl_subsystem_calls_total{cgroup="/system.slice/ssh.service",subsystem="process"} 5"#,
            r#"wl_lost_total{reason="cgroup_map_full"} 0"#,
            r#"wl_build_info{version="0.1.0",kernel="6.18.0"} 1"#,
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        // From the fastest call's bucket to the slowest's, cumulative.
        let buckets: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("wl_syscall_duration_seconds_bucket"))
            .collect();
        assert_eq!(buckets.len(), 5, "{buckets:#?}");
        assert!(buckets[0].ends_with(" 3") && buckets[3].ends_with(" 4"));
        // exit_group is never timed: no histogram.
        assert!(!text.contains(r#"wl_syscall_duration_seconds_count{cgroup="/system.slice/ssh.service",syscall="exit_group""#));
    }

    #[test]
    fn classic_text_renames_counters_and_info() {
        let text = scrape().encode(false);
        assert!(text.contains("# TYPE wl_syscalls_total counter\n"));
        assert!(text.contains("# HELP wl_syscalls_total System calls"));
        assert!(text.contains("# TYPE wl_build_info gauge\n"));
        assert!(text.contains("# TYPE wl_syscall_duration_seconds histogram\n"));
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
        assert!(text.contains(r#"wl_build_info{version="0.1.0",kernel="6.18.0"} 1"#));
    }

    #[test]
    fn classic_text_written_in_pieces_is_the_same() {
        use std::fmt::Write as _;
        let om = scrape().encode(true);
        let whole = classic_text(&om);
        let mut pieces = String::new();
        let mut classic = Classic::new(&mut pieces);
        // Pieces of 7 bytes: lines cut anywhere, newlines included.
        let bytes = om.as_bytes();
        for chunk in bytes.chunks(7) {
            classic
                .write_str(std::str::from_utf8(chunk).unwrap())
                .unwrap();
        }
        classic.finish();
        assert_eq!(pieces, whole);
        assert_eq!(whole, scrape().encode(false));
        assert_eq!(
            whole.lines().filter(|l| l.starts_with("# HELP ")).count(),
            om.lines().filter(|l| l.starts_with("# HELP ")).count()
        );
    }

    #[test]
    fn buckets_span_the_calls_and_end_at_inf() {
        let mut log2 = [0; LATENCY_BUCKETS];
        log2[LATENCY_BUCKETS - 1] = 2;
        assert_eq!(buckets(&log2), vec![(f64::INFINITY, 2)]);
        log2[0] = 1;
        let b = buckets(&log2);
        assert_eq!(b.first(), Some(&(1e-9, 1)));
        assert_eq!(b.len(), 1 + 1);
        assert_eq!(bucket_le(30), 1.073741824);
    }
}
