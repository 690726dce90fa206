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
    btf_maps::PerCpuArray,
    helpers::generated::{bpf_find_vma, bpf_get_current_task_btf},
    macros::{btf_map, perf_event},
    programs::PerfEventContext,
};
use wl_common::{FAULT_AREA_ENTRIES, FaultArea, FaultKey, Lost, event, object, owner_event};

use crate::{
    btf::{read_ptr, read_u32, read_u64},
    counters::lost_n,
    events::{count, enabled},
    maps::PAGE_FAULTS,
    objects::identify,
    owners::{self, Whose},
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
    if !is_traced(task.cast()) {
        return 0;
    }
    if owners::count_event(
        Whose::Current,
        owner_event::FAULT,
        owner_event::ALL_FAULTS,
        1,
        0,
    ) {
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

/// Areas by the 2 MiB stretch of address they were found for: a fault in an area found
/// before on this CPU reuses it instead of looking it up, which takes the map's lock
/// (and where the kernel cannot release it at once, an interrupt to do so later), and
/// is counted there instead of in the fault map, a hash lookup saved.
#[btf_map]
static FAULT_AREAS: PerCpuArray<FaultArea, { FAULT_AREA_ENTRIES as usize }> = PerCpuArray::new();

/// Adds `n` faults of `key` to the fault map.
#[inline(always)]
fn add_faults(key: &FaultKey, n: u64) {
    if let Some(c) = PAGE_FAULTS.get_ptr_mut(key) {
        // SAFETY: this CPU's value; the program runs to completion on one CPU.
        unsafe { *c += n };
    } else if PAGE_FAULTS.insert(key, &n, BPF_NOEXIST as u64).is_err() {
        // Another CPU's insert of the same key in between, or a full map.
        match PAGE_FAULTS.get_ptr_mut(key) {
            // SAFETY: as above.
            Some(c) => unsafe { *c += n },
            None => lost_n(Lost::FaultMapFull, n),
        }
    }
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
    // Owners by outcome only; per cgroup, the area lookup is not paid for every task.
    let detail = if outcome == FaultKey::MAJOR {
        owner_event::MAJOR
    } else {
        owner_event::MINOR
    };
    if !owners::count_event(Whose::Current, owner_event::FAULT, detail, 1, 0) {
        return;
    }
    // SAFETY: the context of a perf event program; the kernel rewrites the load.
    let addr = unsafe { (*ctx.ctx).addr };
    // Without a sequence count of the map (before Linux 6.4) nothing can be reused.
    let seq_at = offset!(mm_lock_seq);
    // SAFETY: BTF pointers from the current task; offsets from BTF.
    let (mm, seq) = unsafe {
        let mm = read_ptr(task.cast(), offset!(task_mm));
        let seq = if seq_at != 0 { read_u32(mm, seq_at) } else { 0 };
        (mm as u64, seq)
    };
    let Some(cached) = FAULT_AREAS.get_ptr_mut(((addr >> 21) as u32) % FAULT_AREA_ENTRIES) else {
        return;
    };
    // SAFETY: this CPU's entry; the program runs to completion on one CPU.
    let cached = unsafe { &mut *cached };
    let major = outcome == FaultKey::MAJOR;
    if seq_at != 0
        && cached.mm == mm
        && cached.seq == seq
        && cached.start <= addr
        && addr < cached.end
    {
        if major {
            cached.pending[1] += 1;
        } else {
            cached.pending[0] += 1;
        }
        return;
    }
    let mut found = FaultArea {
        key: FaultKey {
            kind: FaultKey::UNKNOWN,
            ..FaultKey::default()
        },
        ..FaultArea::default()
    };
    // The faulting path holds the memory map's lock for reading, or a lock of the one
    // area; the helper takes it for reading too, and gives up (the key stays UNKNOWN)
    // when a writer is waiting.
    // SAFETY: `task` is the current task's BTF pointer; the callback is a static
    // function of this object and `found` lives on this stack for the whole call.
    unsafe {
        bpf_find_vma(
            task,
            addr,
            on_area as *mut c_void,
            (&raw mut found).cast(),
            0,
        );
    }
    if seq_at == 0 || found.key.kind == FaultKey::UNKNOWN {
        add_faults(
            &FaultKey {
                outcome,
                ..found.key
            },
            1,
        );
        return;
    }
    // The entry's faults join the map before it is reused.
    for (i, o) in [FaultKey::MINOR, FaultKey::MAJOR].into_iter().enumerate() {
        if cached.pending[i] != 0 {
            add_faults(
                &FaultKey {
                    outcome: o,
                    ..cached.key
                },
                cached.pending[i],
            );
        }
    }
    found.mm = mm;
    found.seq = seq;
    found.pending = if major { [0, 1] } else { [1, 0] };
    *cached = found;
}

/// `bpf_find_vma`'s callback: the area at the faulting address, and what it maps.
#[inline(never)]
extern "C" fn on_area(_task: *mut task_struct, area: *mut c_void, out: *mut c_void) -> i64 {
    let found = out.cast::<FaultArea>();
    // SAFETY: `area` is the helper's BTF pointer to a vm_area_struct, the offsets come
    // from BTF; `out` is the caller's `Area` on its stack.
    unsafe {
        (*found).start = read_u64(area.cast(), offset!(vma_start));
        (*found).end = read_u64(area.cast(), offset!(vma_end));
        let key = &raw mut (*found).key;
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
