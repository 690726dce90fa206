//! The difference of two readings: what was gathered between them. The kernel side's
//! sums only grow, so an interval is the later reading less the earlier, per syscall,
//! errno, task and object; the fastest and slowest call, which the kernel keeps only as
//! running extremes, are bounded by the interval's histogram.

use std::collections::BTreeMap;

use wl_common::{Abi, BlockCounts, BlockKey, Counts, FaultKey, LATENCY_BUCKETS};

use super::{IoUringSnapshot, Snapshot, SyscallCounts, TaskSnapshot, profile::ProfileSnapshot};

impl Snapshot {
    /// What was gathered since `before` (None: since tracing started).
    pub fn since(&self, before: Option<&Snapshot>) -> Snapshot {
        delta(before, self)
    }
}

/// What was gathered between two readings of the cumulative sums (`before` None: since
/// the start). Both are in (ABI, number) order and counts only grow.
fn delta(before: Option<&Snapshot>, now: &Snapshot) -> Snapshot {
    let earlier: BTreeMap<(Abi, u32), &SyscallCounts> = before
        .map(|b| b.syscalls.iter().map(|s| ((s.abi, s.nr), s)).collect())
        .unwrap_or_default();
    let syscalls = now
        .syscalls
        .iter()
        .filter_map(|s| {
            let b = earlier.get(&(s.abi, s.nr)).copied();
            let counts = s.counts - b.map_or_else(Counts::default, |b| b.counts);
            if counts.calls == 0 {
                return None;
            }
            let latency_log2 = histogram_since(&s.latency_log2, b.map(|b| &b.latency_log2));
            let errnos = counts_since(&s.errnos, b.map(|b| &b.errnos));
            let (min_ns, max_ns) = extremes(&latency_log2, s, b);
            Some(SyscallCounts {
                abi: s.abi,
                nr: s.nr,
                counts,
                timed: s.timed.saturating_sub(b.map_or(0, |b| b.timed)),
                min_ns,
                max_ns,
                latency_log2,
                errnos,
            })
        })
        .collect();
    let lost = now
        .lost
        .iter()
        .map(|(&k, &n)| {
            let was = before.and_then(|b| b.lost.get(k)).copied().unwrap_or(0);
            (k, n.saturating_sub(was))
        })
        .collect();
    Snapshot {
        latency: now.latency,
        syscalls,
        lost,
        // Reported once, with the final report.
        denied: Vec::new(),
        only: now.only.clone(),
        events: now.events.as_ref().map(|n| {
            let earlier: BTreeMap<u32, Counts> = before
                .and_then(|b| b.events.as_ref())
                .map(|e| e.iter().copied().collect())
                .unwrap_or_default();
            n.iter()
                .map(|&(slot, c)| (slot, c - earlier.get(&slot).copied().unwrap_or_default()))
                .filter(|(_, c)| c.calls > 0 || c.total_ns > 0)
                .collect()
        }),
        block: now.block.as_ref().map(|n| {
            let earlier: BTreeMap<BlockKey, BlockCounts> = before
                .and_then(|b| b.block.as_ref())
                .map(|e| e.iter().copied().collect())
                .unwrap_or_default();
            n.iter()
                .map(|&(k, c)| (k, c - earlier.get(&k).copied().unwrap_or_default()))
                .filter(|(_, c)| c.bios > 0)
                .collect()
        }),
        faults: now.faults.as_ref().map(|n| {
            let earlier: BTreeMap<FaultKey, u64> = before
                .and_then(|b| b.faults.as_ref())
                .map(|e| e.iter().copied().collect())
                .unwrap_or_default();
            n.iter()
                .map(|&(k, c)| (k, c.saturating_sub(earlier.get(&k).copied().unwrap_or(0))))
                .filter(|&(_, c)| c > 0)
                .collect()
        }),
        io_uring: now
            .io_uring
            .as_ref()
            .map(|n| io_uring_delta(before.and_then(|b| b.io_uring.as_ref()), n)),
        tasks: now.tasks.as_ref().map(|t| {
            let before = before.and_then(|b| b.tasks.as_ref());
            TaskSnapshot {
                by: t.by,
                counts: task_delta(before, t),
                exits: t.exits.clone(),
                events: rows_since(before.map(|b| b.events.as_slice()), &t.events),
                io_uring: rows_since(before.map(|b| b.io_uring.as_slice()), &t.io_uring),
            }
        }),
        objects: now
            .objects
            .as_ref()
            .map(|o| rows_since(before.and_then(|b| b.objects.as_deref()), o)),
        profile: now.profile.as_ref().map(|p| {
            let before = before.and_then(|b| b.profile.as_ref());
            let was = |id: &u32| before.and_then(|b| b.stacks.get(id)).map_or(0, |s| s.1);
            ProfileSnapshot {
                hz: p.hz,
                clock: p.clock,
                user: p.user.saturating_sub(before.map_or(0, |b| b.user)),
                kernel: p.kernel.saturating_sub(before.map_or(0, |b| b.kernel)),
                // A stack's id keeps its stack for the whole run (buckets are never
                // taken over; see `profile::Sampling`), so counts subtract by id.
                stacks: p
                    .stacks
                    .iter()
                    .map(|(id, (frames, n))| (*id, (frames.clone(), n.saturating_sub(was(id)))))
                    .filter(|(_, (_, n))| *n > 0)
                    .collect(),
            }
        }),
    }
}

