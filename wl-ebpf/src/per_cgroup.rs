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
    btf_maps::{Array, HashMap},
    helpers::generated::{
        bpf_get_current_cgroup_id, bpf_get_current_task_btf, bpf_probe_read_kernel_str,
    },
    macros::{btf_map, btf_tracepoint},
    programs::BtfTracePointContext,
};
use wl_common::{
    CgroupEntry, CgroupErrnoKey, CgroupSyscallCounts, CgroupSyscallKey, Counts, LATENCY_BUCKETS,
    Lost, latency_bucket,
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

/// Adds one call's outcome to the current task's cgroup: its `counts` (no call when
/// only a failure is left to count), its time's bucket if it was timed, its errno if
/// it failed.
#[inline(always)]
pub fn count(slot: u32, add: &Counts, took: Option<u64>, errno: Option<u32>) {
    // SAFETY: a helper without arguments; tracing programs may call it.
    let cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    let key = CgroupSyscallKey {
        cgroup_id,
        slot,
        _pad: 0,
    };
    // What did not fit is counted under cgroup id 0, "others", errnos included.
    let (counts, counted_as) = match CGROUP_STATS.get_ptr_mut(key) {
        Some(c) => (c, cgroup_id),
        // Lost counts calls: a failure whose call was counted at entry adds none.
        None => match new_series(&key, add.calls) {
            Some(found) => found,
            None => return,
        },
    };
    // SAFETY: `counts` points at a live map value; every update of it is atomic (in
    // `add_counts` too), as other CPUs add to the same pair.
    add_counts(unsafe { &raw mut (*counts).counts }, add);
    if let Some(took) = took {
        let bucket = latency_bucket(took);
        if bucket < LATENCY_BUCKETS {
            // SAFETY: as above; `bucket` is in bounds.
            unsafe {
                atomic_add(
                    (&raw mut (*counts).latency_log2).cast::<u64>().add(bucket),
                    1,
                );
            }
        }
    }
    if let Some(errno) = errno {
        count_one(
            &CGROUP_ERRNOS,
            &CgroupErrnoKey {
                cgroup_id: counted_as,
                slot,
                errno,
            },
            Lost::CgroupErrnoMapFull,
        );
    }
}

/// The entry of a pair seen for the first time, admitting its cgroup first; or, when
/// either map is full, the syscall's "others" entry, with the `calls` counted as lost.
/// With the cgroup id the entry counts for (0 for "others").
#[inline(always)]
fn new_series(key: &CgroupSyscallKey, calls: u64) -> Option<(*mut CgroupSyscallCounts, u64)> {
    let zero = ZEROES.get_ptr(0)?;
    if CGROUPS.get_ptr(key.cgroup_id).is_none() {
        // SAFETY: `zero` points at the map's only value, 512 zero bytes, never written;
        // `CgroupEntry` is smaller (asserted above) and valid as all zeroes.
        let entry = unsafe { &*zero.cast::<CgroupEntry>() };
        // Another CPU may admit the same cgroup first: then it is there.
        if CGROUPS
            .insert(key.cgroup_id, entry, BPF_NOEXIST.into())
            .is_err()
            && CGROUPS.get_ptr(key.cgroup_id).is_none()
        {
            lost_n(Lost::CgroupMapFull, calls);
            return CGROUP_OTHERS.get_ptr_mut(key.slot).map(|c| (c, 0));
        }
    }
    // SAFETY: as above, for `CgroupSyscallCounts`.
    let counts = unsafe { &*zero.cast::<CgroupSyscallCounts>() };
    let _ = CGROUP_STATS.insert(key, counts, BPF_NOEXIST.into());
    match CGROUP_STATS.get_ptr_mut(key) {
        Some(c) => Some((c, key.cgroup_id)),
        None => {
            lost_n(Lost::CgroupSeriesFull, calls);
            CGROUP_OTHERS.get_ptr_mut(key.slot).map(|c| (c, 0))
        }
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
