//! `wl-user serve`: counts per (cgroup v2, syscall) instead of per syscall, for every
//! task under the traced cgroup (by default the whole machine), and keeps the path of
//! each counted cgroup when it is removed, since user space may never have seen it.
//!
//! Memory is what decides the layout: the loader sizes every map here at load time
//! (`--max-cgroups`, `--max-series`) and leaves them at one entry otherwise, and every
//! value is shared by all CPUs and updated with atomic adds, so the size does not grow
//! with the number of CPUs (docs/fleet.md has the arithmetic). What does not fit is
//! counted under "others" per syscall and in `LOST`, so totals stay exact.

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    btf_maps::{Array, HashMap, PerCpuArray},
    helpers::generated::{
        bpf_get_current_cgroup_id, bpf_get_current_task_btf, bpf_probe_read_kernel_str,
    },
    macros::{btf_map, btf_tracepoint},
    programs::BtfTracePointContext,
};
use wl_common::{
    CGROUP_LAST_ENTRIES, CgroupEntry, CgroupErrnoKey, CgroupLast, CgroupSyscallCounts,
    CgroupSyscallKey, Counts, LATENCY_BUCKETS, Lost, ObjectKey, OwnerEventKey, OwnerIoUringKey,
    latency_bucket,
};

use crate::{
    btf::read_ptr,
    counters::{add_counts, atomic_add, count_one, lost_n},
};

/// The cgroups counted so far, by id (`--max-cgroups`).
#[btf_map]
static CGROUPS: HashMap<u64, CgroupEntry, 1> = HashMap::new();

/// Calls per (cgroup, syscall) (`--max-series`).
#[btf_map]
static CGROUP_STATS: HashMap<CgroupSyscallKey, CgroupSyscallCounts, 1> = HashMap::new();

/// Failures per (cgroup, syscall, errno); only the error path touches it.
#[btf_map]
static CGROUP_ERRNOS: HashMap<CgroupErrnoKey, u64, 1> = HashMap::new();

/// Per syscall slot: calls of cgroups or pairs that did not fit (sized to the slots by
/// the loader).
#[btf_map]
static CGROUP_OTHERS: Array<CgroupSyscallCounts, 1> = Array::new();

/// With events: per (cgroup, kind, detail), the events of its tasks (sized by the
/// loader in `serve`, one entry otherwise).
#[btf_map]
static CGROUP_EVENTS: HashMap<OwnerEventKey, u64, 1> = HashMap::new();

/// With events: per (cgroup, opcode, object), the io_uring completions of the rings
/// its tasks set up or submitted to.
#[btf_map]
static CGROUP_IO_URING: HashMap<OwnerIoUringKey, u64, 1> = HashMap::new();

/// One all-zero block, the source of new entries: a `CgroupEntry` is too large for the
/// 512-byte BPF stack beside what the callers keep there.
#[btf_map]
static ZEROES: Array<[u64; 64], 1> = Array::new();

const _: () = assert!(core::mem::size_of::<CgroupEntry>() <= 8 * 64);
const _: () = assert!(core::mem::size_of::<CgroupSyscallCounts>() <= 8 * 64);

#[inline(always)]
pub fn enabled() -> bool {
    setting!(per_cgroup) != 0
}

/// Per CPU, the pairs counted last and what they gathered since (see `CgroupLast`), one
/// per syscall slot modulo the entries: a workload alternating a few syscalls (a read
/// and a write) keeps each in its own.
#[btf_map]
static CGROUP_LAST: PerCpuArray<CgroupLast, { CGROUP_LAST_ENTRIES as usize }> = PerCpuArray::new();

/// Adds one call's outcome to the current task's cgroup: its `counts` (no call when
/// only a failure is left to count), its time's bucket if it was timed, its errno if
/// it failed. Calls gather in this CPU's last pair while the pair repeats; the shared
/// map is touched when it changes.
#[inline(always)]
pub fn count(slot: u32, add: &Counts, took: Option<u64>, errno: Option<u32>) {
    let cgroup_id = current_cgroup_id();
    let Some(last) = CGROUP_LAST.get_ptr_mut(slot % CGROUP_LAST_ENTRIES) else {
        return;
    };
    // SAFETY: this CPU's value; the program runs to completion on one CPU.
    let last = unsafe { &mut *last };
    if last.valid == 0 || last.cgroup_id != cgroup_id || last.counted_as.slot != slot {
        flush(last);
        let key = CgroupSyscallKey {
            cgroup_id,
            slot,
            _pad: 0,
        };
        // What does not fit is counted under cgroup id 0, "others", errnos included.
        let (counted_as, lost) = if CGROUP_STATS.get_ptr(key).is_some() {
            (cgroup_id, 0)
        } else {
            new_series(&key)
        };
        last.cgroup_id = cgroup_id;
        last.counted_as = CgroupSyscallKey {
            cgroup_id: counted_as,
            ..key
        };
        last.lost = lost;
        last.valid = 1;
    }
    last.pending.counts += *add;
    if let Some(took) = took {
        let bucket = latency_bucket(took);
        if bucket < LATENCY_BUCKETS {
            last.pending.latency_log2[bucket] += 1;
            last.touched |= 1 << bucket;
        }
    }
    if let Some(errno) = errno {
        count_one(
            &CGROUP_ERRNOS,
            &CgroupErrnoKey {
                cgroup_id: last.counted_as.cgroup_id,
                slot,
                errno,
            },
            Lost::CgroupErrnoMapFull,
        );
    }
}

