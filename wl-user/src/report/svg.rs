//! `--format svg`: the report as a picture, an icicle chart. The top row divides the
//! chart among subsystems, the row below divides each subsystem among its syscalls, and
//! where objects were resolved a third row divides each syscall among the objects and
//! commands it reached (the netdev ioctls by request); widths are time spent (or calls,
//! `--weight calls`). Below it, where the report counted them, a second chart of the
//! kernel work no syscall shows: page faults, context switches, signals, block I/O and
//! io_uring operations, each kind divided by its details, widths their counts. Every
//! box carries its numbers in a `<title>` tooltip. The file stands alone: no scripts,
//! fonts, styles or links.

use std::{collections::BTreeMap, fmt::Write as _, io::Write};

use anyhow::Result;

use super::{Report, SubsystemRow, SyscallRow, Target, render};

/// What the widths of the boxes measure, as `--weight` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Weight {
    /// Time spent in each syscall.
    Time,
    /// Calls made.
    Calls,
}

/// Positions are kept in hundredths of a pixel, in integers, so that the boxes of a row
/// add up to their parent's width exactly rather than within rounding.
const CENTI: u64 = 100;
/// The chart's width in pixels, without the margins.
const CHART_WIDTH: u64 = 1200;
const MARGIN: u64 = 10;
const ROW_HEIGHT: u64 = 26;
const CAPTION_LINE: u64 = 18;
const FONT_SIZE: u64 = 12;
/// A generous average advance of a 12 px sans-serif character: labels measured with it
/// fit in their box whatever sans-serif font the viewer has.
const CHAR_WIDTH: f64 = 7.0;
/// Space between a box's edge and its label.
const PADDING: f64 = 4.0;
/// The class of each row's boxes, top down.
const LEVELS: [&str; 3] = ["subsystem", "syscall", "object"];
/// The same for the chart of events.
const EVENT_LEVELS: [&str; 2] = ["event", "event-detail"];

/// One box of the chart and the boxes that divide it in the row below.
struct Node {
    /// What the box says when it is wide enough.
    label: String,
    /// Said after the label when there is room for both (its share).
    detail: String,
    /// Calls or nanoseconds: what the width measures.
    weight: u64,
    fill: Rgb,
    /// The tooltip: the numbers, one per line.
    title: String,
    children: Vec<Node>,
}

/// A box placed on the chart.
struct Placed<'a> {
    node: &'a Node,
    depth: usize,
    /// Left edge and width, in hundredths of a pixel from the chart's left.
    x: u64,
    width: u64,
}

pub fn write(report: &Report, weight: Weight, out: &mut dyn Write) -> Result<()> {
    out.write_all(svg(report, weight).as_bytes())?;
    Ok(())
}

/// What the widths can measure for this report: time only if some was measured.
fn effective(report: &Report, asked: Weight) -> Weight {
    if report.latency && report.total_ns() > 0 {
        asked
    } else {
        Weight::Calls
    }
}

fn svg(report: &Report, asked: Weight) -> String {
    let by = effective(report, asked);
    let nodes = tree(report, by);
    let mut placed = Vec::new();
    lay_out(&nodes, 0, CHART_WIDTH * CENTI, 0, &mut placed);
    let rows = placed.iter().map(|p| p.depth + 1).max().unwrap_or(1) as u64;
    let caption = caption(report, asked, by);
    let chart_top = MARGIN + CAPTION_LINE * caption.len() as u64 + 6;
    let width = CHART_WIDTH + 2 * MARGIN;
    let mut height = chart_top + rows * ROW_HEIGHT + MARGIN;
    let events = event_tree(report);
    let mut placed_events = Vec::new();
    lay_out(&events, 0, CHART_WIDTH * CENTI, 0, &mut placed_events);
    let events_caption = height + 6;
    let events_top = events_caption + CAPTION_LINE;
    if !placed_events.is_empty() {
        height = events_top + 2 * ROW_HEIGHT + MARGIN;
    }
    let flame = report.profile.as_ref().map(flame_tree).unwrap_or_default();
    let mut placed_flame = Vec::new();
    lay_out(&flame, 0, CHART_WIDTH * CENTI, 0, &mut placed_flame);
    let flame_caption = height + 6;
    let flame_top = flame_caption + CAPTION_LINE;
    if !placed_flame.is_empty() {
        let rows = placed_flame.iter().map(|p| p.depth + 1).max().unwrap_or(1) as u64;
        height = flame_top + rows * ROW_HEIGHT + MARGIN;
    }

    let mut s = String::new();
    // Writing to a String cannot fail: the results of write! are ignored below.
    let _ = writeln!(s, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="{FONT_SIZE}">"#
    );
    let _ = writeln!(s, "<title>{}</title>", escape(&caption[0]));
    let _ = writeln!(
        s,
        r##"<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>"##
    );
    for (i, line) in caption.iter().enumerate() {
        let y = MARGIN + CAPTION_LINE * i as u64 + FONT_SIZE;
        let (size, weight) = if i == 0 { (14, "bold") } else { (12, "normal") };
        let _ = writeln!(
            s,
            r##"<text x="{MARGIN}" y="{y}" font-size="{size}" font-weight="{weight}" fill="#1a1a1a">{}</text>"##,
            escape(&fit(line, CHART_WIDTH as f64).unwrap_or_default())
        );
    }
    if placed.is_empty() {
        let _ = writeln!(
            s,
            r##"<text x="{MARGIN}" y="{}" fill="#555555">no syscalls were recorded</text>"##,
            chart_top + ROW_HEIGHT / 2 + FONT_SIZE / 3
        );
    }
    draw(&mut s, &placed, chart_top, &LEVELS);
    if !placed_events.is_empty() {
        let total: u64 = events.iter().map(|n| n.weight).sum();
        let _ = writeln!(
            s,
            r##"<text x="{MARGIN}" y="{}" font-size="12" fill="#1a1a1a">{}</text>"##,
            events_caption + FONT_SIZE,
            escape(&format!(
                "Kernel work beside the syscalls: {total} events and io_uring operations · widths: counts"
            ))
        );
        draw(&mut s, &placed_events, events_top, &EVENT_LEVELS);
    }
    if let (Some(p), false) = (&report.profile, placed_flame.is_empty()) {
        let _ = writeln!(
            s,
            r##"<text x="{MARGIN}" y="{}" font-size="12" fill="#1a1a1a">{}</text>"##,
            flame_caption + FONT_SIZE,
            escape(&format!(
                "Kernel stacks (--profile): {} samples at {} Hz · outermost frame on top · widths: samples · colours: each function's subsystem",
                p.samples, p.hz
            ))
        );
        draw(&mut s, &placed_flame, flame_top, &["frame"]);
    }
    let _ = writeln!(s, "</svg>");
    s
}

