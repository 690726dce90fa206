//! The column model: every column the text formats show is defined here once — its
//! names, its alignment and how it reads a row — and each format's layout is a list of
//! these columns. A new column is one definition and its place in the layouts below; a
//! new format is one file that renders [`Cell`]s.
//!
//! JSON is the rows themselves (serde); the picture and the exporter draw from the
//! same rows and counts.

use wl_common::Counts;

use super::{
    Report, SubsystemRow, SyscallRow, events::EventRow, io_uring::IoUringRow, objects::ObjectRow,
    profile::Line as ProfileLine, render, tasks::Block, tasks::TaskSyscall,
};

/// A value as its column holds it; each format decides how it reads.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Empty,
    Int(u64),
    /// A count `strace -c` leaves blank when it is zero (errors).
    Sparse(u64),
    /// Nanoseconds, read as seconds.
    Seconds(u64),
    /// Nanoseconds, read as microseconds.
    Micros(u64),
    /// A percentage.
    Share(f64),
    /// Events per second.
    Rate(f64),
    Text(String),
    /// A kernel identifier or path (Markdown quotes it as code).
    Code(String),
    /// A row under the one before it (an object under its syscall).
    Under(String),
    /// The value of the row above, that this row belongs to (an object row's syscall):
    /// repeated where each row must stand alone (CSV), left out where people read.
    Inherited(String),
}

/// How a format writes cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Table,
    Markdown,
    Rst,
    Csv,
}

impl Cell {
    pub fn render(&self, style: Style) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Int(n) => n.to_string(),
            Cell::Sparse(0) if style == Style::Table => String::new(),
            Cell::Sparse(n) => n.to_string(),
            Cell::Seconds(ns) => format!("{:.6}", *ns as f64 / 1e9),
            Cell::Micros(ns) => format!("{:.3}", *ns as f64 / 1e3),
            Cell::Share(p) => format!("{p:.2}"),
            Cell::Rate(r) => format!("{r:.1}"),
            Cell::Text(s) => s.clone(),
            Cell::Code(s) if style == Style::Markdown => format!("`{s}`"),
            Cell::Code(s) => s.clone(),
            Cell::Under(s) => match style {
                Style::Table => format!("  - {s}"),
                Style::Markdown => format!("↳ {s}"),
                Style::Rst => format!("- {s}"),
                Style::Csv => s.clone(),
            },
            Cell::Inherited(s) if style == Style::Csv => s.clone(),
            Cell::Inherited(_) => String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One column of rows of type `R`.
pub struct Column<R> {
    /// The CSV header, and the column's name.
    pub key: &'static str,
    /// The header in `--format table`, in strace -c's words.
    pub title: &'static str,
    /// The header in Markdown and reStructuredText, in the workload-tracing guide's words.
    pub heading: &'static str,
    pub align: Align,
    /// The table's width (a minimum: longer values push the line).
    pub width: usize,
    /// A time: the text formats show `-` when calls were not timed (`--no-latency`).
    pub timed: bool,
    /// Left out where people read when no row has a value in it.
    pub optional: bool,
    pub value: fn(&Report, &R) -> Cell,
}

impl<R> Column<R> {
    /// The cell as `style` writes it, `-` for a time nobody measured.
    pub fn text(&self, report: &Report, row: &R, style: Style) -> String {
        if self.timed && !report.latency && style != Style::Csv {
            "-".to_owned()
        } else {
            (self.value)(report, row).render(style)
        }
    }
}

/// Rows that carry calls, errors and time.
pub trait Counted {
    fn counts(&self) -> Counts;
}

/// A line of the syscall tables.
#[derive(Clone, Copy)]
pub enum Line<'a> {
    Syscall(&'a SyscallRow),
    /// One object or command of the syscall, under its row.
    Object(&'a SyscallRow, &'a ObjectRow),
    /// Every syscall together (the table's last line).
    Total(Counts),
}

impl Line<'_> {
    /// The subsystem credited: the object's where it did the work, else the syscall's.
    fn subsystem(&self) -> Option<&'static str> {
        match self {
            Line::Syscall(s) => Some(s.served()),
            Line::Object(s, o) => Some(o.subsystem.unwrap_or(s.subsystem)),
            Line::Total(_) => None,
        }
    }

    /// p50, p99 and max, known for whole syscalls only.
    fn spread(&self) -> Option<[u64; 3]> {
        match self {
            Line::Syscall(s) => Some([s.p50_ns, s.p99_ns, s.max_ns]),
            _ => None,
        }
    }
}

impl Counted for Line<'_> {
    fn counts(&self) -> Counts {
        match self {
            Line::Syscall(s) => s.counts,
            Line::Object(_, o) => o.counts,
            Line::Total(c) => *c,
        }
    }
}