/// Each count of `now` less its value in `before`, the ones that moved.
fn counts_since<K: Ord + Copy>(
    now: &BTreeMap<K, u64>,
    before: Option<&BTreeMap<K, u64>>,
) -> BTreeMap<K, u64> {
    now.iter()
        .map(|(&k, &n)| {
            let was = before.and_then(|b| b.get(&k)).copied().unwrap_or(0);
            (k, n.saturating_sub(was))
        })
        .filter(|&(_, n)| n > 0)
        .collect()
}

/// A latency histogram less its earlier reading, bucket by bucket.
fn histogram_since(
    now: &[u64; LATENCY_BUCKETS],
    before: Option<&[u64; LATENCY_BUCKETS]>,
) -> [u64; LATENCY_BUCKETS] {
    let mut d = *now;
    if let Some(before) = before {
        for (n, was) in d.iter_mut().zip(before) {
            *n = n.saturating_sub(*was);
        }
    }
    d
}

/// The io_uring operations between two readings.
fn io_uring_delta(before: Option<&IoUringSnapshot>, now: &IoUringSnapshot) -> IoUringSnapshot {
    let empty = IoUringSnapshot::default();
    let before = before.unwrap_or(&empty);
    let latency = now
        .latency
        .iter()
        .map(|(&op, hist)| (op, histogram_since(hist, before.latency.get(&op))))
        .filter(|(_, d)| d.iter().any(|&n| n > 0))
        .collect();
    let errnos = now
        .errnos
        .iter()
        .map(|(&op, by)| (op, counts_since(by, before.errnos.get(&op))))
        .filter(|(_, d)| !d.is_empty())
        .collect();
    IoUringSnapshot {
        submitted: counts_since(&now.submitted, Some(&before.submitted)),
        completed: rows_since(Some(&before.completed), &now.completed),
        latency,
        errnos,
    }
}

/// The counts per key (object, task event, ...) gathered between two readings.
fn rows_since<K: Ord + Copy>(
    before: Option<&[(K, Counts)]>,
    now: &[(K, Counts)],
) -> Vec<(K, Counts)> {
    let earlier: BTreeMap<K, Counts> = before.unwrap_or_default().iter().copied().collect();
    now.iter()
        .filter_map(|(k, c)| {
            let d = *c - earlier.get(k).copied().unwrap_or_default();
            (d.calls + d.errors > 0 || d.total_ns > 0).then_some((*k, d))
        })
        .collect()
}

/// The per-thread counts gathered between two readings (`--by`). A reading may hold a
/// thread's syscall twice (the map and a CPU's cache): summed first.
fn task_delta(before: Option<&TaskSnapshot>, now: &TaskSnapshot) -> Vec<(u32, Abi, u32, Counts)> {
    let sum = |t: &TaskSnapshot| {
        let mut m: BTreeMap<(u32, Abi, u32), Counts> = BTreeMap::new();
        for &(id, abi, nr, c) in &t.counts {
            *m.entry((id, abi, nr)).or_default() += c;
        }
        m
    };
    let earlier = before.map(sum).unwrap_or_default();
    sum(now)
        .into_iter()
        .filter_map(|((id, abi, nr), c)| {
            let d = c - earlier.get(&(id, abi, nr)).copied().unwrap_or_default();
            (d.calls + d.errors > 0).then_some((id, abi, nr, d))
        })
        .collect()
}