/// Moves what `last` gathered to its series (or "others"), every add atomic, as other
/// CPUs add to the same pair, and empties it. A series user space has forgotten since
/// (its cgroup was removed, and the reading that retired it had these counts) takes
/// nothing.
#[inline(always)]
fn flush(last: &mut CgroupLast) {
    if last.valid == 0 {
        return;
    }
    last.valid = 0;
    let row = if last.counted_as.cgroup_id == 0 {
        CGROUP_OTHERS.get_ptr_mut(last.counted_as.slot)
    } else {
        CGROUP_STATS.get_ptr_mut(last.counted_as)
    };
    let pending = &mut last.pending;
    if let Some(row) = row {
        if last.lost == Lost::CgroupMapFull as u32 {
            lost_n(Lost::CgroupMapFull, pending.counts.calls);
        } else if last.lost == Lost::CgroupSeriesFull as u32 {
            lost_n(Lost::CgroupSeriesFull, pending.counts.calls);
        }
        // SAFETY: `row` points at a live map value; every update of it is atomic.
        add_counts(unsafe { &raw mut (*row).counts }, &pending.counts);
    }
    pending.counts = Counts::default();
    let mut touched = last.touched;
    last.touched = 0;
    for bucket in 0..LATENCY_BUCKETS {
        if touched == 0 {
            break;
        }
        if touched & 1 != 0 {
            if let Some(row) = row {
                // SAFETY: as above; `bucket` is in bounds.
                unsafe {
                    atomic_add(
                        (&raw mut (*row).latency_log2).cast::<u64>().add(bucket),
                        pending.latency_log2[bucket],
                    );
                }
            }
            pending.latency_log2[bucket] = 0;
        }
        touched >>= 1;
    }
}

/// Admits `cgroup_id` to `CGROUPS` if it is not there; false when the map is full.
#[inline(always)]
fn admit(cgroup_id: u64) -> bool {
    if CGROUPS.get_ptr(cgroup_id).is_some() {
        return true;
    }
    let Some(zero) = ZEROES.get_ptr(0) else {
        return false;
    };
    // SAFETY: `zero` points at the map's only value, 512 zero bytes, never written;
    // `CgroupEntry` is smaller (asserted above) and valid as all zeroes.
    let entry = unsafe { &*zero.cast::<CgroupEntry>() };
    // Another CPU may admit the same cgroup first: then it is there.
    CGROUPS.insert(cgroup_id, entry, BPF_NOEXIST.into()).is_ok()
        || CGROUPS.get_ptr(cgroup_id).is_some()
}

/// Makes the series of a pair seen for the first time, admitting its cgroup first: its
/// cgroup id then, or 0 ("others") with the reason (a `Lost` index) when either map
/// is full.
#[inline(always)]
fn new_series(key: &CgroupSyscallKey) -> (u64, u32) {
    let Some(zero) = ZEROES.get_ptr(0) else {
        return (0, Lost::CgroupSeriesFull as u32);
    };
    if !admit(key.cgroup_id) {
        return (0, Lost::CgroupMapFull as u32);
    }
    // SAFETY: `zero` points at 512 zero bytes, never written; `CgroupSyscallCounts` is
    // smaller (asserted above) and valid as all zeroes.
    let counts = unsafe { &*zero.cast::<CgroupSyscallCounts>() };
    // Another CPU may make the same series first: then it is there.
    let _ = CGROUP_STATS.insert(key, counts, BPF_NOEXIST.into());
    if CGROUP_STATS.get_ptr(key).is_some() {
        (key.cgroup_id, 0)
    } else {
        (0, Lost::CgroupSeriesFull as u32)
    }
}