impl Counted for SubsystemRow {
    fn counts(&self) -> Counts {
        self.counts
    }
}

impl Counted for Block<'_> {
    fn counts(&self) -> Counts {
        self.counts
    }
}

/// One syscall of one task (`--by`).
pub struct TaskLine<'a> {
    pub task: &'a Block<'a>,
    pub syscall: &'a TaskSyscall,
}

impl Counted for TaskLine<'_> {
    fn counts(&self) -> Counts {
        self.syscall.counts
    }
}

fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn opt_text(s: Option<&str>) -> Cell {
    s.map_or(Cell::Empty, text)
}

fn opt_code(s: Option<&str>) -> Cell {
    s.map_or(Cell::Empty, |s| Cell::Code(s.to_owned()))
}

// Columns of anything counted.

fn share_of<R: Counted>(report: &Report, r: &R) -> Cell {
    Cell::Share(report.percent_of_time(r.counts().total_ns))
}

fn seconds_of<R: Counted>(_: &Report, r: &R) -> Cell {
    Cell::Seconds(r.counts().total_ns)
}

fn calls_of<R: Counted>(_: &Report, r: &R) -> Cell {
    Cell::Int(r.counts().calls)
}

fn errors_of<R: Counted>(_: &Report, r: &R) -> Cell {
    Cell::Sparse(r.counts().errors)
}

/// Per second of the report's duration (an interval's, with `--interval`); at least a
/// nanosecond, so that a rate is never a division by zero.
fn per_second(report: &Report, n: u64) -> Cell {
    Cell::Rate(n as f64 * 1e9 / report.duration_ns.max(1) as f64)
}

fn calls_per_s_of<R: Counted>(report: &Report, r: &R) -> Cell {
    per_second(report, r.counts().calls)
}

fn errors_per_s_of<R: Counted>(report: &Report, r: &R) -> Cell {
    per_second(report, r.counts().errors)
}

fn total_ns_of<R: Counted>(_: &Report, r: &R) -> Cell {
    Cell::Int(r.counts().total_ns)
}

const fn share<R: Counted>() -> Column<R> {
    Column {
        key: "share",
        title: "% wall",
        heading: "% wall time",
        align: Align::Right,
        width: 6,
        timed: true,
        optional: false,
        value: share_of::<R>,
    }
}

const fn seconds<R: Counted>(width: usize) -> Column<R> {
    Column {
        key: "seconds",
        title: "wall s",
        heading: "wall seconds",
        align: Align::Right,
        width,
        timed: true,
        optional: false,
        value: seconds_of::<R>,
    }
}

const fn calls<R: Counted>() -> Column<R> {
    number("calls", "calls", "# calls", 9, calls_of::<R>)
}

const fn errors<R: Counted>() -> Column<R> {
    number("errors", "errors", "# errors", 9, errors_of::<R>)
}

const fn calls_per_s<R: Counted>() -> Column<R> {
    number("calls_per_s", "calls/s", "calls/s", 12, calls_per_s_of::<R>)
}

const fn errors_per_s<R: Counted>() -> Column<R> {
    number(
        "errors_per_s",
        "errors/s",
        "errors/s",
        10,
        errors_per_s_of::<R>,
    )
}

const fn total_ns<R: Counted>() -> Column<R> {
    number("total_ns", "total ns", "total ns", 12, total_ns_of::<R>)
}

/// A column of numbers: right-aligned, untimed.
const fn number<R>(
    key: &'static str,
    title: &'static str,
    heading: &'static str,
    width: usize,
    value: fn(&Report, &R) -> Cell,
) -> Column<R> {
    Column {
        key,
        title,
        heading,
        align: Align::Right,
        width,
        timed: false,
        optional: false,
        value,
    }
}

const fn micros<R>(
    key: &'static str,
    title: &'static str,
    value: fn(&Report, &R) -> Cell,
) -> Column<R> {
    Column {
        key,
        title,
        heading: title,
        align: Align::Right,
        width: 11,
        timed: true,
        optional: false,
        value,
    }
}

// Columns of --profile's lines.

fn profile_samples<'a>() -> Column<ProfileLine<'a>> {
    Column {
        key: "samples",
        title: "samples",
        heading: "Samples",
        align: Align::Right,
        width: 8,
        timed: false,
        optional: false,
        value: |_, l| Cell::Int(l.samples()),
    }
}

fn profile_share<'a>() -> Column<ProfileLine<'a>> {
    Column {
        key: "share",
        title: "% kernel",
        heading: "% of kernel time",
        align: Align::Right,
        width: 8,
        timed: false,
        optional: false,
        value: |r, l| {
            let all = r.profile.as_ref().map_or(0, |p| p.samples);
            Cell::Share(100.0 * l.samples() as f64 / all.max(1) as f64)
        },
    }
}

