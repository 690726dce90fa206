//! Each syscall's calls by the object and command that served them (`--objects`): the
//! kernel side's keys named with the running kernel's symbols and wl's knowledge, and
//! the subsystem summary counted by what served each call.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use wl_common::{Abi, Counts, ObjectKey, object, slot_syscall};

use super::{ObjectsShown, SubsystemRow, SyscallRow};
use crate::syscalls::{AbiName, Knowledge, kallsyms, objects, operations};

/// One object (or command) of one syscall: `calls` of all of a syscall's rows add up
/// to the syscall's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObjectRow {
    /// What the fd was: `file`, `pipe`, `socket`, `char_device`, `anon_inode`, ...;
    /// `none` for a call without an fd (only its command is known), `no_file` for an
    /// fd that was not open, `others` for calls the kernel side could not keep apart.
    pub kind: &'static str,
    /// The object: `ext4`, `pipe`, `/dev/null`, `AF_UNIX stream`, `eventfd`, ...
    pub name: Option<String>,
    /// The command the call carried: `SIOCGIFCONF`, `F_GETFL`, `FUTEX_WAKE`, ...
    pub command: Option<String>,
    /// The kernel function that did the call's work (`pipe_write`, `tcp_sendmsg`).
    pub handler: Option<String>,
    /// The generic operation the call entered when `handler` is the protocol's own
    /// function it handed the work to (`inet_sendmsg` for `tcp_sendmsg`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// The source file of the handler, or of the object's code.
    pub source: Option<String>,
    /// The MAINTAINERS section of `source`.
    pub maintainers: Option<&'static str>,
    /// Where the subsystem summary counts these calls: the coarse subsystem of the
    /// handler's `source` where the object's operation does the call's work (a read, a
    /// write, an ioctl, a socket call); null where the syscall's own code does it (an
    /// mmap, an fcntl, a dup) or no handler is known: the syscall's subsystem.
    pub subsystem: Option<&'static str>,
    /// Calls, failures and time (ns): in JSON `calls`, `errors`, `total_ns`.
    #[serde(flatten)]
    pub counts: Counts,
}

impl ObjectRow {
    /// The calls of keys the kernel side could not keep apart (its map was full).
    pub fn others(counts: Counts) -> ObjectRow {
        ObjectRow {
            kind: "others",
            name: None,
            command: None,
            handler: None,
            via: None,
            source: None,
            maintainers: None,
            subsystem: None,
            counts,
        }
    }

    /// The object and its command, without handler or source: `AF_INET UDP
    /// SIOCGIFCONF`, `pipe`, `/dev/null`, `PR_SET_NAME`.
    pub fn short_label(&self) -> String {
        match (self.name.as_deref(), self.command.as_deref()) {
            (Some(name), Some(command)) => format!("{name} {command}"),
            (Some(name), None) => name.to_owned(),
            // A call without an fd: its command says it all (PR_SET_NAME).
            (None, Some(command)) => command.to_owned(),
            (None, None) => self.kind.to_owned(),
        }
    }

    /// How the tables show it: `pipe pipe_write fs/pipe.c`, `socket AF_INET dgram
    /// SIOCGIFCONF sock_ioctl net/socket.c`.
    pub fn label(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        match self.name.as_deref() {
            Some(n) => parts.push(n),
            None => parts.push(self.kind),
        }
        parts.extend(self.command.as_deref());
        parts.extend(self.handler.as_deref());
        let mut label = parts.join(" ");
        if let Some(s) = &self.source {
            label.push_str(&format!(" ({s})"));
        }
        label
    }
}

