//! `wl-user diff --format table|json|md`: a comparison written for people reading a CI
//! log or a pull request, or for programs.

use std::io::Write;

use anyhow::Result;

use super::{Change, Compared, Diff, OneSided, OneSidedEvent, Side};
use crate::report::render::label_for;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Aligned text: what appeared, vanished and changed.
    Table,
    /// One JSON object (fields described in README.md).
    Json,
    /// Markdown, for a pull-request comment.
    Md,
}

pub fn write(diff: &Diff, format: DiffFormat, out: &mut dyn Write) -> Result<()> {
    match format {
        DiffFormat::Table => table(diff, out),
        DiffFormat::Json => {
            // As an io::Error, so that a reader that went away is seen as one.
            serde_json::to_writer_pretty(&mut *out, diff).map_err(std::io::Error::from)?;
            writeln!(out)?;
            Ok(())
        }
        DiffFormat::Md => markdown(diff, out),
    }
}

/// A list of names, or "none".
fn names(l: &[String]) -> String {
    if l.is_empty() {
        "none".to_owned()
    } else {
        l.join(", ")
    }
}

fn describe(s: &Side) -> String {
    let timing = match (s.latency, s.latency_sample) {
        (false, _) => "not timed".to_owned(),
        (true, 0 | 1) => "every call timed".to_owned(),
        (true, n) => format!("one call in {n} timed"),
    };
    format!(
        "{}: Linux {} {}, tables Linux {} ({}), {timing}, {:.2} s",
        s.file,
        s.kernel_release,
        s.arch,
        s.tables,
        s.tables_origin,
        s.duration_ns as f64 / 1e9
    )
}

/// `1000 -> 3000 (+200.0%)` for a change beyond the thresholds; the NEW number alone
/// otherwise, since a difference within the noise says nothing.
fn cell(c: &Change, unit: &str) -> String {
    if !c.changed {
        return format!("{}{unit}", c.new);
    }
    let pct = if c.base == 0 {
        "new".to_owned()
    } else {
        format!(
            "{:+.1}%",
            (c.new as f64 - c.base as f64) * 100.0 / c.base as f64
        )
    };
    format!("{}{unit} -> {}{unit} ({pct})", c.base, c.new)
}

fn latency_cell(c: &Option<Change>) -> String {
    c.as_ref().map_or_else(|| "-".to_owned(), |c| cell(c, ""))
}

fn errno_cell(r: &Compared) -> String {
    r.errno
        .iter()
        .filter(|(_, c)| c.changed)
        .map(|(e, c)| format!("{e} {} -> {}", c.base, c.new))
        .collect::<Vec<_>>()
        .join(", ")
}

fn one_sided_errors(r: &OneSided) -> String {
    let errno: Vec<String> = r.errno.iter().map(|(e, n)| format!("{e} {n}")).collect();
    match r.errors {
        0 => String::new(),
        n => format!("{n} errors ({})", errno.join(", ")),
    }
}

fn thresholds(d: &Diff) -> String {
    let t = &d.thresholds;
    format!(
        "counts beyond {}% and {}, latency beyond {}x",
        t.count_pct,
        t.count_min,
        1.0 + t.latency_pct / 100.0
    )
}

/// Columns sized to their widest cell.
fn columns(rows: &[Vec<String>], out: &mut dyn Write, indent: &str) -> Result<()> {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, String::len))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        writeln!(out, "{indent}{}", line.join("  ").trim_end())?;
    }
    Ok(())
}

fn compared_heading(d: &Diff, all: bool) -> String {
    let n = d.syscalls.compared.len();
    let what = if all {
        "syscalls both made"
    } else {
        "syscalls changed"
    };
    format!("{what} ({n}; {})", thresholds(d))
}

/// How the subsystems were compared, where it is not by entry point.
fn served(d: &Diff) -> &'static str {
    if d.subsystems.by == "object" {
        " (by what served the calls)"
    } else {
        ""
    }
}