/// The CPU time the samples stand for, at the profile's rate.
fn profile_seconds<'a>() -> Column<ProfileLine<'a>> {
    Column {
        key: "seconds",
        title: "est. s",
        heading: "Estimated CPU (s)",
        align: Align::Right,
        width: 9,
        timed: false,
        optional: false,
        value: |r, l| {
            let hz = r.profile.as_ref().map_or(1, |p| p.hz.max(1));
            Cell::Seconds(l.samples() * 1_000_000_000 / hz)
        },
    }
}

fn profile_where<'a>() -> Column<ProfileLine<'a>> {
    named(
        "where",
        "subsystem / file / function",
        "Subsystem / file / function",
        27,
        |_, l| match l {
            ProfileLine::Subsystem(s) => text(s.name),
            ProfileLine::File(f) => {
                Cell::Under(f.file.as_deref().unwrap_or("(no source file known)").into())
            }
            ProfileLine::Function(f) => Cell::Under(format!("  {}", f.name)),
        },
    )
}

/// A column of names: left-aligned, untimed.
const fn named<R>(
    key: &'static str,
    title: &'static str,
    heading: &'static str,
    width: usize,
    value: fn(&Report, &R) -> Cell,
) -> Column<R> {
    Column {
        key,
        title,
        heading,
        align: Align::Left,
        width,
        timed: false,
        optional: false,
        value,
    }
}

// Columns of the syscall tables.

/// Something of the syscall itself: its row's, inherited by its object rows.
fn identity(l: &Line, of: fn(&SyscallRow) -> String) -> Cell {
    match l {
        Line::Syscall(s) => Cell::Text(of(s)),
        Line::Object(s, _) => Cell::Inherited(of(s)),
        Line::Total(_) => Cell::Empty,
    }
}

fn avg_us<'a>() -> Column<Line<'a>> {
    micros("avg_us", "usecs/call", |_, l| {
        let c = l.counts();
        Cell::Micros(c.total_ns.checked_div(c.calls).unwrap_or(0))
    })
}
fn p50_us<'a>() -> Column<Line<'a>> {
    micros("p50_us", "p50 usecs", |_, l| {
        l.spread()
            .map_or(Cell::Empty, |[p50, _, _]| Cell::Micros(p50))
    })
}
fn p99_us<'a>() -> Column<Line<'a>> {
    micros("p99_us", "p99 usecs", |_, l| {
        l.spread()
            .map_or(Cell::Empty, |[_, p99, _]| Cell::Micros(p99))
    })
}
fn max_us<'a>() -> Column<Line<'a>> {
    micros("max_us", "max usecs", |_, l| {
        l.spread()
            .map_or(Cell::Empty, |[_, _, max]| Cell::Micros(max))
    })
}

/// The syscall, or under it everything known of the object (the table has no other
/// column for it).
fn syscall_label<'a>() -> Column<Line<'a>> {
    named("syscall", "syscall", "System Call", 16, |_, l| match l {
        Line::Syscall(s) if s.waits => text(render::syscall_label(&s.name, s.abi) + " ~"),
        Line::Syscall(s) => text(render::syscall_label(&s.name, s.abi)),
        Line::Object(_, o) => Cell::Under(o.label()),
        Line::Total(_) => text("total"),
    })
}

/// The syscall, or under it the object's name (its command and handler have columns).
fn syscall<'a>() -> Column<Line<'a>> {
    named("syscall", "syscall", "System Call", 16, |_, l| match l {
        Line::Syscall(s) => text(render::syscall_label(&s.name, s.abi)),
        Line::Object(_, o) => Cell::Under(o.name.clone().unwrap_or_else(|| o.kind.to_owned())),
        Line::Total(_) => text("total"),
    })
}

/// The subsystem of the syscall's entry point (as JSON's `subsystem`), or for an
/// object row the one that served it.
fn entry_subsystem<'a>() -> Column<Line<'a>> {
    named(
        "subsystem",
        "subsystem",
        "Linux Subsystem",
        16,
        |_, l| match l {
            Line::Syscall(s) => text(s.subsystem),
            Line::Object(s, o) => text(o.subsystem.unwrap_or(s.subsystem)),
            Line::Total(_) => Cell::Empty,
        },
    )
}

/// The one subsystem that served every call of the syscall, where objects tell.
fn served_by<'a>() -> Column<Line<'a>> {
    named("served_by", "served by", "Served by", 16, |_, l| match l {
        Line::Syscall(s) => opt_text(s.served_by),
        _ => Cell::Empty,
    })
}

/// The subsystem a line counts under: for a syscall, the one that served all its
/// calls where objects tell, else its entry point's.
fn subsystem<'a>() -> Column<Line<'a>> {
    named("subsystem", "subsystem", "Linux Subsystem", 16, |_, l| {
        opt_text(l.subsystem())
    })
}