/// Writes the boxes of one chart whose top row is at `top`; `classes` name its rows.
fn draw(s: &mut String, placed: &[Placed], top: u64, classes: &[&str]) {
    for p in placed {
        let y = top + p.depth as u64 * ROW_HEIGHT;
        let left = MARGIN * CENTI + p.x;
        let _ = writeln!(
            s,
            r##"<g><title>{}</title><rect class="{}" x="{}" y="{y}" width="{}" height="{ROW_HEIGHT}" fill="{}" stroke="#ffffff"/>"##,
            escape(&p.node.title),
            classes[p.depth.min(classes.len() - 1)],
            px(left),
            px(p.width),
            p.node.fill.hex(),
        );
        let room = p.width as f64 / CENTI as f64 - 2.0 * PADDING;
        // The share too when both fit whole; else the label alone, shortened if need be.
        let both = format!("{} {}", p.node.label, p.node.detail);
        let label = fit(&both, room)
            .filter(|l| *l == both && !p.node.detail.is_empty())
            .or_else(|| fit(&p.node.label, room));
        if let Some(label) = label {
            let _ = write!(
                s,
                r##"<text x="{}" y="{}" fill="#1a1a1a">{}</text>"##,
                px(left + (PADDING * CENTI as f64) as u64),
                y + ROW_HEIGHT / 2 + FONT_SIZE / 3,
                escape(&label)
            );
        }
        let _ = writeln!(s, "</g>");
    }
}

/// The events and io_uring operations: a box per kind (`page fault`, `io_uring`, ...)
/// divided by detail (`anon minor`, `READ`), most first, coloured by subsystem.
fn event_tree(report: &Report) -> Vec<Node> {
    let mut kinds: Vec<Node> = Vec::new();
    // A kind in the color of the subsystem of its first detail, a detail lighter.
    let mut add = |kind: &str, subsystem: &str, mut child: Node| {
        child.fill = Rgb::from_hsl(hue_of(subsystem), 0.50, 0.76);
        let i = match kinds.iter().position(|k| k.label == kind) {
            Some(i) => i,
            None => {
                kinds.push(Node {
                    label: kind.to_owned(),
                    detail: String::new(),
                    weight: 0,
                    fill: Rgb::from_hsl(hue_of(subsystem), 0.55, 0.62),
                    title: String::new(),
                    children: Vec::new(),
                });
                kinds.len() - 1
            }
        };
        kinds[i].weight += child.weight;
        kinds[i].children.push(child);
    };
    for e in report.events.iter().flatten() {
        let label = match &e.object {
            Some(object) => format!("{} {object}", e.detail),
            None => e.detail.clone(),
        };
        let mut title = format!(
            "{} {label}\nsubsystem: {}\nsource: {}\ncount: {}",
            e.event, e.subsystem, e.source, e.counts.calls
        );
        if let Some(bytes) = e.bytes {
            let _ = write!(title, "\nbytes: {bytes}");
        }
        if e.counts.total_ns > 0 {
            let _ = write!(title, "\ntime blocked: {}", duration(e.counts.total_ns));
        }
        add(
            e.event,
            e.subsystem,
            Node {
                label,
                detail: String::new(),
                weight: e.counts.calls,
                fill: Rgb(0, 0, 0),
                title,
                children: Vec::new(),
            },
        );
    }
    for op in report.io_uring.iter().flatten() {
        let title = format!(
            "io_uring {}\nsource: {}\nsubmitted: {}\ncompleted: {}\nerrors: {}{}",
            op.op,
            op.source,
            op.submitted,
            op.counts.calls,
            op.counts.errors,
            errnos(&op.errnos)
        );
        add(
            "io_uring",
            op.subsystem,
            Node {
                label: op.op.clone(),
                detail: String::new(),
                weight: op.counts.calls.max(op.submitted),
                fill: Rgb(0, 0, 0),
                title,
                children: Vec::new(),
            },
        );
    }
    kinds.sort_by_key(|k| std::cmp::Reverse(k.weight));
    let total: u64 = kinds.iter().map(|k| k.weight).sum();
    for k in &mut kinds {
        k.children.sort_by_key(|c| std::cmp::Reverse(c.weight));
        k.detail = format!("{:.1}%", 100.0 * k.weight as f64 / total.max(1) as f64);
        k.title = format!(
            "{}\ncount: {}\nshare: {} of the events",
            k.label, k.weight, k.detail
        );
    }
    kinds
}