/// Whether `compared` holds every common syscall (`--all`) rather than the changed ones.
fn shows_all(d: &Diff) -> bool {
    d.syscalls.compared.iter().any(|c| !c.changed) || d.events.changed.iter().any(|c| !c.changed)
}

fn one_sided_event(e: &OneSidedEvent) -> Vec<String> {
    vec![
        e.event.clone(),
        e.calls.to_string(),
        e.bytes.map_or(String::new(), |b| format!("{b} bytes")),
        e.subsystem.clone(),
    ]
}

/// The sections after the syscalls: the events', then the profile's.
fn sections(d: &Diff) -> Vec<(String, Vec<String>, Vec<Vec<String>>)> {
    let mut all = event_sections(d);
    all.extend(super::profile::sections(&d.profile));
    all
}

/// The events sections, as (title, header, rows) each, when both reports counted them:
/// appeared, vanished, and those both had (changed, or all with `--all`).
fn event_sections(d: &Diff) -> Vec<(String, Vec<String>, Vec<Vec<String>>)> {
    let e = &d.events;
    if !e.compared {
        return Vec::new();
    }
    let header = ["event", "count", "bytes", "subsystem"]
        .map(str::to_owned)
        .to_vec();
    let both = if shows_all(d) {
        "events both had"
    } else {
        "events changed"
    };
    vec![
        (
            format!("events appeared ({})", e.appeared.len()),
            header.clone(),
            e.appeared.iter().map(one_sided_event).collect(),
        ),
        (
            format!("events vanished ({})", e.vanished.len()),
            header.clone(),
            e.vanished.iter().map(one_sided_event).collect(),
        ),
        (
            format!("{both} ({}; {})", e.changed.len(), thresholds(d)),
            header,
            e.changed
                .iter()
                .map(|c| {
                    vec![
                        c.event.clone(),
                        cell(&c.calls, ""),
                        c.bytes.as_ref().map_or(String::new(), |b| cell(b, "")),
                        c.subsystem.clone(),
                    ]
                })
                .collect(),
        ),
    ]
}

fn table(d: &Diff, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "BASE {}", describe(&d.base))?;
    writeln!(out, "NEW  {}", describe(&d.new))?;
    for n in &d.notes {
        writeln!(out, "note: {n}")?;
    }
    for (what, list) in [
        ("syscalls appeared", &d.syscalls.appeared),
        ("syscalls vanished", &d.syscalls.vanished),
    ] {
        if list.is_empty() {
            writeln!(out, "{what}: none")?;
            continue;
        }
        writeln!(out, "{what} ({}):", list.len())?;
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|r| {
                vec![
                    label_for(&r.name, &r.abi),
                    format!("{} calls", r.calls),
                    r.subsystem.clone(),
                    one_sided_errors(r),
                ]
            })
            .collect();
        columns(&rows, out, "  ")?;
    }
    writeln!(
        out,
        "subsystems appeared{}: {}",
        served(d),
        names(&d.subsystems.appeared)
    )?;
    writeln!(
        out,
        "subsystems vanished{}: {}",
        served(d),
        names(&d.subsystems.vanished)
    )?;
    let all = shows_all(d);
    if d.syscalls.compared.is_empty() {
        writeln!(out, "syscalls changed: none ({})", thresholds(d))?;
    } else {
        writeln!(out, "{}:", compared_heading(d, all))?;
        let mut rows = vec![
            [
                "syscall",
                "calls",
                "errors",
                "p50 ns",
                "p99 ns",
                "errno",
                "subsystem",
            ]
            .map(str::to_owned)
            .to_vec(),
        ];
        for r in &d.syscalls.compared {
            rows.push(vec![
                label_for(&r.name, &r.abi),
                cell(&r.calls, ""),
                cell(&r.errors, ""),
                latency_cell(&r.p50_ns),
                latency_cell(&r.p99_ns),
                errno_cell(r),
                r.subsystem.clone(),
            ]);
        }
        columns(&rows, out, "  ")?;
    }
    for (title, header, rows) in sections(d) {
        if rows.is_empty() {
            let count = title.split(" (").next().unwrap_or(&title);
            writeln!(out, "{count}: none")?;
            continue;
        }
        writeln!(out, "{title}:")?;
        let mut lines = vec![header];
        lines.extend(rows);
        columns(&lines, out, "  ")?;
    }
    Ok(())
}