/// Adds `n` to the counter of `key` in `map`, making it (and admitting its cgroup)
/// the first time; what finds no room, in `map` or for a cgroup past `--max-cgroups`,
/// is counted in `lost` only (apart from the calls `CgroupMapFull` counts).
#[inline(always)]
fn add_event<K>(map: &HashMap<K, u64, 1>, key: &K, cgroup_id: u64, n: u64) {
    if let Some(c) = map.get_ptr_mut(key) {
        atomic_add(c, n);
        return;
    }
    if !admit(cgroup_id) {
        lost_n(Lost::CgroupEventsFull, n);
        return;
    }
    let _ = map.insert(key, &0, BPF_NOEXIST.into());
    match map.get_ptr_mut(key) {
        Some(c) => atomic_add(c, n),
        None => lost_n(Lost::CgroupEventsFull, n),
    }
}

/// Counts `n` events of `kind` and `detail` (see `wl_common::owner_event`) for
/// cgroup `cgroup_id`.
#[inline(always)]
pub fn count_event(cgroup_id: u64, kind: u32, detail: u32, n: u64) {
    let key = OwnerEventKey {
        owner: cgroup_id,
        kind,
        detail,
    };
    add_event(&CGROUP_EVENTS, &key, cgroup_id, n);
}

/// Counts an io_uring completion for the cgroup of its ring's owner, by opcode and
/// object (`object.slot` is the opcode).
#[inline(always)]
pub fn count_io_uring(cgroup_id: u64, object: &ObjectKey) {
    let key = OwnerIoUringKey {
        owner: cgroup_id,
        object: *object,
    };
    add_event(&CGROUP_IO_URING, &key, cgroup_id, 1);
}

/// The current task's cgroup v2 id.
#[inline(always)]
pub fn current_cgroup_id() -> u64 {
    // SAFETY: a helper without arguments; tracing programs may call it.
    unsafe { bpf_get_current_cgroup_id() }
}

/// The cgroup v2 id of `task`, which need not be the current one (a signal's target).
///
/// # Safety
/// `task` must be a BTF task pointer.
#[inline(always)]
pub unsafe fn task_cgroup_id(task: *const u8) -> u64 {
    // SAFETY: as the caller says; every pointer below is loaded from a BTF-typed field
    // (the offsets come from BTF), under the RCU tracing programs run in.
    unsafe {
        let css_set = read_ptr(task, offset!(task_cgroups));
        let cgroup = read_ptr(css_set, offset!(css_set_dfl_cgrp));
        let kn = read_ptr(cgroup, offset!(cgroup_kn));
        core::ptr::read_volatile(kn.add(offset!(kernfs_node_id) as usize).cast::<u64>())
    }
}

// cgroup_rmdir: `struct cgroup *cgrp, const char *path`, the path below the hierarchy's
// root, computed for the tracepoint only while something is attached to it
// (include/trace/events/cgroup.h, TRACE_CGROUP_PATH in kernel/cgroup/cgroup-internal.h).
// It fires once the directory is gone, when no task is left in the cgroup.

#[btf_tracepoint(function = "cgroup_rmdir")]
pub fn cgroup_rmdir(ctx: BtfTracePointContext) -> i32 {
    if !enabled() {
        return 0;
    }
    let cgroup: *const u8 = ctx.arg(0);
    let path: *const u8 = ctx.arg(1);
    // SAFETY: `cgroup` is the tracepoint's BTF pointer and every pointer below is loaded
    // from a BTF-typed field (the offsets come from BTF); the current task's css_set
    // and its cgroup are kept alive by RCU, under which tracing programs run.
    let (id, on_v2) = unsafe {
        let kn = read_ptr(cgroup, offset!(cgroup_kn));
        let id = core::ptr::read_volatile(kn.add(offset!(kernfs_node_id) as usize).cast::<u64>());
        // Every task is in a cgroup v2: the remover's tells which root that is.
        let task = bpf_get_current_task_btf() as *const u8;
        let own = read_ptr(
            read_ptr(task, offset!(task_cgroups)),
            offset!(css_set_dfl_cgrp),
        );
        let root_at = setting!(cgroup_root_offset);
        (id, read_ptr(cgroup, root_at) == read_ptr(own, root_at))
    };
    if !on_v2 {
        return 0;
    }
    let Some(entry) = CGROUPS.get_ptr_mut(id) else {
        return 0;
    };
    // SAFETY: `entry` points at a live map value that only this program writes, once,
    // when the cgroup goes; `path` is the tracepoint's kernel string.
    unsafe {
        let entry = &mut *entry;
        // The count includes the NUL; negative on a fault.
        let n = bpf_probe_read_kernel_str(
            entry.path.as_mut_ptr().cast(),
            entry.path.len() as u32,
            path.cast(),
        );
        entry.path_len = n.max(0) as u32;
        entry.gone = 1;
    }
    0
}
