//! `--format table`: columns in the manner of `strace -c`, with min and max added.

use std::io::Write;

use anyhow::Result;

use wl_common::Lost;

use super::ObjectsShown;
use super::{Report, render};

const RULE: &str = "------ ----------- ----------- ----------- ----------- ----------- --------- --------- ---------------- ----------------";
const SUBSYSTEM_RULE: &str = "------ --------- --------- -------- ----------------";

/// strace -c leaves the errors column empty where there are none.
fn blank_if_zero(n: u64) -> String {
    if n > 0 { n.to_string() } else { String::new() }
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1_000.0
}

/// The time columns (% time, seconds, usecs/call, p50, p99, max), or dashes when calls
/// were not timed (`--no-latency`).
fn timing(
    report: &Report,
    share: f64,
    total_ns: u64,
    avg_ns: u64,
    spread: Option<[u64; 3]>,
) -> String {
    if !report.latency {
        return format!(
            "{:>6} {:>11} {:>11} {:>11} {:>11} {:>11}",
            "-", "-", "-", "-", "-", "-"
        );
    }
    let [p50, p99, max] =
        spread.map_or_else(Default::default, |ns| ns.map(|n| format!("{:.3}", us(n))));
    format!(
        "{share:>6.2} {:>11.6} {:>11.3} {p50:>11} {p99:>11} {max:>11}",
        total_ns as f64 / 1e9,
        us(avg_ns)
    )
}

pub fn write(report: &Report, objects: ObjectsShown, out: &mut dyn Write) -> Result<()> {
    let total_ns = report.total_ns();
    let total_calls: u64 = report.syscalls.iter().map(|s| s.counts.calls).sum();
    let total_errors: u64 = report.syscalls.iter().map(|s| s.counts.errors).sum();
    writeln!(
        out,
        "{:>6} {:>11} {:>11} {:>11} {:>11} {:>11} {:>9} {:>9} {:<16} subsystem",
        "% time",
        "seconds",
        "usecs/call",
        "p50 usecs",
        "p99 usecs",
        "max usecs",
        "calls",
        "errors",
        "syscall"
    )?;
    writeln!(out, "{RULE}")?;
    for s in &report.syscalls {
        let share = report.percent_of_time(s.counts.total_ns);
        let errors = blank_if_zero(s.counts.errors);
        let name = render::syscall_label(&s.name, s.abi);
        let times = timing(
            report,
            share,
            s.counts.total_ns,
            s.avg_ns,
            Some([s.p50_ns, s.p99_ns, s.max_ns]),
        );
        writeln!(
            out,
            "{times} {:>9} {errors:>9} {name:<16} {}",
            s.counts.calls, s.subsystem
        )?;
        for o in super::objects::shown(s, objects) {
            let times = timing(
                report,
                report.percent_of_time(o.counts.total_ns),
                o.counts.total_ns,
                o.counts.total_ns.checked_div(o.counts.calls).unwrap_or(0),
                None,
            );
            writeln!(
                out,
                "{times} {:>9} {:>9}   - {} {}",
                o.counts.calls,
                blank_if_zero(o.counts.errors),
                o.label(),
                o.subsystem.unwrap_or(s.subsystem)
            )?;
        }
    }
    writeln!(out, "{RULE}")?;
    let errors = blank_if_zero(total_errors);
    let times = timing(
        report,
        100.0,
        total_ns,
        total_ns.checked_div(total_calls).unwrap_or(0),
        None,
    );
    writeln!(out, "{times} {total_calls:>9} {errors:>9} total")?;
    writeln!(out)?;
    writeln!(
        out,
        "{:>6} {:>9} {:>9} {:>8} subsystem",
        "% time", "calls", "errors", "syscalls"
    )?;
    writeln!(out, "{SUBSYSTEM_RULE}")?;
    for s in report.summary() {
        let share = report.percent_of_time(s.counts.total_ns);
        let errors = blank_if_zero(s.counts.errors);
        let share = if report.latency {
            format!("{share:.2}")
        } else {
            "-".to_owned()
        };
        writeln!(
            out,
            "{share:>6} {:>9} {errors:>9} {:>8} {}",
            s.counts.calls, s.syscalls, s.name
        )?;
    }
    if let Some(s) = &report.seccomp {
        let part = |what: &str, rows: &[super::DeniedRow]| {
            let total: u64 = rows.iter().map(|d| d.calls).sum();
            let list: Vec<String> = rows
                .iter()
                .map(|d| {
                    let label = render::syscall_label(&d.name, d.abi);
                    format!("{label} {} ({})", d.calls, d.effect)
                })
                .collect();
            format!(
                "{total} calls {what}{}{}",
                if list.is_empty() { "" } else { ": " },
                list.join(", ")
            )
        };
        let mut line = format!("wl: seccomp profile {}", s.profile);
        if let Some(d) = s.replaced {
            line += &format!(
                " (--seccomp-action {})",
                clap::ValueEnum::to_possible_value(&d)
                    .map_or_else(String::new, |v| v.get_name().to_owned())
            );
        }
        line += &format!(": {}", part("denied", &s.denied));
        if !s.logged.is_empty() {
            line += &format!("; {}", part("logged", &s.logged));
        }
        writeln!(out, "{line}")?;
    }
    if report.latency && report.latency_sample > 1 {
        writeln!(
            out,
            "wl: latency sampled: one call in {} per thread timed (every call of rare syscalls); times are estimates",
            report.latency_sample
        )?;
    }
    // Calls of tasks past the per-task map are recorded, under "others".
    let folded = Lost::TaskMapFull.name();
    let lost: Vec<String> = report
        .lost
        .iter()
        .filter(|(k, n)| **n > 0 && **k != folded)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if !lost.is_empty() {
        writeln!(out, "wl: not recorded: {}", lost.join(", "))?;
    }
    if let Some(&n) = report.lost.get(folded).filter(|&&n| n > 0) {
        writeln!(
            out,
            "wl: {n} calls of tasks that did not fit the per-task map are counted under \"others\""
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_syscall_and_a_total() {
        let mut buf = Vec::new();
        write(&super::super::tests::sample(), ObjectsShown::Auto, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2 + 4 + 2 + 1 + 2 + 3, "{text}");
        assert!(
            lines[2].contains(" 10         3 openat           Filesystem"),
            "{text}"
        );
        assert!(
            lines[4].contains("getppid [i386]   Process Mgmt."),
            "{text}"
        );
        assert!(lines[7].contains(" 1016         3 total"), "{text}");
        assert!(lines[9].ends_with("subsystem"), "{text}");
        assert!(
            lines[12].ends_with("     1005                  2 Process Mgmt."),
            "{text}"
        );
        assert!(!text.contains("not recorded"));
    }

    #[test]
    fn untimed_reports_show_dashes_for_time() {
        let mut report = super::super::tests::sample();
        report.latency = false;
        let mut buf = Vec::new();
        write(&report, ObjectsShown::Auto, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let row = text.lines().find(|l| l.contains(" openat ")).unwrap();
        assert!(
            row.starts_with(
                "     -           -           -           -           -           -        10         3 openat"
            ),
            "{text}"
        );
    }
}