fn markdown(d: &Diff, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "**BASE** {}  ", describe(&d.base))?;
    writeln!(out, "**NEW** {}", describe(&d.new))?;
    writeln!(out)?;
    for n in &d.notes {
        writeln!(out, "- note: {n}")?;
    }
    if !d.notes.is_empty() {
        writeln!(out)?;
    }
    for (what, list) in [
        ("Syscalls appeared", &d.syscalls.appeared),
        ("Syscalls vanished", &d.syscalls.vanished),
    ] {
        if list.is_empty() {
            writeln!(out, "{what}: none\n")?;
            continue;
        }
        writeln!(out, "{what}:\n")?;
        writeln!(
            out,
            "| System Call | ABI | # calls | # errors | Linux Subsystem |"
        )?;
        writeln!(out, "|---|---|---:|---|---|")?;
        for r in list {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                r.name,
                r.abi,
                r.calls,
                one_sided_errors(r),
                r.subsystem
            )?;
        }
        writeln!(out)?;
    }
    writeln!(
        out,
        "Subsystems appeared{}: {}  ",
        served(d),
        names(&d.subsystems.appeared)
    )?;
    writeln!(
        out,
        "Subsystems vanished{}: {}",
        served(d),
        names(&d.subsystems.vanished)
    )?;
    writeln!(out)?;
    if d.syscalls.compared.is_empty() {
        writeln!(out, "Syscalls changed: none ({}).", thresholds(d))?;
        return markdown_events(d, out);
    }
    let heading = compared_heading(d, shows_all(d));
    writeln!(out, "{}{}:\n", heading[..1].to_uppercase(), &heading[1..])?;
    writeln!(
        out,
        "| System Call | ABI | # calls | # errors | p50 ns | p99 ns | errno | Linux Subsystem |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---:|---|---|")?;
    for r in &d.syscalls.compared {
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.abi,
            cell(&r.calls, ""),
            cell(&r.errors, ""),
            latency_cell(&r.p50_ns),
            latency_cell(&r.p99_ns),
            errno_cell(r),
            r.subsystem
        )?;
    }
    markdown_events(d, out)
}