/// The object rows of every syscall slot, named; the rows of one slot whose names are
/// equal (keys that differ only in what the report does not show) are merged.
pub fn build(
    keys: Vec<(ObjectKey, Counts)>,
    k: &Knowledge,
    ksyms: &kallsyms::Kallsyms,
) -> BTreeMap<(AbiName, u32), Vec<ObjectRow>> {
    let mut out: BTreeMap<(AbiName, u32), Vec<ObjectRow>> = BTreeMap::new();
    // Where each distinct object of a syscall is in `out`: a run can have thousands.
    type Identity = (
        &'static str,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    );
    let mut index: HashMap<(AbiName, u32), HashMap<Identity, usize>> = HashMap::new();
    let identity = |r: &ObjectRow| -> Identity {
        (
            r.kind,
            r.name.clone(),
            r.command.clone(),
            r.handler.clone(),
            r.source.clone(),
        )
    };
    for (key, counts) in keys {
        let (abi_index, nr) = slot_syscall(key.slot);
        let abi_kernel = Abi::from_index(abi_index).unwrap_or(Abi::Native);
        let abi = AbiName::of(abi_kernel);
        let syscall = k.name_of(abi, nr);
        // The call counts under its handler's subsystem only where the object's code
        // does the work (see `Operation::object_serves`) and a handler was found.
        let serves = operations::operation(abi_kernel, &syscall).is_some_and(|o| o.object_serves);
        let row = if key.kind == object::OTHERS {
            ObjectRow::others(counts)
        } else {
            let info = objects::describe(k, ksyms, &syscall, &key);
            let served = serves && info.handler.is_some();
            let mut row = ObjectRow {
                kind: info.kind,
                name: info.name,
                command: info.command,
                handler: info.handler,
                via: info.via,
                source: info.source,
                maintainers: info.section.map(|s| s.name),
                subsystem: info.subsystem.filter(|_| served),
                counts,
            };
            if syscall == "ioctl"
                && row
                    .command
                    .as_deref()
                    .is_some_and(|c| operations::vfs_serves_ioctl(c, row.kind))
            {
                // The VFS answers it without calling the file's ioctl (fs/ioctl.c).
                // That is ioctl's own source file, with its section.
                let ioctl = k.describe(abi, nr);
                row.handler = Some("do_vfs_ioctl".into());
                row.via = None;
                row.source = ioctl.source.map(str::to_owned);
                row.maintainers = ioctl.maintainers;
                row.subsystem = Some(ioctl.subsystem);
            }
            row
        };
        let rows = out.entry((abi, nr)).or_default();
        let at = index.entry((abi, nr)).or_default();
        match at.get(&identity(&row)) {
            Some(&i) => {
                let r: &mut ObjectRow = &mut rows[i];
                r.counts += row.counts;
            }
            None => {
                at.insert(identity(&row), rows.len());
                rows.push(row);
            }
        }
    }
    for rows in out.values_mut() {
        rows.sort_by(|a, b| {
            b.counts
                .calls
                .cmp(&a.counts.calls)
                .then_with(|| a.label().cmp(&b.label()))
        });
    }
    out
}

/// Scales the object rows' time like their syscall's: with sampled latency only some
/// calls were timed, and the syscall's total is the timed total scaled to all calls.
pub fn scale_time(rows: &mut [ObjectRow], calls: u64, timed: u64) {
    for r in rows {
        r.counts.total_ns = (u128::from(r.counts.total_ns) * u128::from(calls))
            .checked_div(u128::from(timed))
            .map_or(0, |t| t as u64);
    }
}

/// The object rows a table shows under `row`: every one with `all`; with `auto`, all
/// of them where the syscall reached more than one object or one served outside its
/// own subsystem, else none.
pub fn shown(row: &SyscallRow, which: ObjectsShown) -> &[ObjectRow] {
    let Some(objects) = row.objects.as_deref() else {
        return &[];
    };
    let interesting = objects.len() > 1
        || objects
            .iter()
            .any(|o| o.subsystem.is_some_and(|s| s != row.subsystem));
    match which {
        ObjectsShown::All => objects,
        ObjectsShown::Auto if interesting => objects,
        _ => &[],
    }
}

/// The one subsystem that served every call of a syscall's `rows` (`entry`: the
/// syscall's own, for objects whose operation does not do the work); None when two or
/// more did.
pub fn served_by(rows: &[ObjectRow], entry: &'static str) -> Option<&'static str> {
    let mut served = rows
        .iter()
        .filter(|o| o.counts.calls > 0)
        .map(|o| o.subsystem.unwrap_or(entry));
    let first = served.next()?;
    served.all(|s| s == first).then_some(first)
}

/// The subsystem summary with each call counted under the subsystem that served it:
/// its object's where known, else its syscall's.
pub fn subsystems(syscalls: &[SyscallRow]) -> Vec<SubsystemRow> {
    let mut out: Vec<SubsystemRow> = Vec::new();
    let mut seen: Vec<(&'static str, String, AbiName)> = Vec::new();
    let mut add = |name: &'static str, row: &SyscallRow, counts: Counts| {
        let s = SubsystemRow::find(&mut out, name);
        s.counts += counts;
        let key = (name, row.name.clone(), row.abi);
        if !seen.contains(&key) {
            seen.push(key);
            s.syscalls += 1;
        }
    };
    for r in syscalls {
        let Some(objects) = &r.objects else {
            add(r.subsystem, r, r.counts);
            continue;
        };
        let mut uncovered = r.counts;
        for o in objects {
            add(o.subsystem.unwrap_or(r.subsystem), r, o.counts);
            uncovered = uncovered - o.counts;
        }
        // Calls the objects do not cover (none, unless the kernel side lost some).
        if uncovered.calls > 0 {
            add(r.subsystem, r, uncovered);
        }
    }
    super::sort_subsystems(&mut out);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn object(name: &str, subsystem: Option<&'static str>, calls: u64, errors: u64) -> ObjectRow {
        ObjectRow {
            kind: "file",
            name: Some(name.into()),
            command: None,
            handler: Some(format!("{name}_file_open")),
            via: None,
            source: subsystem.map(|_| "net/socket.c".into()),
            maintainers: None,
            subsystem,
            counts: Counts {
                calls,
                errors,
                total_ns: 1000 * calls,
            },
        }
    }

    /// The sample's openat (10 calls, 3 errors) split over an ext4 file and something
    /// of another subsystem.
    pub fn split_openat(report: &mut super::super::Report) {
        let row = report
            .syscalls
            .iter_mut()
            .find(|s| s.name == "openat")
            .unwrap();
        row.objects = Some(vec![
            object("ext4", None, 7, 3),
            object("sock", Some("Network"), 3, 0),
        ]);
        report.subsystems_by_object = Some(subsystems(&report.syscalls));
    }

    #[test]
    fn shown_where_a_syscall_reached_more_than_one_object_or_another_subsystem() {
        let mut report = super::super::tests::sample();
        split_openat(&mut report);
        let row = report.syscalls.iter().find(|s| s.name == "openat").unwrap();
        assert_eq!(shown(row, ObjectsShown::Auto).len(), 2);
        assert_eq!(shown(row, ObjectsShown::None).len(), 0);
        let mut one = row.clone();
        one.objects = Some(vec![object("ext4", None, 10, 3)]);
        assert!(shown(&one, ObjectsShown::Auto).is_empty());
        assert_eq!(shown(&one, ObjectsShown::All).len(), 1);
        one.objects = Some(vec![object("sock", Some("Network"), 10, 3)]);
        assert_eq!(shown(&one, ObjectsShown::Auto).len(), 1);
    }

    #[test]
    fn summary_counts_each_call_where_it_was_served() {
        let mut report = super::super::tests::sample();
        split_openat(&mut report);
        let by_object = report.subsystems_by_object.as_ref().unwrap();
        let get = |name: &str| by_object.iter().find(|s| s.name == name).unwrap();
        let by_entry = |name: &str| report.subsystems.iter().find(|s| s.name == name).unwrap();
        assert_eq!(get("Network").counts.calls, 3);
        assert_eq!(get("Network").syscalls, 1);
        assert_eq!(
            get("Filesystem").counts.calls,
            by_entry("Filesystem").counts.calls - 3
        );
        assert_eq!(
            get("Filesystem").counts.errors,
            by_entry("Filesystem").counts.errors
        );
        // Every call once, either way.
        let total = |rows: &[SubsystemRow]| rows.iter().map(|s| s.counts.calls).sum::<u64>();
        assert_eq!(total(by_object), total(&report.subsystems));
    }

    #[test]
    fn labels_name_the_object_command_handler_and_source() {
        let mut o = object("sock", Some("Network"), 1, 0);
        o.command = Some("SIOCGIFCONF".into());
        assert_eq!(o.label(), "sock SIOCGIFCONF sock_file_open (net/socket.c)");
        o.name = None;
        o.handler = None;
        o.source = None;
        assert_eq!(o.label(), "file SIOCGIFCONF");
    }
}
