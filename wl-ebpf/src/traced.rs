//! Which tasks are traced: the cheap test every syscall of the machine goes through,
//! by cgroup (read through BTF pointers) or by process tree (a hash of tgids).

use aya_ebpf::helpers::{bpf_get_current_pid_tgid, generated::bpf_get_current_ancestor_cgroup_id};
use wl_common::{CGROUP_WALK_MAX, filter};

use crate::{
    btf::{read_ptr, read_u32},
    counters::atomic_add,
    maps::{TRACED_BITS, TRACED_TGIDS},
};

#[inline(always)]
pub(crate) fn current_tgid() -> u32 {
    (bpf_get_current_pid_tgid() >> 32) as u32
}

/// The cheap filter every syscall on the machine goes through.
#[inline(always)]
pub(crate) fn is_traced(task: *const u8) -> bool {
    match setting!(filter_mode) {
        // The tgid is compared only for tasks inside the cgroup: untraced ones pay nothing.
        filter::CGROUP => in_traced_cgroup(task) && !is_excluded(task),
        filter::PIDS => is_tgid_traced(current_tgid()),
        _ => false,
    }
}

/// Whether process `tgid` is in the traced set: its bit first, the hash only for the
/// few whose bit is set (a tgid past the bitmap, where `pid_max` grew, asks the hash).
#[inline(always)]
pub(crate) fn is_tgid_traced(tgid: u32) -> bool {
    if let Some(word) = TRACED_BITS.get_ptr(tgid / 64) {
        // SAFETY: a live array value; a stale read only sends a tgid to the hash.
        if unsafe { core::ptr::read_volatile(word) } & (1 << (tgid % 64)) == 0 {
            return false;
        }
    }
    TRACED_TGIDS.get_ptr(tgid).is_some()
}

/// Sets (`on`) or clears tgid's bit, by whoever added the tgid to the hash (set) or
/// removed it at its last thread's exit (clear): no one else changes the same bit
/// meanwhile, so testing it before adding cannot race, and atomic adds and ORs of
/// different bits of a word do not disturb each other.
#[inline(always)]
pub(crate) fn mark_tgid(tgid: u32, on: bool) {
    let Some(word) = TRACED_BITS.get_ptr_mut(tgid / 64) else {
        return;
    };
    let bit = 1u64 << (tgid % 64);
    // SAFETY: a live array value, changed only by atomic adds and ORs.
    let set = unsafe { core::ptr::read_volatile(word) } & bit != 0;
    match (on, set) {
        (true, false) => atomic_add(word, bit),
        (false, true) => atomic_add(word, bit.wrapping_neg()),
        _ => {}
    }
}

/// As [`is_traced`], for a task that need not be the current one (a signal's target):
/// its own tgid in the pid filter. A cgroup deeper than the kernfs walk reaches counts
/// as untraced here, where the current task's helper cannot stand in.
#[inline(always)]
pub(crate) fn is_task_traced(task: *const u8) -> bool {
    match setting!(filter_mode) {
        filter::CGROUP => in_traced_cgroup_of(task, false) && !is_excluded(task),
        // SAFETY: `task` is a BTF task pointer; the offset comes from BTF.
        filter::PIDS => is_tgid_traced(unsafe { read_u32(task, offset!(task_tgid)) }),
        _ => false,
    }
}

/// Whether `task`'s cgroup v2 is the traced one or below it, as
/// `bpf_get_current_ancestor_cgroup_id(level) == id` would say, but read through BTF
/// pointers rather than a helper call, since this runs on every syscall of the machine.
/// A cgroup's directory in kernfs has its parent cgroup's directory as parent, so the
/// ancestor at the traced level is `task level - traced level` kernfs parents up
/// (include/linux/cgroup-defs.h, include/linux/kernfs.h).
#[inline(always)]
pub(crate) fn in_traced_cgroup(task: *const u8) -> bool {
    in_traced_cgroup_of(task, true)
}

/// [`in_traced_cgroup`]; `current` says whether `task` is the current task, whose
/// ancestor the helper can give when the hierarchy is deeper than the walk.
#[inline(always)]
fn in_traced_cgroup_of(task: *const u8, current: bool) -> bool {
    let level = setting!(filter_cgroup_level);
    // Every task is in the root cgroup, the only one at level 0.
    if level == 0 {
        return true;
    }
    // SAFETY: `task` is the current task's BTF pointer and every pointer below is loaded
    // from a BTF-typed field; the verifier checks each offset against the kernel's types
    // and makes the loads fault-tolerant. Tracing programs run under RCU, which keeps the
    // css_set, the cgroup and its kernfs nodes alive.
    unsafe {
        let css_set = read_ptr(task, offset!(task_cgroups));
        let cgroup = read_ptr(css_set, offset!(css_set_dfl_cgrp));
        let task_level = read_u32(cgroup, offset!(cgroup_level));
        if task_level < level {
            return false;
        }
        let mut up = task_level - level;
        if up > CGROUP_WALK_MAX {
            return current
                && bpf_get_current_ancestor_cgroup_id(level as i32) == setting!(filter_cgroup_id);
        }
        let mut kn = read_ptr(cgroup, offset!(cgroup_kn));
        for _ in 0..CGROUP_WALK_MAX {
            if up == 0 {
                break;
            }
            kn = read_ptr(kn, offset!(kernfs_node_parent));
            up -= 1;
        }
        core::ptr::read_volatile(kn.add(offset!(kernfs_node_id) as usize).cast::<u64>())
            == setting!(filter_cgroup_id)
    }
}

#[inline(always)]
pub(crate) fn is_excluded(task: *const u8) -> bool {
    // SAFETY: `task` is the current task's BTF pointer; the offset comes from BTF.
    unsafe { read_u32(task, offset!(task_tgid)) == setting!(excluded_tgid) }
}
