//! `--format rst`: the grid table of the kernel's workload-tracing guide
//! (System Call | # calls | Linux Subsystem | System Call (API)), grouped by subsystem,
//! then the same for subsystems, ready to paste into kernel documentation.

use std::io::Write;

use anyhow::Result;

use super::ObjectsShown;
use super::{Report, render};

/// A reStructuredText grid table.
pub fn grid(out: &mut dyn Write, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let rule = |fill: char| {
        let mut s = String::from("+");
        for w in &widths {
            s.extend(std::iter::repeat_n(fill, w + 2));
            s.push('+');
        }
        s
    };
    let line = |cells: &[&str]| {
        let mut s = String::from("|");
        for (cell, w) in cells.iter().zip(&widths) {
            s.push_str(&format!(" {cell:<w$} |"));
        }
        s
    };
    writeln!(out, "{}", rule('-'))?;
    writeln!(out, "{}", line(header))?;
    writeln!(out, "{}", rule('='))?;
    for r in rows {
        writeln!(
            out,
            "{}",
            line(&r.iter().map(String::as_str).collect::<Vec<_>>())
        )?;
        writeln!(out, "{}", rule('-'))?;
    }
    Ok(())
}

pub fn write(report: &Report, objects: ObjectsShown, out: &mut dyn Write) -> Result<()> {
    let mut rows: Vec<Vec<String>> = Vec::new();
    for s in report.by_subsystem() {
        rows.push(vec![
            render::syscall_label(&s.name, s.abi),
            s.counts.calls.to_string(),
            s.subsystem.to_owned(),
            render::api(&s.api),
        ]);
        // The object rows under their syscall: the subsystem that served them and
        // the function that did.
        for o in super::objects::shown(s, objects) {
            rows.push(vec![
                format!("- {}", o.name.as_deref().unwrap_or(o.kind)),
                o.counts.calls.to_string(),
                o.subsystem.unwrap_or(s.subsystem).to_owned(),
                [o.command.as_deref(), o.handler.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" "),
            ]);
        }
    }
    grid(
        out,
        &[
            "System Call",
            "# calls",
            "Linux Subsystem",
            "System Call (API)",
        ],
        &rows,
    )?;
    writeln!(out)?;
    let rows: Vec<Vec<String>> = report
        .summary()
        .iter()
        .map(|s| {
            let share = report.percent_of_time(s.counts.total_ns);
            vec![
                s.name.to_owned(),
                s.counts.calls.to_string(),
                s.counts.errors.to_string(),
                format!("{share:.2}"),
                s.syscalls.to_string(),
            ]
        })
        .collect();
    grid(
        out,
        &[
            "Linux Subsystem",
            "# calls",
            "# errors",
            "% time",
            "# syscalls",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_tables_line_up() {
        let mut buf = Vec::new();
        write(&super::super::tests::sample(), ObjectsShown::Auto, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let first: Vec<&str> = text.split("\n\n").next().unwrap().lines().collect();
        assert!(first.iter().all(|l| l.len() == first[0].len()), "{text}");
        assert_eq!(
            first[1].split('|').map(str::trim).collect::<Vec<_>>()[1..5],
            [
                "System Call",
                "# calls",
                "Linux Subsystem",
                "System Call (API)"
            ]
        );
        assert!(first[2].starts_with("+====="));
        assert!(text.contains("| openat "), "{text}");
        assert!(text.contains("| sys_getppid()"), "{text}");
        assert!(text.contains("| getppid [i386] "), "{text}");
        assert!(text.contains("| Process Mgmt. "), "{text}");
        // Grouped: both getppid rows follow openat's Filesystem row.
        let order: Vec<usize> = ["openat", "getppid ", "getppid [i386]"]
            .iter()
            .map(|n| text.find(&format!("| {n}")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }
}