fn markdown_events(d: &Diff, out: &mut dyn Write) -> Result<()> {
    for (title, header, rows) in sections(d) {
        let title = format!("{}{}", title[..1].to_uppercase(), &title[1..]);
        writeln!(out)?;
        if rows.is_empty() {
            let title = title.split(" (").next().unwrap_or(&title);
            writeln!(out, "{title}: none")?;
            continue;
        }
        writeln!(out, "{title}:\n")?;
        writeln!(out, "| {} |", header.join(" | "))?;
        // Names left, numbers right, the subsystem left.
        let align: Vec<&str> = (0..header.len())
            .map(|i| {
                if i == 0 || i + 1 == header.len() {
                    "---"
                } else {
                    "---:"
                }
            })
            .collect();
        writeln!(out, "|{}|", align.join("|"))?;
        for r in rows {
            writeln!(out, "| {} |", r.join(" | "))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{diff, report};
    use super::*;

    fn text(d: &Diff, format: DiffFormat) -> String {
        let mut buf = Vec::new();
        write(d, format, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    fn sample() -> Diff {
        let base = report(&[
            ("getppid", 1000, &[], 9),
            ("rmdir", 9, &[("ENOENT", 9)], 12),
        ]);
        let new = report(&[
            ("getppid", 3000, &[], 9),
            ("openat", 30, &[("ENOENT", 2)], 12),
            ("rmdir", 9, &[("ENOENT", 9)], 12),
        ]);
        let mut d = diff(&base, &new);
        d.only_changes();
        d
    }

    #[test]
    fn table_shows_what_changed() {
        let t = text(&sample(), DiffFormat::Table);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("BASE base.json: Linux 6.12.0 x86_64, tables Linux 6.12.38 (embedded), every call timed, 0.00 s"), "{t}");
        assert_eq!(lines[2], "syscalls appeared (1):", "{t}");
        assert_eq!(
            lines[3], "  openat  30 calls  Filesystem  2 errors (ENOENT 2)",
            "{t}"
        );
        assert_eq!(lines[4], "syscalls vanished: none", "{t}");
        assert_eq!(lines[5], "subsystems appeared: none", "{t}");
        assert_eq!(
            lines[7], "syscalls changed (1; counts beyond 5% and 10, latency beyond 2x):",
            "{t}"
        );
        assert_eq!(
            lines[8], "  syscall  calls                   errors  p50 ns  p99 ns  errno  subsystem",
            "{t}"
        );
        assert_eq!(
            lines[9],
            "  getppid  1000 -> 3000 (+200.0%)  0       384     509            Process Mgmt.",
            "{t}"
        );
        assert_eq!(lines.len(), 10, "{t}");
    }

    #[test]
    fn events_are_shown_after_the_syscalls() {
        let mut d = super::super::tests::with_events(
            &[("page fault", "anon minor", None, 1000, None)],
            &[
                ("page fault", "anon minor", None, 3000, None),
                ("block I/O", "vda write", None, 10, Some(40960)),
            ],
        );
        d.only_changes();
        let t = text(&d, DiffFormat::Table);
        let tail: Vec<&str> = t.lines().skip_while(|l| !l.starts_with("events")).collect();
        assert_eq!(
            tail,
            [
                "events appeared (1):",
                "  event                count  bytes        subsystem",
                "  block I/O vda write  10     40960 bytes  Memory Mgmt.",
                "events vanished: none",
                "events changed (1; counts beyond 5% and 10, latency beyond 2x):",
                "  event                  count                   bytes  subsystem",
                "  page fault anon minor  1000 -> 3000 (+200.0%)         Memory Mgmt.",
            ],
            "{t}"
        );
        let md = text(&d, DiffFormat::Md);
        assert!(
            md.contains("| page fault anon minor | 1000 -> 3000 (+200.0%) |  | Memory Mgmt. |"),
            "{md}"
        );
        assert!(md.contains("Events vanished: none"), "{md}");
        let v: serde_json::Value = serde_json::from_str(&text(&d, DiffFormat::Json)).unwrap();
        assert_eq!(v["events"]["appeared"][0]["bytes"], 40960);
        assert_eq!(v["events"]["changed"][0]["calls"]["new"], 3000);
    }

    #[test]
    fn markdown_and_json() {
        let md = text(&sample(), DiffFormat::Md);
        assert!(
            md.contains("| openat | x86_64 | 30 | 2 errors (ENOENT 2) | Filesystem |"),
            "{md}"
        );
        assert!(
            md.contains(
                "| getppid | x86_64 | 1000 -> 3000 (+200.0%) | 0 | 384 | 509 |  | Process Mgmt. |"
            ),
            "{md}"
        );
        let v: serde_json::Value =
            serde_json::from_str(&text(&sample(), DiffFormat::Json)).unwrap();
        assert_eq!(v["syscalls"]["appeared"][0]["name"], "openat");
        assert_eq!(v["syscalls"]["compared"][0]["calls"]["new"], 3000);
        assert_eq!(v["syscalls"]["compared"][0]["calls"]["changed"], true);
        assert_eq!(v["thresholds"]["count_min"], 10);
    }
}
