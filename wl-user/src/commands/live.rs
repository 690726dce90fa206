//! `--interval`: what `run` and `attach` report while they trace. At each tick the
//! collector's cumulative sums are read again, and what changed since the last reading
//! is made into a report of its own: a line of JSON Lines, a view redrawn in place on a
//! terminal, or a plain table block elsewhere. The final report is written as usual.

use std::{
    io::{self, Write as _},
    time::{Duration, Instant},
};

use crate::{
    collector::{Collector, Snapshot},
    output::Output,
    report::{Format, ObjectsShown, Render, Report, SortKey, Target},
    syscalls::Knowledge,
};
use anyhow::{Result, bail};
use serde::Serialize;

/// Clears a terminal and puts the cursor at its top left: the view is drawn anew.
const REDRAW: &[u8] = b"\x1b[H\x1b[2J";
/// Lines of the view that are not syscall rows: two of header, the total, and one so
/// that the last newline does not scroll the header away.
const VIEW_FRAME: usize = 4;

/// Checked before anything runs: the formats that can be written while tracing. Returns
/// how the final report is written: JSON on one line, the last of the JSON Lines.
pub fn check(interval: Option<Duration>, render: Render) -> Result<Render> {
    if interval.is_none() {
        return Ok(render);
    }
    match render.format {
        Format::Json => Ok(Render {
            one_line: true,
            ..render
        }),
        Format::Table => Ok(render),
        other => bail!(
            "--interval reports while tracing as JSON Lines (--format json) or a table; not with --format {}",
            clap::ValueEnum::to_possible_value(&other)
                .map_or_else(String::new, |v| v.get_name().to_owned())
        ),
    }
}

/// How the intervals are written.
enum View {
    JsonLines,
    /// Redrawn in place, cut to the terminal's height.
    Terminal,
    /// A table block per interval, for files and pipes: no escape codes.
    Blocks,
}

/// One interval's place in time, in ns since tracing started (as `duration_ns`).
#[derive(Serialize)]
struct Span {
    index: u64,
    start_ns: u64,
    end_ns: u64,
}

/// A line of JSON Lines: the interval, then the report's fields for it.
#[derive(Serialize)]
struct IntervalLine<'r> {
    interval: &'r Span,
    #[serde(flatten)]
    report: &'r Report,
}

pub struct Live<'a> {
    view: View,
    /// The object rows shown under their syscall (`--objects`).
    objects: ObjectsShown,
    /// The order of syscall rows (`--sort`).
    sort: SortKey,
    ticks: tokio::time::Interval,
    output: &'a Output,
    knowledge: &'a Knowledge,
    target: Target,
    started: Instant,
    /// The reading that ended the last interval; None before the first.
    last: Option<Snapshot>,
    last_ns: u64,
    index: u64,
}

impl<'a> Live<'a> {
    /// Reports every `every` from `started` on (None: no `--interval`), with `render`
    /// as [`check`] returned it.
    pub fn start(
        every: Option<Duration>,
        render: Render,
        output: &'a Output,
        target: &Target,
        started: Instant,
        knowledge: &'a Knowledge,
    ) -> Option<Live<'a>> {
        let every = every?;
        let view = match render.format {
            Format::Json => View::JsonLines,
            _ if output.terminal().is_some() => View::Terminal,
            _ => View::Blocks,
        };
        // The first tick one interval in, not at once as `interval` would.
        let mut ticks =
            tokio::time::interval_at(tokio::time::Instant::from_std(started + every), every);
        // A slow reader delays the next report rather than bringing a burst of them.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Some(Live {
            view,
            objects: render.objects,
            sort: render.sort,
            ticks,
            output,
            knowledge,
            target: target.clone(),
            started,
            last: None,
            last_ns: 0,
            index: 0,
        })
    }

    fn report(&mut self, collector: &Collector) -> Result<()> {
        let now = collector.snapshot()?;
        let end_ns = self.started.elapsed().as_nanos() as u64;
        self.write_interval(&now, end_ns)?;
        self.last = Some(now);
        self.last_ns = end_ns;
        self.index += 1;
        Ok(())
    }

    /// Writes what changed between the last reading and `now`, taken `end_ns` after
    /// tracing started.
    fn write_interval(&self, now: &Snapshot, end_ns: u64) -> Result<()> {
        let span = Span {
            index: self.index,
            start_ns: self.last_ns,
            end_ns,
        };
        let mut report = Report::new(
            self.target.clone(),
            end_ns - self.last_ns,
            None,
            now.since(self.last.as_ref()),
            &super::sources(self.knowledge),
        );
        // Intervals in --sort's order too, like the final report.
        report.syscalls.sort_by(|a, b| self.sort.order(a, b));
        // Made whole before it is written, so that a frame appears at once.
        let mut buf = Vec::new();
        match self.view {
            View::JsonLines => {
                serde_json::to_writer(
                    &mut buf,
                    &IntervalLine {
                        interval: &span,
                        report: &report,
                    },
                )?;
                buf.push(b'\n');
            }
            View::Terminal => {
                buf.extend_from_slice(REDRAW);
                let (rows, _) = self.output.terminal().unwrap_or((24, 80));
                let size = Some((rows.into(), self.output.terminal_columns()));
                write_rates(&report, &span, self.objects, size, &mut buf)?;
            }
            View::Blocks => {
                write_rates(&report, &span, self.objects, None, &mut buf)?;
                buf.push(b'\n');
            }
        }
        self.output.write_now(&buf)?;
        Ok(())
    }
}

