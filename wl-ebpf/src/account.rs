//! Counting: [`account`] is the one place a traced call's outcome is added, to its
//! syscall's per-CPU slot and histogram, and with `--by` or objects to its task's and
//! object's rows; the shared rows are updated with atomic adds.

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    btf_maps::{Array, HashMap},
    helpers::bpf_get_current_pid_tgid,
};
use wl_common::{
    Counts, ErrnoKey, LATENCY_BUCKETS, Lost, ObjectKey, STATS_ENTRIES, TaskKey, by, errno_of,
    latency_bucket,
};

use crate::{
    counters::{add_counts, atomic_add, count_one, lost_n},
    maps::{
        OBJECT_OTHERS, OBJECT_STATS, SYSCALL_ERRNOS, SYSCALL_LATENCY, SYSCALL_STATS, TASK_CACHE,
        TASK_OTHERS, TASK_STATS,
    },
    per_cgroup,
};

/// What one traced syscall adds to its statistics, at the point where it is known.
#[derive(Clone, Copy)]
pub(crate) enum Outcome {
    /// Counted at entry: untimed mode, or a call that never returns.
    Entered,
    /// Untimed mode, at exit: the entry counted the call; only its failure is left.
    Failed { ret: i64 },
    /// Timed mode, at exit: the whole call.
    Returned { took: u64, ret: i64 },
    /// Sampled latency, at exit: a call that was not timed.
    Counted { ret: i64 },
}

/// The one place that counts: calls, failures and their errno, and time; and, with
/// `--by`, the same for the task that made the call, and with objects, for the object
/// and command the call worked on.
#[inline(always)]
pub(crate) fn account(slot: u32, outcome: Outcome, object: Option<&ObjectKey>) {
    let (calls, took, ret) = match outcome {
        Outcome::Entered => (1, None, 0),
        Outcome::Failed { ret } => (0, None, ret),
        Outcome::Counted { ret } => (1, None, ret),
        Outcome::Returned { took, ret } => (1, Some(took), ret),
    };
    let errno = errno_of(ret);
    let counts = Counts {
        calls,
        errors: u64::from(errno.is_some()),
        total_ns: took.unwrap_or(0),
    };
    // `wl-user serve` keeps these numbers per cgroup instead, and nothing else.
    if per_cgroup::enabled() {
        per_cgroup::count(slot, &counts, took, errno);
        return;
    }
    if let Some(stats) = SYSCALL_STATS.get_ptr_mut(slot) {
        // SAFETY: per-CPU slot, preemption disabled (see `lost`).
        let stats = unsafe { &mut *stats };
        stats.counts += counts;
        if let Some(took) = took {
            // The minimum is kept inverted, as a maximum (see `SyscallStats`).
            if !took > stats.min_ns_inverted {
                stats.min_ns_inverted = !took;
            }
            if took > stats.max_ns {
                stats.max_ns = took;
            }
            let bucket = latency_bucket(took);
            if let Some(hist) = SYSCALL_LATENCY.get_ptr_mut(slot)
                && bucket < LATENCY_BUCKETS
            {
                // SAFETY: `hist` points at a live map value and `bucket` is in bounds.
                atomic_add(unsafe { hist.cast::<u64>().add(bucket) }, 1);
            }
        }
        if let Some(errno) = errno {
            count_one(
                &SYSCALL_ERRNOS,
                &ErrnoKey { slot, errno },
                Lost::ErrnoMapFull,
            );
        }
    }
    if setting!(by) != by::NONE {
        count_task(slot, &counts);
    }
    if let Some(key) = object {
        count_object(key, &counts);
    }
}

/// Adds to the object's row; a key that does not fit is counted under its syscall's
/// "other objects".
#[inline(always)]
pub(crate) fn count_object(key: &ObjectKey, add: &Counts) {
    add_to_row(
        &OBJECT_STATS,
        key,
        &OBJECT_OTHERS,
        key.slot,
        Lost::ObjectMapFull,
        add,
    );
}

/// Adds `add` to `key`'s row of `rows`, creating it; a key that does not fit is
/// counted in `others` at `slot` and in `full`, so totals stay exact.
#[inline(always)]
pub(crate) fn add_to_row<K, const N: usize>(
    rows: &HashMap<K, Counts, N>,
    key: &K,
    others: &Array<Counts, { STATS_ENTRIES as usize }>,
    slot: u32,
    full: Lost,
    add: &Counts,
) {
    let mut row = rows.get_ptr_mut(key);
    if row.is_none() {
        // Another CPU may insert the same key first: then the lookup below finds it.
        let _ = rows.insert(key, &Counts::default(), BPF_NOEXIST.into());
        row = rows.get_ptr_mut(key);
    }
    let row = match row {
        Some(r) => r,
        None => {
            lost_n(full, add.calls);
            match others.get_ptr_mut(slot) {
                Some(r) => r,
                None => return,
            }
        }
    };
    add_counts(row, add);
}

/// Adds `add` to the current thread's count of `slot`: in this CPU's cache while the
/// thread repeats the syscall, in the per-task map when the pair changes (see
/// `TaskCache`). Rows are per thread whatever `--by` asks (user space sums a process's
/// threads): a thread is in one syscall at a time, so its row needs no atomic adds.
#[inline(always)]
pub(crate) fn count_task(slot: u32, add: &Counts) {
    let key = TaskKey {
        id: bpf_get_current_pid_tgid() as u32,
        slot,
    };
    let Some(cache) = TASK_CACHE.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's cache entry, preemption disabled (see `lost`).
    let cache = unsafe { &mut *cache };
    if cache.key == key {
        cache.counts += *add;
        return;
    }
    let (was, counts) = (cache.key, cache.counts);
    cache.key = key;
    cache.counts = *add;
    // Thread 0 (the idle task) is never traced: the cache's first, empty, state.
    if was.id != 0 {
        flush_task(was, &counts);
    }
}

/// Adds a cached count to the thread's row in the per-task map; a thread that does not
/// fit is counted under "others".
#[inline(always)]
pub(crate) fn flush_task(key: TaskKey, add: &Counts) {
    // Rows are updated from the CPU that flushes a thread's cache, which need not be
    // the thread's: the adds are atomic.
    add_to_row(
        &TASK_STATS,
        &key,
        &TASK_OTHERS,
        key.slot,
        Lost::TaskMapFull,
        add,
    );
}
