//! `--format table`: aligned columns in the manner of `strace -c` (which columns: see
//! [`layout::table`]), the subsystem summary, and notes on what the numbers mean.

use std::io::Write;

use anyhow::Result;

use wl_common::{Counts, Lost};

use super::columns::{self, Align, Cell, Column, Counted, Line, Style, layout};
use super::tasks::Block;
use super::{ObjectsShown, Render, Report, render};

/// What frames a table's rows.
pub struct Frame<'f, R> {
    /// Rules under the header and above the footer.
    pub ruled: bool,
    /// The last line (the total).
    pub footer: Option<&'f R>,
    /// At most this many rows (a terminal's height); one line then says how many more
    /// there are, of what (`syscalls`).
    pub fit: Option<(usize, &'static str)>,
    /// A line after the rows for those left out (`--top`).
    pub rest: Option<String>,
    /// The terminal's width: longer lines have their longest name shortened to fit.
    pub width: Option<usize>,
}

impl<R> Frame<'_, R> {
    /// A header and rows, nothing else.
    pub const PLAIN: Self = Frame {
        ruled: false,
        footer: None,
        fit: None,
        rest: None,
        width: None,
    };
}

/// The narrowest a name is shortened to when a line must fit a terminal.
const SHORTEST_NAME: usize = 16;

/// One line of cells in `columns`, each padded to its width but the last; within
/// `width`, if given, by shortening the longest left-aligned cell but the last (an
/// object row's long label) and marking the cut with `…`.
fn line<R>(columns: &[&Column<R>], mut cells: Vec<String>, width: Option<usize>) -> String {
    let compose = |cells: &[String]| {
        let mut text = String::new();
        for (i, (c, cell)) in columns.iter().zip(cells).enumerate() {
            // The last column is not padded (it is usually a name of any length).
            match (c.align, i + 1 == columns.len()) {
                (Align::Left, true) => text.push_str(cell),
                (Align::Right, true) => text.push_str(&format!("{cell:>w$}", w = c.width)),
                (Align::Left, false) => text.push_str(&format!("{cell:<w$} ", w = c.width)),
                (Align::Right, false) => text.push_str(&format!("{cell:>w$} ", w = c.width)),
            }
        }
        text.trim_end().to_owned()
    };
    let text = compose(&cells);
    let Some(width) = width else { return text };
    let over = text.chars().count().saturating_sub(width);
    let longest = (0..cells.len().saturating_sub(1))
        .filter(|&i| columns[i].align == Align::Left)
        .max_by_key(|&i| cells[i].chars().count());
    match longest {
        Some(i) if over > 0 => {
            let len = cells[i].chars().count();
            let keep = len.saturating_sub(over + 1).max(SHORTEST_NAME.min(len));
            if keep < len {
                cells[i] = cells[i].chars().take(keep).collect::<String>() + "…";
            }
            compose(&cells)
        }
        _ => text,
    }
}

/// Writes `rows` in aligned columns under a header, framed by `frame`.
pub fn columns<R>(
    report: &Report,
    columns: &[Column<R>],
    rows: &[R],
    frame: Frame<R>,
    out: &mut dyn Write,
) -> Result<()> {
    let columns = columns::shown(report, columns, rows, Style::Table);
    let rule = columns
        .iter()
        .map(|c| "-".repeat(c.width))
        .collect::<Vec<_>>()
        .join(" ");
    let shown = match frame.fit {
        // One line says how many more there are.
        Some((fit, _)) if rows.len() > fit => fit.saturating_sub(1),
        _ => rows.len(),
    };
    let (header, body) = columns::cells(report, &columns, &rows[..shown], Style::Table);
    let header = header.iter().map(|h| h.to_string()).collect();
    writeln!(out, "{}", line(&columns, header, frame.width))?;
    if frame.ruled {
        writeln!(out, "{rule}")?;
    }
    for cells in body {
        writeln!(out, "{}", line(&columns, cells, frame.width))?;
    }
    if let Some((_, what)) = frame.fit.filter(|_| shown < rows.len()) {
        writeln!(out, "  ({} more {what})", rows.len() - shown)?;
    }
    if let Some(rest) = &frame.rest {
        writeln!(out, "  ({rest})")?;
    }
    if let Some(f) = frame.footer {
        if frame.ruled {
            writeln!(out, "{rule}")?;
        }
        let cells = columns
            .iter()
            .map(|c| c.text(report, f, Style::Table))
            .collect();
        writeln!(out, "{}", line(&columns, cells, frame.width))?;
    }
    Ok(())
}

/// Under the table with `--by`: a block per task, busiest first; past `top`, one line
/// for the rest.
pub fn tasks(report: &Report, render: Render, out: &mut dyn Write) -> Result<()> {
    let top = render.top;
    super::tasks::each_shown(report, top, out, |b, out| {
        let time = Cell::Seconds(b.counts.total_ns).render(Style::Table);
        writeln!(
            out,
            "\n{}: {} calls, {} errors{}",
            b.title,
            b.counts.calls,
            b.counts.errors,
            if report.latency {
                format!(", {time} s")
            } else {
                String::new()
            }
        )?;
        // A task may have caused kernel work without a system call (an io_uring
        // worker): then it has no syscall table.
        if !b.syscalls.is_empty() {
            let lines = columns::task_lines(b);
            let frame = Frame {
                width: render.width,
                ..Frame::PLAIN
            };
            columns(report, &layout::task_table(), &lines, frame, out)?;
        }
        work(report, b.events, b.io_uring, (false, render.width), out)
    })
}