/// Waits for the next interval's end; forever without `--interval`, so that it can
/// stand in a `select!` beside the other reasons to wake.
pub async fn tick(live: &mut Option<Live<'_>>) {
    match live {
        Some(l) => {
            l.ticks.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Reports the interval that just ended. If that fails, the intervals stop and tracing
/// goes on: everything is still counted and in the final report.
pub fn report(live: &mut Option<Live<'_>>, collector: &Collector) {
    let Some(l) = live else { return };
    if let Err(e) = l.report(collector) {
        if !reader_gone(&e) {
            eprintln!("wl: --interval stops ({e:#}); the final report follows when tracing ends");
        }
        *live = None;
    }
}

/// Reports the last, partial interval: from the last tick to `end_ns`, when tracing
/// stopped, read from `last`, the reading the final report is made of. So every call
/// is in exactly one interval, and the intervals add up to the final report. The live
/// view on a terminal skips it: the final report is drawn right after.
pub fn finish(live: Option<Live<'_>>, last: &Snapshot, end_ns: u64) {
    let Some(l) = live else { return };
    if matches!(l.view, View::Terminal) {
        return;
    }
    if let Err(e) = l.write_interval(last, end_ns)
        && !reader_gone(&e)
    {
        eprintln!("wl: --interval: the last interval was not written ({e:#})");
    }
}

/// Whether writing failed because the reader went away (`| head`), which wanted no more.
fn reader_gone(e: &anyhow::Error) -> bool {
    e.downcast_ref::<io::Error>()
        .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
}

/// The interval as rates, after a line that says which interval it is. With `terminal`
/// (a terminal's height, and its width where known) the view is cut to fit.
fn write_rates(
    report: &Report,
    span: &Span,
    objects: ObjectsShown,
    terminal: Option<(usize, Option<usize>)>,
    out: &mut Vec<u8>,
) -> Result<()> {
    let secs = |ns: u64| ns as f64 / 1e9;
    writeln!(
        out,
        "wl: {:.1} s traced; interval {}: {:.1}-{:.1} s; the final report follows when tracing ends",
        secs(span.end_ns),
        span.index,
        secs(span.start_ns),
        secs(span.end_ns),
    )?;
    let fit = terminal.map(|(rows, _)| rows.saturating_sub(VIEW_FRAME).max(1));
    let width = terminal.and_then(|(_, cols)| cols);
    report.write_rates(objects, fit, width, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_formats_are_refused() {
        let every = Some(Duration::from_secs(1));
        assert!(check(every, Render::plain(Format::Csv)).is_err());
        assert!(check(every, Render::plain(Format::Json)).unwrap().one_line);
        assert!(!check(None, Render::plain(Format::Json)).unwrap().one_line);
        assert!(check(None, Render::plain(Format::Svg)).is_ok());
    }

    #[test]
    fn the_view_fits_the_terminal() {
        let mut report = crate::report::tests::sample();
        // An interval's report lasts the interval.
        report.duration_ns = 500_000_000;
        let span = Span {
            index: 2,
            start_ns: 1_000_000_000,
            end_ns: 1_500_000_000,
        };
        let mut out = Vec::new();
        let objects = ObjectsShown::Auto;
        write_rates(&report, &span, objects, Some((6, None)), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[1].contains("calls/s"), "{text}");
        // 10 openat calls in half a second, 3 failed.
        assert!(lines[2].starts_with("        20.0        6.0"), "{text}");
        assert!(lines[3].contains("(3 more rows)"), "{text}");
        assert!(lines[4].ends_with("total"), "{text}");
        assert!(lines[4].starts_with("      2032.0"), "{text}");
    }
}
