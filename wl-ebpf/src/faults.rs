//! Page faults of traced tasks: all of them, as `perf stat -e page-faults` counts them,
//! and those the kernel handled by outcome (minor, major) and by the memory that faulted
//! (anonymous, or the file mapped there). Three programs on the kernel's own fault
//! counters, software perf events of every CPU that fire in the faulting task with the
//! faulting address (arch/x86/mm/fault.c, mm/memory.c: mm_account_fault); a sample
//! period of one is never throttled. They run for every fault of the machine: an
//! untraced task leaves after the same filter a syscall goes through.

use core::ffi::c_void;

use aya_ebpf::{
    bindings::{BPF_NOEXIST, task_struct},
    helpers::generated::{bpf_find_vma, bpf_get_current_task_btf},
    macros::perf_event,
    programs::PerfEventContext,
};
use wl_common::{FaultKey, Lost, event, object};

use crate::{
    btf::read_ptr,
    counters::lost,
    events::{count, enabled},
    maps::PAGE_FAULTS,
    objects::identify,
    traced::is_traced,
};

/// Every fault on a user address, failed ones too (PERF_COUNT_SW_PAGE_FAULTS).
#[perf_event]
pub fn page_fault(_ctx: PerfEventContext) -> u32 {
    if !enabled() {
        return 0;
    }
    // SAFETY: a helper without arguments.
    let task = unsafe { bpf_get_current_task_btf() };
    if is_traced(task.cast()) {
        count(event::PAGE_FAULTS, 1, 0);
    }
    0
}

/// A fault handled without reading the page (PERF_COUNT_SW_PAGE_FAULTS_MIN).
#[perf_event]
pub fn page_fault_minor(ctx: PerfEventContext) -> u32 {
    handled(&ctx, FaultKey::MINOR);
    0
}

/// A fault that had to read the page, or retried (PERF_COUNT_SW_PAGE_FAULTS_MAJ).
#[perf_event]
pub fn page_fault_major(ctx: PerfEventContext) -> u32 {
    handled(&ctx, FaultKey::MAJOR);
    0
}

#[inline(always)]
fn handled(ctx: &PerfEventContext, outcome: u32) {
    if !enabled() {
        return;
    }
    // SAFETY: a helper without arguments.
    let task = unsafe { bpf_get_current_task_btf() };
    if !is_traced(task.cast()) {
        return;
    }
    // SAFETY: the context of a perf event program; the kernel rewrites the load.
    let addr = unsafe { (*ctx.ctx).addr };
    let mut key = FaultKey {
        outcome,
        kind: FaultKey::UNKNOWN,
        ..FaultKey::default()
    };
    // The faulting path holds the memory map's lock for reading, or a lock of the one
    // area; the helper takes it for reading too, and gives up (the key stays UNKNOWN)
    // when a writer is waiting.
    // SAFETY: `task` is the current task's BTF pointer; the callback is a static
    // function of this object and `key` lives on this stack for the whole call.
    unsafe {
        bpf_find_vma(task, addr, on_area as *mut c_void, (&raw mut key).cast(), 0);
    }
    if let Some(n) = PAGE_FAULTS.get_ptr_mut(&key) {
        // SAFETY: this CPU's value; the program runs to completion on one CPU.
        unsafe { *n += 1 };
    } else if PAGE_FAULTS.insert(&key, &1, BPF_NOEXIST as u64).is_err() {
        // Another CPU's insert of the same key in between, or a full map.
        match PAGE_FAULTS.get_ptr_mut(&key) {
            // SAFETY: as above.
            Some(n) => unsafe { *n += 1 },
            None => lost(Lost::FaultMapFull),
        }
    }
}

/// `bpf_find_vma`'s callback: what the area at the faulting address maps.
#[inline(never)]
extern "C" fn on_area(_task: *mut task_struct, area: *mut c_void, out: *mut c_void) -> i64 {
    let key = out.cast::<FaultKey>();
    // SAFETY: `area` is the helper's BTF pointer to a vm_area_struct, the offset comes
    // from BTF; `out` is the caller's key on its stack.
    unsafe {
        let file = read_ptr(area.cast(), offset!(vma_file));
        if file.is_null() {
            (*key).kind = FaultKey::ANON;
        } else if let Some((mode, id)) = identify(file as u64) {
            (*key).kind = object::FILE;
            (*key).mode = mode;
            (*key).fs_magic = id.fs_magic;
            (*key).rdev = id.rdev;
            (*key).type_fn = id.type_fn;
        }
    }
    0
}
