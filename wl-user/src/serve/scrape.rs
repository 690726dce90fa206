//! One scrape: the per-cgroup maps read, each cgroup and syscall named, one series per
//! label set (cgroups that share a path summed, with what removed ones of that path
//! counted), encoded in the Prometheus or OpenMetrics text format.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Result;
use wl_common::{CgroupSyscallCounts, Counts, slot_syscall};

use super::{
    cgroups::{self, path_of},
    exposition::{CgroupLabels, ErrnoRow, EventRow, IoUringRow, Scrape, SyscallRow},
    retirement::State,
    web_config::BasicAuth,
};
use crate::{
    collector::{CgroupLimits, CgroupSnapshot},
    report::events::owner_rows,
    syscalls::{AbiName, Knowledge, errno_name, io_uring::op_name, objects},
};

pub(super) struct Exporter {
    pub(super) state: Mutex<State>,
    pub(super) knowledge: Knowledge,
    pub(super) limits: CgroupLimits,
    pub(super) by_unit: bool,
    pub(super) gone_ttl: Duration,
    pub(super) timed: bool,
    /// Whether the kernel work beside the syscalls is counted (`--events all`).
    pub(super) events: bool,
    pub(super) auth: Option<BasicAuth>,
    pub(super) password_checks: Arc<tokio::sync::Semaphore>,
    pub(super) kernel: String,
}

impl Exporter {
    /// Reads the kernel side, names what it holds and encodes it. A GET (`shows`) then
    /// drops the removed cgroups whose grace period after their first showing is over;
    /// a HEAD changes nothing.
    pub(super) fn scrape(&self, openmetrics: bool, shows: bool, ttl: Duration) -> Result<String> {
        let mut state = self.state.lock().expect("never poisoned");
        let now = Instant::now();
        let snap = state.collector.cgroup_snapshot()?;
        let (scrape, gone) = self.name(&mut state, &snap, now);
        if shows {
            state.note_scrape(now);
            let grace = state.grace(ttl);
            let mut done = BTreeMap::new();
            for (id, path) in gone {
                let first = *state.first_shown.entry(id).or_insert(now);
                if now.duration_since(first) >= grace {
                    done.insert(id, path);
                }
            }
            state.retire(&done, &snap, now)?;
        }
        // The snapshot goes before the text is made: the two are the largest things a
        // scrape holds. The lock is held while encoding, so that one exposition is
        // made at a time.
        drop(snap);
        Ok(scrape.encode(openmetrics))
    }

    /// The scrape of `snap`, one series per label set: cgroups that share a path (a
    /// removed one and its successor, after `systemctl restart`) are summed, with what
    /// the removed ones of that path counted before they were dropped. Also returns the
    /// removed cgroups shown, with their paths.
    pub(super) fn name(
        &self,
        state: &mut State,
        snap: &CgroupSnapshot,
        now: Instant,
    ) -> (Scrape, BTreeMap<u64, String>) {
        let mut scrape = Scrape {
            timed: self.timed,
            version: env!("CARGO_PKG_VERSION"),
            kernel: self.kernel.clone(),
            lost: snap.lost.clone(),
            ..Scrape::default()
        };
        let labelled = self.label(state, snap, &mut scrape);
        let (counts, errnos) = merge(state, snap, &labelled.index, &scrape.cgroups, now);
        self.rows(counts, errnos, &mut scrape);
        self.event_rows(snap, &labelled.index, &mut scrape);
        scrape.maps = self.fill(snap);
        (scrape, labelled.shown_gone)
    }