/// The kernel stacks as a flame graph drawn top down: a box per function, divided by
/// the functions it called, widths by samples, each in its own subsystem's colour.
fn flame_tree(p: &super::profile::Profile) -> Vec<Node> {
    let mut roots: Vec<Node> = Vec::new();
    for stack in &p.stacks {
        let mut level = &mut roots;
        for f in &stack.frames {
            let label = f.label();
            let i = match level.iter().position(|n| n.label == label) {
                Some(i) => i,
                None => {
                    let title = format!(
                        "{label}\nsubsystem: {}\nsource: {}",
                        f.subsystem(),
                        f.file.as_deref().unwrap_or("not known")
                    );
                    level.push(Node {
                        label,
                        detail: String::new(),
                        weight: 0,
                        fill: Rgb::from_hsl(hue_of(f.subsystem()), 0.55, 0.70),
                        title,
                        children: Vec::new(),
                    });
                    level.len() - 1
                }
            };
            level[i].weight += stack.samples;
            level = &mut level[i].children;
        }
    }
    fn finish(nodes: &mut [Node], all: u64) {
        nodes.sort_by(|a, b| b.weight.cmp(&a.weight).then(a.label.cmp(&b.label)));
        for n in nodes {
            let _ = write!(
                n.title,
                "\nsamples: {} ({:.1}% of the kernel's)",
                n.weight,
                100.0 * n.weight as f64 / all.max(1) as f64
            );
            finish(&mut n.children, all);
        }
    }
    finish(&mut roots, p.samples);
    roots
}

/// Subsystems, busiest first, each with its syscalls, busiest first.
fn tree(report: &Report, by: Weight) -> Vec<Node> {
    let measure = |calls: u64, ns: u64| match by {
        Weight::Time => ns,
        Weight::Calls => calls,
    };
    let total = measure(
        report.syscalls.iter().map(|s| s.counts.calls).sum(),
        report.total_ns(),
    );
    let share = |w: u64| 100.0 * w as f64 / total.max(1) as f64;
    // By what served each call where objects were resolved, as the table's summary.
    let mut nodes: Vec<Node> = report
        .summary()
        .iter()
        .map(|sub| {
            let weight = measure(sub.counts.calls, sub.counts.total_ns);
            let hue = hue_of(sub.name);
            Node {
                label: sub.name.to_owned(),
                detail: format!("{:.1}%", share(weight)),
                weight,
                fill: Rgb::from_hsl(hue, 0.55, 0.62),
                title: subsystem_title(report, sub, by, share(weight)),
                children: Vec::new(),
            }
        })
        .collect();
    for s in report.by_subsystem(&report.syscalls) {
        for (subsystem, calls, ns) in served_by(s) {
            let Some(parent) = nodes.iter_mut().find(|n| n.label == subsystem) else {
                continue;
            };
            let weight = measure(calls, ns);
            let mut title = syscall_title(report, s, by, share(weight));
            if subsystem != s.subsystem {
                let _ = write!(title, "\nof which served by {subsystem}: {calls} calls");
            }
            // Below the syscall, the objects and commands whose calls this subsystem
            // served.
            let children = s
                .objects
                .iter()
                .flatten()
                .filter(|o| o.subsystem.unwrap_or(s.subsystem) == subsystem)
                .map(|o| Node {
                    label: o.short_label(),
                    detail: String::new(),
                    weight: measure(o.counts.calls, o.counts.total_ns),
                    fill: parent.fill,
                    title: object_title(
                        report,
                        s,
                        o,
                        by,
                        share(measure(o.counts.calls, o.counts.total_ns)),
                    ),
                    children: Vec::new(),
                })
                .collect();
            parent.children.push(Node {
                label: render::syscall_label(&s.name, s.abi),
                detail: String::new(),
                weight,
                fill: parent.fill,
                title,
                children,
            });
        }
    }
    // The report orders by time, or by calls within a subsystem; the widest box goes
    // first here, whatever the widths measure (stable: ties keep the report's order).
    nodes.sort_by_key(|n| std::cmp::Reverse(n.weight));
    for n in &mut nodes {
        n.children.sort_by_key(|c| std::cmp::Reverse(c.weight));
        let hue = hue_of(&n.label);
        for (i, child) in n.children.iter_mut().enumerate() {
            // Lighter than the subsystem, alternating so that neighbours part.
            let lightness = if i % 2 == 0 { 0.76 } else { 0.83 };
            child.fill = Rgb::from_hsl(hue, 0.50, lightness);
            child.children.sort_by_key(|c| std::cmp::Reverse(c.weight));
            for (j, object) in child.children.iter_mut().enumerate() {
                let lightness = if j % 2 == 0 { 0.88 } else { 0.93 };
                object.fill = Rgb::from_hsl(hue, 0.45, lightness);
            }
        }
    }
    nodes
}

