//! `--format md`: the report as Markdown tables, syscalls in the table's order, then
//! subsystems.

use std::io::Write;

use anyhow::Result;

use super::columns::{self, Align, Column, Style, Tables as _, layout};
use super::{Render, Report};

/// A Markdown table of `rows`.
pub fn table<R>(
    report: &Report,
    columns: &[Column<R>],
    rows: &[R],
    out: &mut dyn Write,
) -> Result<()> {
    let columns = columns::shown(report, columns, rows, Style::Markdown);
    let (header, body) = columns::cells(report, &columns, rows, Style::Markdown);
    writeln!(out, "| {} |", header.join(" | "))?;
    let rule: Vec<&str> = columns
        .iter()
        .map(|c| match c.align {
            Align::Left => "---",
            Align::Right => "---:",
        })
        .collect();
    writeln!(out, "|{}|", rule.join("|"))?;
    for cells in body {
        writeln!(out, "| {} |", cells.join(" | "))?;
    }
    Ok(())
}

/// With `--by`: a heading and a table per task.
pub fn tasks(report: &Report, top: Option<usize>, out: &mut dyn Write) -> Result<()> {
    super::tasks::each_shown(report, top, out, |b, out| {
        write!(out, "\n### {}\n", b.title)?;
        if !b.syscalls.is_empty() {
            writeln!(out)?;
            table(
                report,
                &layout::task_markdown(),
                &columns::task_lines(b),
                out,
            )?;
        }
        Markdown::work(report, b.events, b.io_uring, out)
    })
}

/// Markdown's tables, for what every format of tables writes alike.
struct Markdown;

impl columns::Tables for Markdown {
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
    let lines = columns::lines(shown, render.objects);
    table(report, &layout::markdown(), &lines, out)?;
    if let Some(rest) = rest {
        writeln!(out, "\n{rest}")?;
    }
    writeln!(out)?;
    table(report, &layout::subsystems(), report.summary(), out)?;
    Markdown::work(
        report,
        report.events.as_deref().unwrap_or_default(),
        report.io_uring.as_deref().unwrap_or_default(),
        out,
    )?;
    Markdown::profile(report, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_tables() {
        let mut buf = Vec::new();
        write(
            &super::super::tests::sample(),
            Render::plain(super::super::Format::Table),
            &mut buf,
        )
        .unwrap();
        let text = String::from_utf8(buf).unwrap();
        let tables: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[0].lines().count(), 2 + 4);
        assert!(
            tables[0].contains(
                "| openat | x86_64 | 10 | 3 | 64.05 | Filesystem | `sys_openat()` | `fs/open.c` |"
            ),
            "{text}"
        );
        assert!(
            tables[1].contains("| Process Mgmt. | 1005 | 0 | 35.94 | 2 |"),
            "{text}"
        );
    }
}