fn abi<'a>() -> Column<Line<'a>> {
    named("abi", "abi", "ABI", 6, |_, l| {
        identity(l, |s| s.abi.as_str().to_owned())
    })
}

fn nr<'a>() -> Column<Line<'a>> {
    number("nr", "nr", "Nr", 4, |_, l| {
        identity(l, |s| s.nr.to_string())
    })
}

fn name<'a>() -> Column<Line<'a>> {
    named("name", "name", "Name", 16, |_, l| {
        identity(l, |s| s.name.clone())
    })
}

/// The entry point (`sys_openat()`), or for an object its command and handler.
fn api<'a>() -> Column<Line<'a>> {
    named("api", "api", "System Call (API)", 16, |_, l| match l {
        Line::Syscall(s) => Cell::Code(render::api(&s.api)),
        Line::Object(_, o) => {
            let what: Vec<&str> = [o.command.as_deref(), o.handler.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            if what.is_empty() {
                Cell::Empty
            } else {
                Cell::Code(what.join(" "))
            }
        }
        Line::Total(_) => Cell::Empty,
    })
}

/// The entry point as the tables name it (`sys_openat`), the syscall's on object rows.
fn entry<'a>() -> Column<Line<'a>> {
    named("api", "api", "Entry", 16, |_, l| {
        identity(l, |s| s.api.clone())
    })
}

fn source<'a>() -> Column<Line<'a>> {
    named("source", "source", "Source", 16, |_, l| match l {
        Line::Syscall(s) => opt_code(s.source),
        Line::Object(_, o) => opt_code(o.source.as_deref()),
        Line::Total(_) => Cell::Empty,
    })
}

fn maintainers<'a>() -> Column<Line<'a>> {
    named(
        "maintainers",
        "maintainers",
        "Maintainers",
        16,
        |_, l| match l {
            Line::Syscall(s) => opt_text(s.maintainers),
            Line::Object(_, o) => opt_text(o.maintainers),
            Line::Total(_) => Cell::Empty,
        },
    )
}

fn avg_ns<'a>() -> Column<Line<'a>> {
    Column {
        key: "avg_ns",
        title: "avg ns",
        heading: "avg ns",
        align: Align::Right,
        width: 11,
        timed: false,
        optional: false,
        value: |_, l| match l {
            Line::Syscall(s) => Cell::Int(s.avg_ns),
            _ => {
                let c = l.counts();
                Cell::Int(c.total_ns.checked_div(c.calls).unwrap_or(0))
            }
        },
    }
}

fn min_ns<'a>() -> Column<Line<'a>> {
    Column {
        key: "min_ns",
        title: "min ns",
        heading: "min ns",
        align: Align::Right,
        width: 11,
        timed: false,
        optional: false,
        value: |_, l| match l {
            Line::Syscall(s) => Cell::Int(s.min_ns),
            _ => Cell::Empty,
        },
    }
}

/// A latency percentile in ns (whole syscalls only; 0 when none was timed).
fn percentile_ns<'a>(key: &'static str, value: fn(&Report, &Line<'a>) -> Cell) -> Column<Line<'a>> {
    Column {
        key,
        title: key,
        heading: key,
        align: Align::Right,
        width: 11,
        timed: false,
        optional: false,
        value,
    }
}

fn p50_ns<'a>() -> Column<Line<'a>> {
    percentile_ns("p50_ns", |_, l| match l {
        Line::Syscall(s) => Cell::Int(s.p50_ns),
        _ => Cell::Empty,
    })
}

fn p99_ns<'a>() -> Column<Line<'a>> {
    percentile_ns("p99_ns", |_, l| match l {
        Line::Syscall(s) => Cell::Int(s.p99_ns),
        _ => Cell::Empty,
    })
}

/// Failures by errno, `ENOENT=3 EBADF=1` (whole syscalls only).
fn errnos<'a>() -> Column<Line<'a>> {
    named("errnos", "errnos", "Errnos", 16, |_, l| match l {
        Line::Syscall(s) if !s.errno.is_empty() => text(
            s.errno
                .iter()
                .map(|(e, n)| format!("{e}={n}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => Cell::Empty,
    })
}

fn max_ns<'a>() -> Column<Line<'a>> {
    Column {
        key: "max_ns",
        title: "max ns",
        heading: "max ns",
        align: Align::Right,
        width: 11,
        timed: false,
        optional: false,
        value: |_, l| match l {
            Line::Syscall(s) => Cell::Int(s.max_ns),
            _ => Cell::Empty,
        },
    }
}

/// `syscall` or `object`: CSV's sums over `row = syscall` count every call once.
fn row<'a>() -> Column<Line<'a>> {
    named("row", "row", "Row", 7, |_, l| match l {
        Line::Syscall(_) => text("syscall"),
        Line::Object(..) => text("object"),
        Line::Total(_) => text("total"),
    })
}

fn object_kind<'a>() -> Column<Line<'a>> {
    named("object_kind", "kind", "Kind", 8, |_, l| match l {
        Line::Object(_, o) => text(o.kind),
        _ => Cell::Empty,
    })
}

fn object<'a>() -> Column<Line<'a>> {
    named("object", "object", "Object", 16, |_, l| match l {
        Line::Object(_, o) => opt_text(o.name.as_deref()),
        _ => Cell::Empty,
    })
}

fn command<'a>() -> Column<Line<'a>> {
    named("command", "command", "Command", 16, |_, l| match l {
        Line::Object(_, o) => opt_text(o.command.as_deref()),
        _ => Cell::Empty,
    })
}

fn handler<'a>() -> Column<Line<'a>> {
    named("handler", "handler", "Handler", 16, |_, l| match l {
        Line::Object(_, o) => opt_text(o.handler.as_deref()),
        _ => Cell::Empty,
    })
}

// Columns of the subsystem summary.

fn subsystem_name() -> Column<SubsystemRow> {
    named("subsystem", "subsystem", "Linux Subsystem", 16, |_, s| {
        text(s.name)
    })
}

fn syscalls() -> Column<SubsystemRow> {
    number("syscalls", "syscalls", "# syscalls", 8, |_, s| {
        Cell::Int(s.syscalls)
    })
}

fn io_uring_ops() -> Column<SubsystemRow> {
    Column {
        optional: true,
        ..number("io_uring_ops", "io_uring", "# io_uring ops", 8, |_, s| {
            Cell::Sparse(s.io_uring_ops)
        })
    }
}

fn events_in() -> Column<SubsystemRow> {
    Column {
        optional: true,
        ..number("events", "events", "# events", 8, |_, s| {
            Cell::Sparse(s.events)
        })
    }
}

// Columns of `--by` (one syscall of one task).

fn id(v: Option<u32>) -> Cell {
    v.map_or(Cell::Empty, |v| Cell::Int(v.into()))
}

fn pid<'a>() -> Column<TaskLine<'a>> {
    number("pid", "pid", "PID", 7, |_, t| id(t.task.pid))
}

fn tid<'a>() -> Column<TaskLine<'a>> {
    number("tid", "tid", "TID", 7, |_, t| id(t.task.tid))
}

fn comm<'a>() -> Column<TaskLine<'a>> {
    named("comm", "comm", "Command", 16, |_, t| text(t.task.comm))
}

fn task_syscall<'a>() -> Column<TaskLine<'a>> {
    named("syscall", "syscall", "System Call", 16, |_, t| {
        text(render::syscall_label(&t.syscall.name, t.syscall.abi))
    })
}

fn task_abi<'a>() -> Column<TaskLine<'a>> {
    named("abi", "abi", "ABI", 6, |_, t| text(t.syscall.abi.as_str()))
}

fn task_nr<'a>() -> Column<TaskLine<'a>> {
    number("nr", "nr", "Nr", 4, |_, t| Cell::Int(t.syscall.nr.into()))
}

fn task_name<'a>() -> Column<TaskLine<'a>> {
    named("name", "name", "Name", 16, |_, t| {
        text(t.syscall.name.as_str())
    })
}

fn task_subsystem<'a>() -> Column<TaskLine<'a>> {
    named("subsystem", "subsystem", "Linux Subsystem", 16, |_, t| {
        text(t.syscall.subsystem)
    })
}

// Columns of the events (signals, context switches).

impl Counted for EventRow {
    fn counts(&self) -> Counts {
        self.counts
    }
}

fn event() -> Column<EventRow> {
    named("event", "event", "Event", 16, |_, e| text(e.event))
}

fn event_detail() -> Column<EventRow> {
    named("detail", "detail", "Detail", 20, |_, e| match &e.object {
        Some(object) => text(format!("{} {object}", e.detail)),
        None => text(e.detail.as_str()),
    })
}

/// The time the events took (voluntary switches: the waits), measured even without
/// syscall timing.
fn event_time() -> Column<EventRow> {
    Column {
        key: "seconds",
        title: "wait s",
        heading: "waited (s)",
        align: Align::Right,
        width: 11,
        timed: false,
        optional: true,
        value: |_, e| {
            if e.counts.total_ns > 0 {
                Cell::Seconds(e.counts.total_ns)
            } else {
                Cell::Empty
            }
        },
    }
}

/// Block I/O: the bytes its bios carried.
fn event_bytes() -> Column<EventRow> {
    Column {
        optional: true,
        ..number("bytes", "bytes", "Bytes", 11, |_, e| {
            e.bytes.map_or(Cell::Empty, Cell::Int)
        })
    }
}

fn event_subsystem() -> Column<EventRow> {
    named("subsystem", "subsystem", "Linux Subsystem", 16, |_, e| {
        text(e.subsystem)
    })
}

fn event_source() -> Column<EventRow> {
    named("source", "source", "Source", 16, |_, e| {
        Cell::Code(e.source.clone())
    })
}

// Columns of io_uring's operations.

impl Counted for IoUringRow {
    fn counts(&self) -> Counts {
        self.counts
    }
}

fn uring_submitted() -> Column<IoUringRow> {
    number("submitted", "submitted", "# submitted", 9, |_, r| {
        Cell::Int(r.submitted)
    })
}

fn uring_completed() -> Column<IoUringRow> {
    number(
        "calls",
        "completed",
        "# completed",
        9,
        calls_of::<IoUringRow>,
    )
}

// Percentiles of the time from submission to completion, timed with the syscalls.

// An operation none of whose completions was timed (per task, where no histogram is
// kept) has none; a column that no row has is left out.

fn uring_p50() -> Column<IoUringRow> {
    Column {
        optional: true,
        ..micros("p50_us", "p50 usecs", |_, r| uring_timed(r, r.p50_ns))
    }
}

fn uring_p99() -> Column<IoUringRow> {
    Column {
        optional: true,
        ..micros("p99_us", "p99 usecs", |_, r| uring_timed(r, r.p99_ns))
    }
}

fn uring_timed(r: &IoUringRow, ns: u64) -> Cell {
    if r.timed == 0 {
        Cell::Empty
    } else {
        Cell::Micros(ns)
    }
}

fn uring_op() -> Column<IoUringRow> {
    named("op", "op", "Operation", 16, |_, r| text(r.op.as_str()))
}

/// The objects of an operation's requests, busiest first: `ext4 5, no_file 3`.
fn uring_objects() -> Column<IoUringRow> {
    named("objects", "objects", "Objects", 16, |_, r| {
        let list: Vec<String> = r
            .objects
            .iter()
            .map(|o| {
                let name = o.name.as_deref().unwrap_or(o.kind);
                format!("{name} {}", o.counts.calls)
            })
            .collect();
        text(list.join(", "))
    })
}

fn uring_source() -> Column<IoUringRow> {
    named("source", "source", "Source", 16, |_, r| {
        Cell::Code(r.source.to_owned())
    })
}

// Columns of a list of tasks.

fn task<'a>() -> Column<Block<'a>> {
    named("task", "task", "Task", 16, |_, b| text(b.title.as_str()))
}

/// Each format's columns, in order.
pub mod layout {
    use super::*;

    /// `--format table`: strace -c's columns with the latency spread and the subsystem.
    pub fn table<'a>() -> Vec<Column<Line<'a>>> {
        vec![
            share(),
            seconds(11),
            avg_us(),
            p50_us(),
            p99_us(),
            max_us(),
            calls(),
            errors(),
            syscall_label(),
            subsystem(),
        ]
    }
    /// `--format md`: the guide's columns and the numbers beside them.
    pub fn markdown<'a>() -> Vec<Column<Line<'a>>> {
        vec![
            syscall(),
            abi(),
            calls(),
            errors(),
            share(),
            subsystem(),
            api(),
            source(),
        ]
    }
    /// `--format rst`: the workload-tracing guide's own table.
    pub fn rst<'a>() -> Vec<Column<Line<'a>>> {
        vec![syscall(), calls(), subsystem(), api()]
    }
    /// `--format csv`: every number and name, one object row after its syscall's; `row`
    /// tells them apart (sums over `row = syscall` count each call once).
    pub fn csv<'a>() -> Vec<Column<Line<'a>>> {
        vec![
            abi(),
            nr(),
            name(),
            calls(),
            errors(),
            total_ns(),
            avg_ns(),
            min_ns(),
            max_ns(),
            entry_subsystem(),
            source(),
            entry(),
            maintainers(),
            row(),
            object_kind(),
            object(),
            command(),
            handler(),
            // Added after the first columns, so that readers by position keep working.
            p50_ns(),
            p99_ns(),
            errnos(),
            served_by(),
        ]
    }

    /// `--interval`'s view: rates over the interval.
    pub fn rates<'a>() -> Vec<Column<Line<'a>>> {
        vec![
            calls_per_s(),
            errors_per_s(),
            share(),
            syscall_label(),
            subsystem(),
        ]
    }
    /// `--interval`'s view with `--by`: the rates of each task.
    pub fn task_rates<'a>() -> Vec<Column<Block<'a>>> {
        vec![calls_per_s(), errors_per_s(), share(), task()]
    }

    /// `--profile`'s kernel time by subsystem, with the top files and functions.
    pub fn profile<'a>() -> Vec<Column<ProfileLine<'a>>> {
        vec![
            profile_samples(),
            profile_share(),
            profile_seconds(),
            profile_where(),
        ]
    }

    /// The events under the table.
    pub fn events_table() -> Vec<Column<EventRow>> {
        vec![
            calls(),
            event_time(),
            event_bytes(),
            event(),
            event_detail(),
            event_subsystem(),
        ]
    }
    /// The events in Markdown and reStructuredText.
    pub fn events() -> Vec<Column<EventRow>> {
        vec![
            event(),
            event_detail(),
            calls(),
            event_time(),
            event_bytes(),
            event_subsystem(),
            event_source(),
        ]
    }

    /// io_uring's operations under the table.
    pub fn io_uring_table() -> Vec<Column<IoUringRow>> {
        vec![
            uring_submitted(),
            uring_completed(),
            errors(),
            uring_p50(),
            uring_p99(),
            uring_op(),
            uring_objects(),
        ]
    }
    /// io_uring's operations in Markdown and reStructuredText.
    pub fn io_uring() -> Vec<Column<IoUringRow>> {
        vec![
            uring_op(),
            uring_submitted(),
            uring_completed(),
            errors(),
            uring_p50(),
            uring_p99(),
            uring_objects(),
            uring_source(),
        ]
    }

    /// The subsystem summary in the table.
    pub fn subsystems_table() -> Vec<Column<SubsystemRow>> {
        vec![
            share(),
            calls(),
            errors(),
            syscalls(),
            io_uring_ops(),
            events_in(),
            subsystem_name(),
        ]
    }
    /// The subsystem summary in Markdown and reStructuredText.
    pub fn subsystems() -> Vec<Column<SubsystemRow>> {
        vec![
            subsystem_name(),
            calls(),
            errors(),
            share(),
            syscalls(),
            io_uring_ops(),
            events_in(),
        ]
    }

    /// A task's syscalls under its heading (`--by`), in the table.
    pub fn task_table<'a>() -> Vec<Column<TaskLine<'a>>> {
        vec![calls(), errors(), seconds(11), task_syscall()]
    }
    /// ... in Markdown.
    pub fn task_markdown<'a>() -> Vec<Column<TaskLine<'a>>> {
        vec![
            task_syscall(),
            calls(),
            errors(),
            seconds(8),
            task_subsystem(),
        ]
    }
    /// ... in reStructuredText.
    pub fn task_rst<'a>() -> Vec<Column<TaskLine<'a>>> {
        vec![task_syscall(), calls(), errors(), task_subsystem()]
    }
    /// `--by` in CSV: one row per (task, syscall).
    pub fn task_csv<'a>() -> Vec<Column<TaskLine<'a>>> {
        vec![
            pid(),
            tid(),
            comm(),
            task_abi(),
            task_nr(),
            task_name(),
            calls(),
            errors(),
            total_ns(),
            task_subsystem(),
        ]
    }
}

/// A line per syscall of `rows`, each followed by the object lines `objects` shows.
pub fn lines<'a>(
    rows: impl IntoIterator<Item = &'a SyscallRow>,
    objects: super::ObjectsShown,
) -> Vec<Line<'a>> {
    let mut out = Vec::new();
    for s in rows {
        out.push(Line::Syscall(s));
        out.extend(
            super::objects::shown(s, objects)
                .iter()
                .map(|o| Line::Object(s, o)),
        );
    }
    out
}

/// The syscall lines of one task.
pub fn task_lines<'a>(b: &'a Block<'a>) -> Vec<TaskLine<'a>> {
    b.syscalls
        .iter()
        .map(|syscall| TaskLine { task: b, syscall })
        .collect()
}

/// The header and cells of `rows` as `style` writes them.
/// The columns `style` shows of `columns` for `rows`: where people read (not CSV), a
/// report whose calls were not timed drops the time columns, and an optional column
/// with nothing in any row is dropped; both would be empty.
pub fn shown<'c, R>(
    report: &Report,
    columns: &'c [Column<R>],
    rows: &[R],
    style: Style,
) -> Vec<&'c Column<R>> {
    let read = style != Style::Csv;
    let empty = |c: &Column<R>| {
        rows.iter()
            .all(|r| matches!((c.value)(report, r), Cell::Empty | Cell::Sparse(0)))
    };
    columns
        .iter()
        .filter(|c| !(read && c.timed && !report.latency))
        .filter(|c| !(read && c.optional && empty(c)))
        .collect()
}

/// A format that writes tables of any rows (Markdown, reStructuredText), and what such
/// formats write alike with them.
pub trait Tables {
    fn table<R>(
        report: &Report,
        columns: &[Column<R>],
        rows: &[R],
        out: &mut dyn std::io::Write,
    ) -> anyhow::Result<()>;

    /// The tables of the kernel work besides syscalls (the workload's or one task's),
    /// those with rows.
    fn work(
        report: &Report,
        events: &[EventRow],
        ops: &[IoUringRow],
        out: &mut dyn std::io::Write,
    ) -> anyhow::Result<()> {
        if !events.is_empty() {
            writeln!(out)?;
            Self::table(report, &layout::events(), events, out)?;
        }
        if !ops.is_empty() {
            writeln!(out)?;
            Self::table(report, &layout::io_uring(), ops, out)?;
        }
        Ok(())
    }

    /// `--profile`'s kernel time by subsystem, under a line saying what it is.
    fn profile(report: &Report, out: &mut dyn std::io::Write) -> anyhow::Result<()> {
        if let Some(p) = &report.profile {
            writeln!(out, "\n{}\n", super::profile::heading(p))?;
            Self::table(report, &layout::profile(), &super::profile::lines(p), out)?;
        }
        Ok(())
    }
}

/// The header and cells of `rows` as `style` writes them, in `columns` ([`shown`]).
pub fn cells<R>(
    report: &Report,
    columns: &[&Column<R>],
    rows: &[R],
    style: Style,
) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = columns
        .iter()
        .map(|c| match style {
            Style::Table => c.title,
            Style::Markdown | Style::Rst => c.heading,
            Style::Csv => c.key,
        })
        .collect();
    let body = rows
        .iter()
        .map(|r| columns.iter().map(|c| c.text(report, r, style)).collect())
        .collect();
    (header, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{ObjectsShown, objects};

    fn keys<R>(columns: &[Column<R>]) -> Vec<&'static str> {
        columns.iter().map(|c| c.key).collect()
    }

    #[test]
    fn a_layout_names_each_column_once() {
        let layouts = [
            keys(&layout::table()),
            keys(&layout::markdown()),
            keys(&layout::rst()),
            keys(&layout::csv()),
            keys(&layout::rates()),
            keys(&layout::subsystems()),
            keys(&layout::subsystems_table()),
            keys(&layout::task_table()),
            keys(&layout::task_markdown()),
            keys(&layout::task_rst()),
            keys(&layout::task_csv()),
            keys(&layout::task_rates()),
            keys(&layout::events()),
            keys(&layout::events_table()),
        ];
        for l in layouts {
            let mut unique = l.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), l.len(), "{l:?}");
        }
    }

    #[test]
    fn untimed_reports_show_no_times_where_people_read() {
        let mut report = crate::report::tests::sample();
        report.latency = false;
        let line = Line::Syscall(&report.syscalls[0]);
        let share = share::<Line>();
        assert_eq!(share.text(&report, &line, Style::Markdown), "-");
        assert_eq!(share.text(&report, &line, Style::Table), "-");
        // CSV keeps its numbers: a program reads them, and `latency` says what they are.
        assert_eq!(share.text(&report, &line, Style::Csv), "64.05");
        assert_eq!(calls::<Line>().text(&report, &line, Style::Table), "10");
    }

    #[test]
    fn object_rows_inherit_their_syscall_where_they_must_stand_alone() {
        let mut report = crate::report::tests::sample();
        objects::tests::split_openat(&mut report);
        let lines = lines(&report.syscalls, ObjectsShown::Auto);
        let Line::Object(_, o) = lines[1] else {
            panic!("openat's objects follow it")
        };
        assert_eq!(o.kind, "file");
        fn grid<'a>(
            report: &Report,
            columns: Vec<Column<Line<'a>>>,
            lines: &[Line<'a>],
            style: Style,
        ) -> (Vec<&'static str>, Vec<Vec<String>>) {
            cells(report, &shown(report, &columns, lines, style), lines, style)
        }
        let (_, md) = grid(&report, layout::markdown(), &lines, Style::Markdown);
        assert_eq!(md[1][0], "↳ ext4");
        assert_eq!(md[1][1], "", "the ABI is the row above's");
        let (header, csv) = grid(&report, layout::csv(), &lines, Style::Csv);
        assert_eq!(header[..3], ["abi", "nr", "name"]);
        assert_eq!(csv[1][..3], ["x86_64", "257", "openat"]);
        let (_, table) = grid(&report, layout::table(), &lines, Style::Table);
        assert!(table[1][8].starts_with("  - ext4 "), "{:?}", table[1]);
        // strace -c leaves no errors blank; the other formats write 0.
        assert_eq!(table[3][7], "", "{:?}", table[3]);
        assert_eq!(md[3][3], "0", "{:?}", md[3]);
    }
}