/// An interval's fastest and slowest call. The kernel keeps only running extremes: one
/// that moved was reached in this interval and is exact; otherwise the interval's
/// histogram bounds it (its outer buckets, within the extremes so far).
fn extremes(
    hist: &[u64; LATENCY_BUCKETS],
    now: &SyscallCounts,
    before: Option<&SyscallCounts>,
) -> (u64, u64) {
    let (Some(first), Some(last)) = (
        hist.iter().position(|&n| n > 0),
        hist.iter().rposition(|&n| n > 0),
    ) else {
        return (0, 0);
    };
    let fresh = before.is_none_or(|b| b.timed == 0);
    let min = if fresh || before.is_some_and(|b| now.min_ns < b.min_ns) {
        now.min_ns
    } else {
        // Bucket b holds [2^(b-1), 2^b) ns; bucket 0 what took under 1 ns.
        let low = if first == 0 { 0 } else { 1u64 << (first - 1) };
        low.max(now.min_ns)
    };
    let max = if fresh || before.is_some_and(|b| now.max_ns > b.max_ns) {
        now.max_ns
    } else {
        let high = (1u64 << last).saturating_sub(1);
        // The last bucket has no upper end.
        if last + 1 == LATENCY_BUCKETS {
            now.max_ns
        } else {
            high.min(now.max_ns)
        }
    };
    (min, max.max(min))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{collector::Latency, report::tests::counts};

    fn snapshot(rows: Vec<SyscallCounts>) -> Snapshot {
        Snapshot {
            latency: Latency::EveryCall,
            syscalls: rows,
            lost: [("no_task_slot", 0)].into(),
            denied: Vec::new(),
            tasks: None,
            objects: None,
            only: None,
            events: None,
            block: None,
            faults: None,
            io_uring: None,
            profile: None,
        }
    }

    #[test]
    fn an_interval_holds_only_what_changed() {
        let mut getppid = counts(Abi::Native, 110, 100, 0, 10_000);
        getppid.latency_log2[7] = 100;
        let mut openat = counts(Abi::Native, 257, 10, 3, 90_000);
        openat.latency_log2[14] = 10;
        let first = snapshot(vec![getppid.clone(), openat.clone()]);
        getppid.counts.calls = 250;
        getppid.counts.total_ns = 25_000;
        getppid.latency_log2[7] = 250;
        getppid.timed = 250;
        let second = snapshot(vec![getppid, openat]);

        let d = delta(Some(&first), &second);
        // openat made no call: it has no row in the interval.
        assert_eq!(d.syscalls.len(), 1);
        let g = &d.syscalls[0];
        assert_eq!(
            (g.nr, g.counts.calls, g.counts.total_ns, g.timed),
            (110, 150, 15_000, 150)
        );
        assert_eq!(g.latency_log2[7], 150);
        // No new extreme: bounded by the bucket [64, 128) ns within the extremes so far.
        assert_eq!((g.min_ns, g.max_ns), (64, 127));

        // The first interval is everything so far.
        let d = delta(None, &first);
        assert_eq!(d.syscalls.len(), 2);
        assert_eq!(d.syscalls[1].errnos, [(2, 3)].into());
    }

    #[test]
    fn errnos_and_lost_records_are_counted_per_interval() {
        let mut dup = counts(Abi::Native, 32, 5, 5, 500);
        dup.errnos = [(9, 5)].into();
        let first = snapshot(vec![dup.clone()]);
        dup.counts.calls = 8;
        dup.counts.errors = 7;
        dup.errnos = [(9, 6), (24, 1)].into();
        let mut second = snapshot(vec![dup]);
        second.lost.insert("no_task_slot", 4);
        let d = delta(Some(&first), &second);
        let c = d.syscalls[0].counts;
        assert_eq!((c.calls, c.errors), (3, 2));
        assert_eq!(d.syscalls[0].errnos, [(9, 1), (24, 1)].into());
        assert_eq!(d.lost["no_task_slot"], 4);
    }
}
