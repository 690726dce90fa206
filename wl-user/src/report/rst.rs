//! `--format rst`: the grid table of the kernel's workload-tracing guide
//! (System Call | # calls | Linux Subsystem | System Call (API)), grouped by subsystem,
//! then the same for subsystems, ready to paste into kernel documentation.

use std::io::Write;

use anyhow::Result;

use super::columns::{self, Column, Style, Tables as _, layout};
use super::{Render, Report};

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

/// A grid table of `rows`.
pub fn table<R>(
    report: &Report,
    columns: &[Column<R>],
    rows: &[R],
    out: &mut dyn Write,
) -> Result<()> {
    let columns = columns::shown(report, columns, rows, Style::Rst);
    let (header, body) = columns::cells(report, &columns, rows, Style::Rst);
    grid(out, &header, &body)
}

/// With `--by`: a title and a grid table per task.
pub fn tasks(report: &Report, top: Option<usize>, out: &mut dyn Write) -> Result<()> {
    super::tasks::each_shown(report, top, out, |b, out| {
        let underline = "-".repeat(b.title.chars().count());
        write!(out, "\n{}\n{underline}\n", b.title)?;
        if !b.syscalls.is_empty() {
            writeln!(out)?;
            table(report, &layout::task_rst(), &columns::task_lines(b), out)?;
        }
        Rst::work(report, b.events, b.io_uring, out)
    })
}

/// reStructuredText's tables, for what every format of tables writes alike.
struct Rst;

impl columns::Tables for Rst {
    fn table<R>(
        report: &Report,
        columns: &[Column<R>],
        rows: &[R],
        out: &mut dyn Write,
    ) -> Result<()> {
        table(report, columns, rows, out)
    }
}

pub fn write(report: &Report, render: Render, out: &mut dyn Write) -> Result<()> {
    let (shown, rest) = report.shown_syscalls(render.top);
    let lines = columns::lines(report.by_subsystem(shown), render.objects);
    table(report, &layout::rst(), &lines, out)?;
    if let Some(rest) = rest {
        writeln!(out, "\n{rest}")?;
    }
    writeln!(out)?;
    table(report, &layout::subsystems(), report.summary(), out)?;
    Rst::work(
        report,
        report.events.as_deref().unwrap_or_default(),
        report.io_uring.as_deref().unwrap_or_default(),
        out,
    )?;
    Rst::profile(report, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_tables_line_up() {
        let mut buf = Vec::new();
        write(
            &super::super::tests::sample(),
            Render::plain(super::super::Format::Table),
            &mut buf,
        )
        .unwrap();
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