/// A syscall's calls and time by the subsystem that served them: its objects' where
/// they name one, the rest its own (the split `Report::summary` counts).
fn served_by(s: &SyscallRow) -> Vec<(&'static str, u64, u64)> {
    let mut out = vec![(s.subsystem, s.counts.calls, s.counts.total_ns)];
    for o in s.objects.iter().flatten() {
        let Some(sub) = o.subsystem.filter(|&sub| sub != s.subsystem) else {
            continue;
        };
        out[0].1 = out[0].1.saturating_sub(o.counts.calls);
        out[0].2 = out[0].2.saturating_sub(o.counts.total_ns);
        match out.iter_mut().find(|(name, _, _)| *name == sub) {
            Some(e) => {
                e.1 += o.counts.calls;
                e.2 += o.counts.total_ns;
            }
            None => out.push((sub, o.counts.calls, o.counts.total_ns)),
        }
    }
    out.retain(|&(_, calls, _)| calls > 0);
    out
}

/// Places `nodes` side by side in `[x, x + width)`, each as wide as its share of their
/// total weight, and their children below them the same way. Edges are rounded, not
/// widths, so the boxes fill the span exactly; a box rounded to nothing is left out.
fn lay_out<'a>(nodes: &'a [Node], x: u64, width: u64, depth: usize, out: &mut Vec<Placed<'a>>) {
    let total: u64 = nodes.iter().map(|n| n.weight).sum();
    if total == 0 {
        return;
    }
    let edge = |sum: u64| x + (u128::from(width) * u128::from(sum) / u128::from(total)) as u64;
    let mut sum = 0;
    for n in nodes {
        let left = edge(sum);
        sum += n.weight;
        let right = edge(sum);
        if right > left {
            out.push(Placed {
                node: n,
                depth,
                x: left,
                width: right - left,
            });
            lay_out(&n.children, left, right - left, depth + 1, out);
        }
    }
}

fn caption(report: &Report, asked: Weight, by: Weight) -> Vec<String> {
    let target = match &report.target {
        Target::Command(argv) => format!(
            "wl-user run -- {}",
            argv.iter()
                .map(|a| shell_word(a))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Target::Pids(pids) => format!(
            "wl-user attach --pid {}",
            pids.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        ),
        Target::Cgroup(path) => format!("wl-user attach --cgroup {path}"),
    };
    let calls: u64 = report.syscalls.iter().map(|s| s.counts.calls).sum();
    let errors: u64 = report.syscalls.iter().map(|s| s.counts.errors).sum();
    let mut totals = format!(
        "Linux {} {} · {:.2} s · {calls} calls, {errors} errors",
        report.kernel.release,
        report.kernel.arch,
        report.duration_ns as f64 / 1e9,
    );
    if report.latency {
        // Each thread's calls add their own wall time: with threads or processes side by
        // side the sum can exceed the run's duration.
        let _ = write!(
            totals,
            ", {} in syscalls (summed over threads{})",
            duration(report.total_ns()),
            if report.total_ns() > report.duration_ns {
                ", so more than the run lasted"
            } else {
                ""
            }
        );
    }
    let _ = write!(
        totals,
        " · {} syscalls in {} subsystems",
        report.syscalls.len(),
        report.summary().len()
    );
    if let Some(status) = report.exit_status {
        let _ = write!(totals, " · exit status {status}");
    }
    let mut widths = match (asked, by) {
        (Weight::Time, Weight::Time) => "widths: time spent".to_owned(),
        (Weight::Calls, _) => "widths: calls".to_owned(),
        (Weight::Time, Weight::Calls) if !report.latency => {
            "widths: calls, since calls were not timed (--no-latency)".to_owned()
        }
        (Weight::Time, Weight::Calls) => {
            "widths: calls, since no call took measurable time".to_owned()
        }
    };
    if report.latency && report.latency_sample > 1 {
        let _ = write!(
            widths,
            " · times estimated from one call in {} of each thread",
            report.latency_sample
        );
    }
    let lost: Vec<String> = report
        .lost
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(why, n)| format!("{why} {n}"))
        .collect();
    if !lost.is_empty() {
        let _ = write!(widths, " · not recorded: {}", lost.join(", "));
    }
    widths.push_str(" · hover a box for its numbers");
    vec![target, totals, widths]
}