    /// Gives every cgroup of `snap` its labels in `scrape.cgroups` (one per path), and
    /// counts them by state.
    fn label(&self, state: &mut State, snap: &CgroupSnapshot, scrape: &mut Scrape) -> Labelled {
        let mut labelled = Labelled::default();
        let mut by_path: HashMap<String, usize> = HashMap::new();
        let mut walked = false;
        let mut states: BTreeMap<&'static str, u64> =
            [("live", 0), ("gone", 0), ("unresolved", 0)].into();
        let ids = snap
            .counts
            .iter()
            .map(|(k, _)| k.cgroup_id)
            .chain(snap.events.iter().map(|(k, _)| k.owner))
            .chain(snap.io_uring.iter().map(|(k, _)| k.owner))
            .chain(snap.cgroups.keys().copied());
        for id in ids {
            if labelled.index.contains_key(&id) {
                continue;
            }
            let gone = snap.cgroups.get(&id).cloned().flatten();
            let path = path_of(&mut state.paths, id, gone.as_deref(), &mut walked);
            if id != 0 {
                *states
                    .get_mut(match (&gone, &path) {
                        (Some(_), _) => "gone",
                        (None, Some(_)) => "live",
                        (None, None) => "unresolved",
                    })
                    .expect("listed") += 1;
            }
            let Some(path) = path else {
                labelled.index.insert(id, None);
                continue;
            };
            if gone.is_some() {
                labelled.shown_gone.insert(id, path.clone());
            }
            let i = match by_path.get(&path) {
                Some(&i) => i,
                None => {
                    let unit = (self.by_unit && id != 0).then(|| cgroups::unit_of(&path));
                    scrape.cgroups.push(CgroupLabels::new(path.clone(), unit));
                    by_path.insert(path, scrape.cgroups.len() - 1);
                    scrape.cgroups.len() - 1
                }
            };
            labelled.index.insert(id, Some(i));
        }
        scrape.cgroup_states = states;
        labelled
    }

    /// The merged counts named: a row per (cgroup, syscall) and per (cgroup, syscall,
    /// errno), in a stable order (by cgroup path, then syscall).
    fn rows(&self, counts: Merged, errnos: MergedErrnos, scrape: &mut Scrape) {
        let name = |slot: u32| {
            let (abi, nr) = slot_syscall(slot);
            let abi = AbiName::of(wl_common::Abi::from_index(abi).expect("slot within the table"));
            let described = self.knowledge.describe(abi, nr);
            (described.name, abi.as_str(), described.subsystem)
        };
        for ((cgroup, slot), c) in counts {
            let (syscall, abi, subsystem) = name(slot);
            scrape.syscalls.push(SyscallRow {
                cgroup,
                syscall,
                abi,
                subsystem,
                counts: c,
            });
        }
        for ((cgroup, slot, errno), n) in errnos {
            let (syscall, abi, _) = name(slot);
            scrape.errnos.push(ErrnoRow {
                cgroup,
                syscall,
                abi,
                errno: errno_name(errno),
                errors: n,
            });
        }
        let cgroups = &scrape.cgroups;
        scrape.syscalls.sort_by(|a, b| {
            (&cgroups[a.cgroup].path, &a.syscall, a.abi).cmp(&(
                &cgroups[b.cgroup].path,
                &b.syscall,
                b.abi,
            ))
        });
        scrape.errnos.sort_by(|a, b| {
            (&cgroups[a.cgroup].path, &a.syscall, a.abi, &a.errno).cmp(&(
                &cgroups[b.cgroup].path,
                &b.syscall,
                b.abi,
                &b.errno,
            ))
        });
    }

