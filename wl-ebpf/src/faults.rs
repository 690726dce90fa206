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
use wl_common::{FaultKey, Lost, event, object, owner_event};

use crate::{
    btf::{read_ptr, read_u32, read_u64},
    counters::lost,
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

/// An area of some task's memory and what it maps, as found last on this CPU.
#[repr(C)]
#[derive(Clone, Copy)]
struct Area {
    mm: u64,
    /// The memory map's `mm_lock_seq` when it was found: any change since moves it.
    seq: u32,
    _pad: u32,
    start: u64,
    end: u64,
    /// `kind`, `fs_magic`, `rdev`, `mode` and `type_fn` of its faults.
    key: FaultKey,
}

/// Areas by the 2 MiB stretch of address they were found for: a fault in an area found
/// before on this CPU reuses it instead of looking it up, which takes the map's lock
/// (and where the kernel cannot release it at once, an interrupt to do so later).
const AREA_CACHE_ENTRIES: u32 = 8;

#[btf_map]
static AREAS: PerCpuArray<Area, { AREA_CACHE_ENTRIES as usize }> = PerCpuArray::new();

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
    let mut found = Area {
        mm: 0,
        seq: 0,
        _pad: 0,
        start: 0,
        end: 0,
        key: FaultKey {
            outcome,
            kind: FaultKey::UNKNOWN,
            ..FaultKey::default()
        },
    };
    // Without a sequence count of the map (before Linux 6.4) nothing can be reused.
    let seq_at = offset!(mm_lock_seq);
    // SAFETY: BTF pointers from the current task; offsets from BTF.
    let (mm, seq) = unsafe {
        let mm = read_ptr(task.cast(), offset!(task_mm));
        let seq = if seq_at != 0 { read_u32(mm, seq_at) } else { 0 };
        (mm as u64, seq)
    };
    let cached = AREAS.get_ptr_mut(((addr >> 21) as u32) % AREA_CACHE_ENTRIES);
    let hit = match cached {
        // SAFETY: this CPU's entry; the program runs to completion on one CPU.
        Some(c) if seq_at != 0 => unsafe {
            let c = &*c;
            c.mm == mm && c.seq == seq && c.start <= addr && addr < c.end
        },
        _ => false,
    };
    if let (true, Some(c)) = (hit, cached) {
        // SAFETY: as above.
        let c = unsafe { &*c };
        found.key = FaultKey { outcome, ..c.key };
    } else {
        // The faulting path holds the memory map's lock for reading, or a lock of the
        // one area; the helper takes it for reading too, and gives up (the key stays
        // UNKNOWN) when a writer is waiting.
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
        if let Some(c) = cached
            && seq_at != 0
            && found.key.kind != FaultKey::UNKNOWN
        {
            found.mm = mm;
            found.seq = seq;
            // SAFETY: this CPU's entry.
            unsafe { *c = found };
        }
    }
    let key = found.key;
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

/// `bpf_find_vma`'s callback: the area at the faulting address, and what it maps.
#[inline(never)]
extern "C" fn on_area(_task: *mut task_struct, area: *mut c_void, out: *mut c_void) -> i64 {
    let found = out.cast::<Area>();
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