fn subsystem_title(report: &Report, sub: &SubsystemRow, by: Weight, share: f64) -> String {
    format!(
        "{}\nsyscalls: {}\ncalls: {}\nerrors: {}\ntime: {}\nshare: {share:.1}% of {}",
        sub.name,
        sub.syscalls,
        sub.counts.calls,
        sub.counts.errors,
        time(report, sub.counts.total_ns),
        what(by)
    )
}

fn syscall_title(report: &Report, s: &SyscallRow, by: Weight, share: f64) -> String {
    let mut t = format!(
        "{}\nsubsystem: {}\nsource: {}\ncalls: {}\nerrors: {}{}\ntime: {}",
        render::syscall_label(&s.name, s.abi),
        s.subsystem,
        s.source.unwrap_or("unknown"),
        s.counts.calls,
        s.counts.errors,
        errnos(&s.errno),
        time(report, s.counts.total_ns)
    );
    if report.latency && s.timed_calls > 0 {
        let _ = write!(
            t,
            " (avg {}, p50 {}, p99 {}, max {})",
            duration(s.avg_ns),
            duration(s.p50_ns),
            duration(s.p99_ns),
            duration(s.max_ns)
        );
    }
    let _ = write!(t, "\nshare: {share:.1}% of {}", what(by));
    t
}

fn object_title(
    report: &Report,
    s: &SyscallRow,
    o: &super::objects::ObjectRow,
    by: Weight,
    share: f64,
) -> String {
    let mut t = format!(
        "{}\nof: {}\nkind: {}",
        o.short_label(),
        render::syscall_label(&s.name, s.abi),
        o.kind
    );
    for (what, value) in [
        ("command", o.command.as_deref()),
        ("handler", o.handler.as_deref()),
        ("source", o.source.as_deref()),
        ("maintainers", o.maintainers),
    ] {
        if let Some(v) = value {
            let _ = write!(t, "\n{what}: {v}");
        }
    }
    let _ = write!(
        t,
        "\ncalls: {}\nerrors: {}\ntime: {}\nshare: {share:.1}% of {}",
        o.counts.calls,
        o.counts.errors,
        time(report, o.counts.total_ns),
        what(by)
    );
    t
}

/// `arg` as a POSIX shell reads it back: bare where that is safe, else in single quotes.
fn shell_word(arg: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-+=:,./@%".contains(c);
    if !arg.is_empty() && arg.chars().all(safe) {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

fn what(by: Weight) -> &'static str {
    match by {
        Weight::Time => "time",
        Weight::Calls => "calls",
    }
}

/// ` (ENOENT 3, EBADF 1)`, or nothing without errors.
fn errnos(errno: &BTreeMap<String, u64>) -> String {
    if errno.is_empty() {
        return String::new();
    }
    let list: Vec<String> = errno.iter().map(|(e, n)| format!("{e} {n}")).collect();
    format!(" ({})", list.join(", "))
}

fn time(report: &Report, ns: u64) -> String {
    if report.latency {
        duration(ns)
    } else {
        "not measured".to_owned()
    }
}

/// Nanoseconds in the unit that reads best: 950 ns, 12.3 µs, 4.56 ms, 1.23 s.
fn duration(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.1} µs", ns as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.2} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

/// `text` if it fits in `room` pixels, else as much of it as fits followed by an
/// ellipsis; nothing when not even two characters would.
fn fit(text: &str, room: f64) -> Option<String> {
    let max = (room / CHAR_WIDTH).floor().max(0.0) as usize;
    let n = text.chars().count();
    if n <= max {
        Some(text.to_owned())
    } else if max >= 3 {
        Some(text.chars().take(max - 1).chain(['…']).collect())
    } else {
        None
    }
}

/// Hundredths of a pixel as an SVG length.
fn px(centi: u64) -> String {
    format!("{}.{:02}", centi / CENTI, centi % CENTI)
}

/// Text for XML content and attribute values: the five markup characters as entities,
/// and characters XML 1.0 forbids (most control characters, which a command line may
/// hold) as U+FFFD, so that any name or argument yields a well-formed file.
fn escape(text: &str) -> String {
    let mut s = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&apos;"),
            '\t' | '\n' | '\r' => s.push(c),
            c if c < ' ' || matches!(c, '\u{FFFE}' | '\u{FFFF}') => s.push('\u{FFFD}'),
            c => s.push(c),
        }
    }
    s
}