/// The tables of the kernel work besides syscalls (of the workload or of one task), those
/// with rows; `(ruled, width)` as their frames have it.
fn work(
    report: &Report,
    events: &[super::events::EventRow],
    ops: &[super::io_uring::IoUringRow],
    (ruled, width): (bool, Option<usize>),
    out: &mut dyn Write,
) -> Result<()> {
    if !events.is_empty() {
        writeln!(out)?;
        let frame = Frame {
            ruled,
            width,
            ..Frame::PLAIN
        };
        columns(report, &layout::events_table(), events, frame, out)?;
    }
    if !ops.is_empty() {
        writeln!(out)?;
        let frame = Frame {
            ruled,
            width,
            ..Frame::PLAIN
        };
        columns(report, &layout::io_uring_table(), ops, frame, out)?;
    }
    Ok(())
}

/// `--interval`'s view: per syscall (and object) its calls/s, errors/s and share of
/// the interval's time in syscalls, busiest first, then the totals; with `--by`, per
/// task. With `fit` (a terminal's height) the list is cut to fit.
pub fn rates(
    report: &Report,
    objects: ObjectsShown,
    fit: Option<usize>,
    width: Option<usize>,
    out: &mut dyn Write,
) -> Result<()> {
    if let Some(blocks) = super::tasks::blocks(report) {
        let total = blocks.iter().map(|b| b.counts()).sum();
        let total = Block::total(total);
        let frame = Frame {
            ruled: false,
            footer: Some(&total),
            fit: fit.map(|n| (n, "tasks")),
            rest: None,
            width,
        };
        return columns(report, &layout::task_rates(), &blocks, frame, out);
    }
    let total = Line::Total(report.syscalls.iter().map(|s| s.counts).sum());
    let frame = Frame {
        ruled: false,
        footer: Some(&total),
        fit: fit.map(|n| (n, "rows")),
        rest: None,
        width,
    };
    let lines = columns::lines(&report.syscalls, objects);
    columns(report, &layout::rates(), &lines, frame, out)
}

pub fn write(report: &Report, render: Render, out: &mut dyn Write) -> Result<()> {
    let total: Counts = report.syscalls.iter().map(|s| s.counts).sum();
    let (shown, rest) = report.shown_syscalls(render.top);
    let lines = columns::lines(shown, render.objects);
    let frame = Frame {
        ruled: true,
        footer: Some(&Line::Total(total)),
        fit: None,
        rest,
        width: render.width,
    };
    columns(report, &layout::table(), &lines, frame, out)?;
    writeln!(out)?;
    let frame = Frame {
        ruled: true,
        ..Frame::PLAIN
    };
    columns(
        report,
        &layout::subsystems_table(),
        report.summary(),
        frame,
        out,
    )?;
    work(
        report,
        report.events.as_deref().unwrap_or_default(),
        report.io_uring.as_deref().unwrap_or_default(),
        (true, render.width),
        out,
    )?;
    if let Some(p) = &report.profile {
        writeln!(out, "\n{}", super::profile::heading(p))?;
        let frame = Frame {
            ruled: true,
            width: render.width,
            ..Frame::PLAIN
        };
        columns(
            report,
            &layout::profile(),
            &super::profile::lines(p),
            frame,
            out,
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
    let waited: Counts = report
        .syscalls
        .iter()
        .filter(|s| s.waits)
        .map(|s| s.counts)
        .sum();
    if report.latency && waited.calls > 0 {
        writeln!(
            out,
            "wl: ~ marks calls that wait (sleep, poll, wait for a child, a futex, a signal, the disk): {:.6} s of the {:.6} s wall time in syscalls",
            waited.total_ns as f64 / 1e9,
            report.total_ns() as f64 / 1e9
        )?;
    }
    if let Some(only) = &report.only {
        writeln!(out, "wl: counted only {}", only.describe())?;
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
        write(
            &super::super::tests::sample(),
            Render::plain(super::super::Format::Table),
            &mut buf,
        )
        .unwrap();
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
    fn untimed_reports_drop_the_time_columns() {
        let mut report = super::super::tests::sample();
        report.latency = false;
        let mut buf = Vec::new();
        write(
            &report,
            Render::plain(super::super::Format::Table),
            &mut buf,
        )
        .unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0], "    calls    errors syscall          subsystem",
            "{text}"
        );
        assert_eq!(
            lines[2], "       10         3 openat           Filesystem",
            "{text}"
        );
        assert!(!text.contains("% wall") && !text.contains(" - "), "{text}");
    }

    #[test]
    fn lines_fit_the_terminal_by_shortening_the_longest_name() {
        let mut report = super::super::tests::sample();
        super::super::objects::tests::split_openat(&mut report);
        let render = |width| {
            let mut buf = Vec::new();
            let render = Render {
                width,
                ..Render::plain(super::super::Format::Table)
            };
            write(&report, render, &mut buf).unwrap();
            String::from_utf8(buf).unwrap()
        };
        let wide = render(None);
        let long = wide.lines().map(|l| l.chars().count()).max().unwrap();
        let narrow = render(Some(long - 10));
        for l in narrow.lines().filter(|l| !l.starts_with("wl: ")) {
            assert!(l.chars().count() <= long - 10, "{l:?}\n{narrow}");
        }
        // The object row lost the end of its label, not its subsystem.
        let cut = narrow.lines().find(|l| l.contains('…')).expect(&narrow);
        assert!(
            cut.ends_with(" Network") || cut.ends_with(" Filesystem"),
            "{cut}"
        );
        // Lines that fit are left alone.
        assert_eq!(render(Some(1000)), wide);
    }
}
