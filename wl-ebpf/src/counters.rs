//! Adding to map values: a per-CPU slot (no other writer, preemption disabled) or a
//! row that other CPUs update too (atomic adds), and the count of what was lost. Used
//! by [`crate::account`] and [`crate::per_cgroup`] alike.

use core::intrinsics::{AtomicOrdering, atomic_xadd};

use aya_ebpf::{bindings::BPF_NOEXIST, btf_maps::HashMap};
use wl_common::{Counts, Lost};

use crate::maps::LOST;

#[inline(always)]
pub(crate) fn lost(what: Lost) {
    if let Some(n) = LOST.get_ptr_mut(what as u32) {
        // SAFETY: a per-CPU slot, and BPF programs on syscall tracepoints run with
        // preemption disabled, so nothing else on this CPU writes it meanwhile.
        unsafe { *n += 1 };
    }
}

#[inline(always)]
pub(crate) fn lost_n(what: Lost, n: u64) {
    if let Some(c) = LOST.get_ptr_mut(what as u32) {
        // SAFETY: as in `lost`.
        unsafe { *c += n };
    }
}

/// Adds `add` to a row that other CPUs update too.
#[inline(always)]
pub(crate) fn add_counts(row: *mut Counts, add: &Counts) {
    // SAFETY: `row` points at a live map value; every update of it is atomic.
    unsafe {
        for (field, n) in [
            (&raw mut (*row).calls, add.calls),
            (&raw mut (*row).errors, add.errors),
            (&raw mut (*row).total_ns, add.total_ns),
        ] {
            if n != 0 {
                atomic_add(field, n);
            }
        }
    }
}

/// Adds to a counter that other CPUs update too: BPF's atomic add (`lock *(u64 *) +=`).
/// `AtomicU64::fetch_add` is not offered on the BPF target, whose atomics have no
/// compare-and-swap in its baseline instruction set; the intrinsic with its result
/// unused compiles to the one instruction every kernel wl supports has.
#[inline(always)]
pub(crate) fn atomic_add(counter: *mut u64, n: u64) {
    // SAFETY: `counter` points at an aligned u64 inside a live map value, and every
    // update of it is atomic.
    unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(counter, n) };
}

/// Adds one to `key`'s count in a map that other CPUs update too, creating the entry;
/// counted in `full` when the map has no room.
#[inline(always)]
pub(crate) fn count_one<K, const N: usize>(map: &HashMap<K, u64, N>, key: &K, full: Lost) {
    if let Some(n) = map.get_ptr_mut(key) {
        atomic_add(n, 1);
        return;
    }
    // Another CPU may insert the same key first: then add to its entry.
    if map.insert(key, &1, BPF_NOEXIST.into()).is_ok() {
        return;
    }
    match map.get_ptr_mut(key) {
        Some(n) => atomic_add(n, 1),
        None => lost(full),
    }
}