/// A subsystem's hue in degrees, from its name: the same subsystem has the same color in
/// every picture, whatever else the workload did. FNV-1a, for a hash that never changes.
fn hue_of(name: &str) -> f64 {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    (hash % 360) as f64
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Rgb(u8, u8, u8);

impl Rgb {
    /// From hue (degrees), saturation and lightness (0 to 1).
    fn from_hsl(h: f64, s: f64, l: f64) -> Rgb {
        let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
        let h = h.rem_euclid(360.0) / 60.0;
        let x = c * (1.0 - (h % 2.0 - 1.0).abs());
        let (r, g, b) = match h as u32 {
            0 => (c, x, 0.0),
            1 => (x, c, 0.0),
            2 => (0.0, c, x),
            3 => (0.0, x, c),
            4 => (x, 0.0, c),
            _ => (c, 0.0, x),
        };
        let m = l - c / 2.0;
        let byte = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
        Rgb(byte(r), byte(g), byte(b))
    }

    fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::sample;

    /// A box of the picture: its class, its width in pixels and its tooltip.
    #[derive(Debug)]
    struct Box {
        class: String,
        x: f64,
        width: f64,
        fill: String,
        title: String,
        label: Option<String>,
    }

    fn boxes(svg: &str) -> Vec<Box> {
        let doc = roxmltree::Document::parse(svg).expect("the SVG is well-formed XML");
        doc.descendants()
            .filter(|n| n.has_tag_name("rect") && n.attribute("class").is_some())
            .map(|rect| {
                let g = rect.parent().unwrap();
                let child = |tag: &str| {
                    g.children()
                        .find(|c| c.has_tag_name(tag))
                        .and_then(|c| c.text())
                        .map(str::to_owned)
                };
                let num = |a: &str| rect.attribute(a).unwrap().parse::<f64>().unwrap();
                Box {
                    class: rect.attribute("class").unwrap().to_owned(),
                    x: num("x"),
                    width: num("width"),
                    fill: rect.attribute("fill").unwrap().to_owned(),
                    title: child("title").expect("every box has a tooltip"),
                    label: child("text"),
                }
            })
            .collect()
    }

    /// Equal within rounding: each edge is rounded down to a hundredth of a pixel, once
    /// for the subsystem and once more for the syscall in it.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 0.03
    }

    #[test]
    fn widths_are_shares_of_time_and_fill_the_chart() {
        let r = sample();
        let svg = svg(&r, Weight::Time);
        let b = boxes(&svg);
        let total = r.total_ns() as f64;
        let chart = CHART_WIDTH as f64;
        // Without objects resolved there is no third row.
        assert!(!b.iter().any(|b| b.class == "object"));
        for class in &LEVELS[..2] {
            let sum: f64 = b
                .iter()
                .filter(|b| b.class == *class)
                .map(|b| b.width)
                .sum();
            assert!(close(sum, chart), "{class} widths sum to {sum}");
        }
        // openat 90 µs, getppid 50 µs, getppid [i386] 500 ns, syscall_500 10 ns.
        for s in &r.syscalls {
            let label = render::syscall_label(&s.name, s.abi);
            let one = b
                .iter()
                .find(|b| b.class == "syscall" && b.title.starts_with(&format!("{label}\n")))
                .unwrap_or_else(|| panic!("no box for {label}"));
            assert!(
                close(one.width, chart * s.counts.total_ns as f64 / total),
                "{label}: {one:?}"
            );
        }
        // Subsystems from the left, busiest first; each above its syscalls.
        let subs: Vec<_> = b.iter().filter(|b| b.class == "subsystem").collect();
        assert_eq!(subs[0].title.lines().next(), Some("Filesystem"));
        assert!(subs.windows(2).all(|w| w[0].x < w[1].x));
        assert!(close(subs[0].x, MARGIN as f64));
        let pm = subs[1];
        assert!(close(pm.width, chart * 50_500.0 / total), "{pm:?}");
        assert!(svg.contains("widths: time spent"));
    }

    #[test]
    fn weight_by_calls_and_untimed_reports_are_drawn_by_calls() {
        let mut r = sample();
        let calls = 1016.0;
        let chart = CHART_WIDTH as f64;
        let getppid = |svg: &str| {
            boxes(svg)
                .into_iter()
                .find(|b| b.title.starts_with("getppid\n"))
                .unwrap()
        };
        let by_calls = svg(&r, Weight::Calls);
        assert!(close(getppid(&by_calls).width, chart * 1000.0 / calls));
        // The widest first: by calls, Process Mgmt. comes before Filesystem.
        let first = boxes(&by_calls).into_iter().next().unwrap();
        assert!(first.title.starts_with("Process Mgmt.\n"), "{first:?}");
        assert!(by_calls.contains("widths: calls ·"));
        r.latency = false;
        let untimed = svg(&r, Weight::Time);
        assert!(close(getppid(&untimed).width, chart * 1000.0 / calls));
        assert!(untimed.contains("calls were not timed (--no-latency)"));
        assert!(getppid(&untimed).title.contains("time: not measured"));
    }

    #[test]
    fn tooltips_carry_the_numbers() {
        let r = sample();
        let b = boxes(&svg(&r, Weight::Time));
        let title = |first: &str| {
            b.iter()
                .find(|b| b.title.lines().next() == Some(first))
                .unwrap_or_else(|| panic!("no box {first}"))
                .title
                .clone()
        };
        let openat = title("openat");
        for line in [
            "subsystem: Filesystem",
            "source: fs/open.c",
            "calls: 10",
            "errors: 3 (ENOENT 3)",
            "share: 64.1% of time",
        ] {
            assert!(openat.lines().any(|l| l == line), "{line} in {openat}");
        }
        assert!(openat.contains("time: 90.0 µs (avg 9.0 µs"), "{openat}");
        let i386 = title("getppid [i386]");
        assert!(i386.contains("calls: 5\n") && i386.contains("time: 500 ns"));
        let pm = title("Process Mgmt.");
        for line in ["syscalls: 2", "calls: 1005", "errors: 0", "time: 50.5 µs"] {
            assert!(pm.lines().any(|l| l == line), "{line} in {pm}");
        }
        // The same subsystem, the same hue: its syscalls share it; others do not.
        let fill = |first: &str| {
            let f = &b.iter().find(|b| b.title.starts_with(first)).unwrap().fill;
            u32::from_str_radix(&f[1..], 16).unwrap()
        };
        assert_ne!(fill("Filesystem"), fill("Process Mgmt."));
        assert_eq!(
            Rgb::from_hsl(hue_of("Filesystem"), 0.55, 0.62).hex(),
            b[0].fill
        );
    }

    #[test]
    fn labels_fit_their_boxes() {
        let r = sample();
        for b in boxes(&svg(&r, Weight::Time)) {
            if let Some(label) = &b.label {
                let chars = label.chars().count() as f64;
                assert!(chars * CHAR_WIDTH + 2.0 * PADDING <= b.width, "{b:?}");
            }
        }
        assert_eq!(fit("getppid", 100.0).as_deref(), Some("getppid"));
        assert_eq!(fit("rt_sigprocmask", 35.0).as_deref(), Some("rt_s…"));
        assert_eq!(fit("getppid", 14.0), None);
    }

    #[test]
    fn text_is_escaped() {
        let mut r = sample();
        r.syscalls[0].name = "a<&\"b'>".into();
        r.target = Target::Command(vec!["sh".into(), "-c".into(), "x < y && \u{1}\"z\"".into()]);
        let svg = svg(&r, Weight::Time);
        assert!(svg.contains("a&lt;&amp;&quot;b&apos;&gt;"));
        let b = boxes(&svg);
        assert!(b.iter().any(|b| b.title.starts_with("a<&\"b'>\n")));
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let caption = doc
            .descendants()
            .find(|n| n.has_tag_name("text"))
            .and_then(|n| n.text())
            .unwrap();
        // Quoted as a shell reads it back.
        assert_eq!(caption, "wl-user run -- sh -c 'x < y && \u{FFFD}\"z\"'");
    }

    #[test]
    fn words_are_quoted_only_where_a_shell_needs_it() {
        assert_eq!(shell_word("perf"), "perf");
        assert_eq!(shell_word("--loops=10"), "--loops=10");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn objects_and_commands_are_a_third_row() {
        let mut r = sample();
        super::super::objects::tests::split_openat(&mut r);
        let svg = svg(&r, Weight::Calls);
        let b = boxes(&svg);
        let objects: Vec<&Box> = b.iter().filter(|b| b.class == "object").collect();
        assert_eq!(objects.len(), 2, "{svg}");
        let ext4 = objects
            .iter()
            .find(|b| b.title.starts_with("ext4\n"))
            .expect("ext4");
        assert!(ext4.title.contains("of: openat\n"), "{}", ext4.title);
        assert!(
            ext4.title.contains("handler: ext4_file_open"),
            "{}",
            ext4.title
        );
        assert!(ext4.title.contains("calls: 7\n"), "{}", ext4.title);
        // Under the syscall box of the subsystem that served it (Filesystem: the box
        // without "served by"), within its edges.
        let openat = b
            .iter()
            .find(|x| {
                x.class == "syscall"
                    && x.title.starts_with("openat\n")
                    && !x.title.contains("of which served by")
            })
            .expect("openat under Filesystem");
        let (x, width) = (openat.x, openat.width);
        assert!(ext4.x >= x - 0.01 && ext4.x + ext4.width <= x + width + 0.01);
        // The objects of a syscall add up to it: openat's boxes (under Filesystem and
        // Network) are exactly as wide as its objects together.
        let objects_width: f64 = objects.iter().map(|o| o.width).sum();
        let openat_width: f64 = b
            .iter()
            .filter(|x| x.class == "syscall" && x.title.starts_with("openat\n"))
            .map(|x| x.width)
            .sum();
        assert!(
            close(objects_width, openat_width),
            "{objects_width} vs {openat_width}"
        );
    }

    #[test]
    fn an_empty_report_is_still_a_picture() {
        let mut r = sample();
        r.syscalls.clear();
        r.subsystems.clear();
        let svg = svg(&r, Weight::Time);
        assert!(boxes(&svg).is_empty());
        assert!(svg.contains("no syscalls were recorded"));
    }

    #[test]
    fn calls_served_elsewhere_are_drawn_under_that_subsystem() {
        let mut r = sample();
        super::super::objects::tests::split_openat(&mut r);
        let openat = r.syscalls.iter().find(|s| s.name == "openat").unwrap();
        // 7 calls stay under Filesystem, 3 go to Network.
        assert_eq!(
            served_by(openat),
            vec![("Filesystem", 7, 90_000 - 3000), ("Network", 3, 3000)]
        );
        let nodes = tree(&r, Weight::Calls);
        let net = nodes.iter().find(|n| n.label == "Network").unwrap();
        assert_eq!(net.weight, 3);
        assert_eq!(net.children.len(), 1);
        assert_eq!(net.children[0].weight, 3);
        assert!(
            net.children[0]
                .title
                .contains("of which served by Network: 3 calls")
        );
        // Every call once, as in the summary.
        let total: u64 = nodes
            .iter()
            .flat_map(|n| &n.children)
            .map(|c| c.weight)
            .sum();
        assert_eq!(
            total,
            r.syscalls.iter().map(|s| s.counts.calls).sum::<u64>()
        );
    }

    #[test]
    fn events_are_a_chart_of_their_own() {
        use crate::report::{events::EventRow, io_uring::IoUringRow};
        use wl_common::Counts;
        let mut r = sample();
        // Without events, no second chart.
        assert!(
            !boxes(&svg(&r, Weight::Time))
                .iter()
                .any(|b| b.class == "event")
        );
        let calls = |calls| Counts {
            calls,
            ..Counts::default()
        };
        let event = |event, detail: &str, n| EventRow {
            event,
            detail: detail.into(),
            object: None,
            counts: calls(n),
            bytes: None,
            subsystem: "Memory Mgmt.",
            source: "mm/memory.c".into(),
        };
        r.events = Some(vec![
            event("page fault", "anon minor", 60),
            event("page fault", "file minor", 20),
            event("signal", "SIGUSR1", 10),
        ]);
        r.io_uring = Some(vec![IoUringRow {
            op: "READ".into(),
            opcode: 22,
            submitted: 10,
            counts: calls(10),
            errnos: [("EBADF".to_owned(), 2)].into(),
            timed: 10,
            latency_log2: Vec::new(),
            p50_ns: 0,
            p99_ns: 0,
            subsystem: "io_uring",
            source: "io_uring/rw.c",
            objects: Vec::new(),
        }]);
        let svg = svg(&r, Weight::Time);
        let b = boxes(&svg);
        let kinds: Vec<(&str, f64)> = b
            .iter()
            .filter(|b| b.class == "event")
            .map(|b| (b.title.lines().next().unwrap(), b.width))
            .collect();
        // Widths are shares of the 100 events, most first.
        assert_eq!(
            kinds.iter().map(|k| k.0).collect::<Vec<_>>(),
            ["page fault", "signal", "io_uring"]
        );
        assert!(close(kinds[0].1, 0.8 * CHART_WIDTH as f64), "{kinds:?}");
        assert!(close(kinds[2].1, 0.1 * CHART_WIDTH as f64), "{kinds:?}");
        let details: Vec<&str> = b
            .iter()
            .filter(|b| b.class == "event-detail")
            .map(|b| b.title.lines().next().unwrap())
            .collect();
        assert_eq!(
            details,
            [
                "page fault anon minor",
                "page fault file minor",
                "signal SIGUSR1",
                "io_uring READ"
            ]
        );
        let read = b
            .iter()
            .find(|b| b.title.starts_with("io_uring READ"))
            .unwrap();
        assert!(read.title.contains("errors: 0 (EBADF 2)"), "{}", read.title);
        assert!(svg.contains("Kernel work beside the syscalls: 100 events"));
    }

    #[test]
    fn the_picture_stands_alone() {
        let svg = svg(&sample(), Weight::Time);
        for outside in ["<script", "<style", "href", "@import", "url("] {
            assert!(!svg.contains(outside), "{outside}");
        }
    }
}