    /// The events and io_uring operations of `snap`, named, one row per label set (the
    /// cgroups of a path summed; removed cgroups' counts go with them), in a stable
    /// order. A cgroup's failed faults are its faults less those handled.
    fn event_rows(
        &self,
        snap: &CgroupSnapshot,
        index: &HashMap<u64, Option<usize>>,
        scrape: &mut Scrape,
    ) {
        let mut events: BTreeMap<usize, BTreeMap<(u32, u32), Counts>> = BTreeMap::new();
        for (key, n) in &snap.events {
            if let Some(&Some(i)) = index.get(&key.owner) {
                events
                    .entry(i)
                    .or_default()
                    .entry((key.kind, key.detail))
                    .or_default()
                    .calls += n;
            }
        }
        // Named as the report names them.
        let mut rows: Vec<EventRow> = events
            .iter()
            .flat_map(|(&cgroup, counts)| {
                owner_rows(counts).into_iter().map(move |r| EventRow {
                    cgroup,
                    event: r.event,
                    detail: r.detail,
                    count: r.counts.calls,
                })
            })
            .filter(|r| r.count > 0)
            .collect();
        let ksyms = crate::syscalls::kallsyms::Kallsyms::default();
        let mut ops: BTreeMap<(usize, u32, &'static str), u64> = BTreeMap::new();
        for (key, n) in &snap.io_uring {
            if let Some(&Some(i)) = index.get(&key.owner) {
                let served =
                    objects::describe(&self.knowledge, &ksyms, "io_uring_enter", &key.object)
                        .subsystem
                        .unwrap_or("io_uring");
                *ops.entry((i, key.object.slot, served)).or_default() += n;
            }
        }
        let cgroups = &scrape.cgroups;
        rows.sort_by(|a, b| {
            (&cgroups[a.cgroup].path, a.event, &a.detail).cmp(&(
                &cgroups[b.cgroup].path,
                b.event,
                &b.detail,
            ))
        });
        let mut io_uring: Vec<IoUringRow> = ops
            .into_iter()
            .map(|((cgroup, opcode, subsystem), count)| IoUringRow {
                cgroup,
                op: op_name(opcode),
                subsystem,
                count,
            })
            .collect();
        io_uring.sort_by(|a, b| {
            (&cgroups[a.cgroup].path, &a.op, a.subsystem).cmp(&(
                &cgroups[b.cgroup].path,
                &b.op,
                b.subsystem,
            ))
        });
        scrape.events = rows;
        scrape.io_uring = io_uring;
    }

    /// How full each kernel map is: (entries, capacity).
    fn fill(&self, snap: &CgroupSnapshot) -> BTreeMap<&'static str, (u64, u64)> {
        let others = snap.counts.iter().filter(|(k, _)| k.cgroup_id == 0).count();
        let events = self.events.then(|| {
            let capacity = u64::from(wl_common::OWNER_EVENT_ENTRIES);
            [
                ("cgroup_events", (snap.events.len() as u64, capacity)),
                ("cgroup_io_uring", (snap.io_uring.len() as u64, capacity)),
            ]
        });
        let mut fill: BTreeMap<&'static str, (u64, u64)> = [
            (
                "cgroups",
                (snap.cgroups.len() as u64, u64::from(self.limits.cgroups)),
            ),
            (
                "cgroup_syscalls",
                (
                    (snap.counts.len() - others) as u64,
                    u64::from(self.limits.series),
                ),
            ),
            (
                "cgroup_errnos",
                (
                    snap.errnos.len() as u64,
                    u64::from(self.limits.errno_series),
                ),
            ),
        ]
        .into();
        fill.extend(events.into_iter().flatten());
        fill
    }
}

/// What [`Exporter::label`] found.
#[derive(Default)]
struct Labelled {
    /// Cgroup id → index into the scrape's cgroups; None for one not resolved yet.
    index: HashMap<u64, Option<usize>>,
    /// The removed cgroups shown, with their paths.
    shown_gone: BTreeMap<u64, String>,
}

/// Counts by (cgroup index, syscall slot).
type Merged = BTreeMap<(usize, u32), CgroupSyscallCounts>;
/// Failures by (cgroup index, syscall slot, errno).
type MergedErrnos = BTreeMap<(usize, u32, u32), u64>;

/// The counts of `snap` by label set: the cgroups of one path summed, with what the
/// removed ones of that path counted (whose retirement is then put off: they showed).
fn merge(
    state: &mut State,
    snap: &CgroupSnapshot,
    index: &HashMap<u64, Option<usize>>,
    cgroups: &[CgroupLabels],
    now: Instant,
) -> (Merged, MergedErrnos) {
    let mut counts = Merged::new();
    for (key, c) in &snap.counts {
        if let Some(&Some(i)) = index.get(&key.cgroup_id) {
            *counts.entry((i, key.slot)).or_default() += c;
        }
    }
    let mut errnos = MergedErrnos::new();
    for (key, n) in &snap.errnos {
        if let Some(&Some(i)) = index.get(&key.cgroup_id) {
            *errnos.entry((i, key.slot, key.errno)).or_default() += n;
        }
    }
    for (i, labels) in cgroups.iter().enumerate() {
        let Some(retired) = state.retired.get_mut(&labels.path) else {
            continue;
        };
        retired.seen = now;
        for (slot, c) in &retired.syscalls {
            *counts.entry((i, *slot)).or_default() += c;
        }
        for ((slot, errno), n) in &retired.errnos {
            *errnos.entry((i, *slot, *errno)).or_default() += n;
        }
    }
    (counts, errnos)
}
