//! wl's kernel side. Four BTF-enabled raw tracepoints:
//!
//! - `sys_enter` / `sys_exit` (`raw_syscalls`): per-syscall calls, errors, latency and a
//!   log2 latency histogram, for the traced tasks only: counters in per-CPU maps, the
//!   histograms and errno counts in shared maps updated with atomic adds. Under a
//!   seccomp profile, `sys_exit` also counts the calls it denied.
//! - `sched_process_fork` / `sched_process_exit`: grow and shrink the set of traced
//!   processes when tracing a process tree instead of a cgroup; the exit also counts a
//!   call that a seccomp profile killed the process for.
//! - `cgroup_rmdir` (`wl-user serve` only, in `per_cgroup`): keeps the path of a counted
//!   cgroup when it is removed. In that mode the syscall programs count per cgroup.
//!
//! Both syscall programs run on every syscall of the machine while attached, so an
//! untraced task must leave after as little work as possible: at entry, a few loads
//! through BTF pointers to its cgroup (or one hash lookup when tracing a process tree);
//! at exit, one load that finds it has no task storage.
#![no_std]
#![no_main]
// For the atomic add, see `atomic_add`.
#![feature(core_intrinsics)]
#![allow(internal_features)]

mod task_storage;

use core::intrinsics::{AtomicOrdering, atomic_xadd};

use aya_ebpf::{
    Global,
    bindings::{BPF_NOEXIST, task_struct},
    btf_maps::{Array, HashMap, PerCpuArray},
    helpers::{
        bpf_get_current_pid_tgid,
        generated::{
            bpf_get_current_ancestor_cgroup_id, bpf_get_current_task_btf, bpf_ktime_get_ns,
            bpf_task_pt_regs,
        },
    },
    macros::{btf_map, btf_tracepoint},
    programs::BtfTracePointContext,
};
use task_storage::TaskStorage;
use wl_common::{
    ALWAYS_TIMED_CALLS, Abi, CGROUP_WALK_MAX, Counts, ERRNO_ENTRIES, ErrnoKey, InFlight,
    KernelOffsets, LATENCY_BUCKETS, LatencyHistogram, Lost, NR_PER_ABI, OBJECT_ENTRIES, ObjectKey,
    ObjectSpec, SECCOMP_MODE_DEAD, STATS_ENTRIES, SyscallStats, TASK_ENTRIES, TRACED_TGIDS_ENTRIES,
    TaskCache, TaskExit, TaskKey, by, errno_of, filter, latency_bucket, stats_slot,
};

// Load-time settings: read-only data the loader fills in before loading, so the verifier
// sees constants and drops the branches that do not apply.

/// `filter::CGROUP` or `filter::PIDS`; 0 traces nothing.
#[unsafe(no_mangle)]
static FILTER_MODE: Global<u32> = Global::new(0);
/// cgroup v2 id of the traced cgroup, compared with the current task's ancestor at
/// `FILTER_CGROUP_LEVEL`, so tasks in its descendants are traced too.
#[unsafe(no_mangle)]
static FILTER_CGROUP_ID: Global<u64> = Global::new(0);
#[unsafe(no_mangle)]
static FILTER_CGROUP_LEVEL: Global<u32> = Global::new(0);
/// In `filter::CGROUP` mode: wl-user's own tgid, left out when it sits in the traced
/// cgroup (the root of the hierarchy, or the cgroup wl-user runs in).
#[unsafe(no_mangle)]
static EXCLUDED_TGID: Global<u32> = Global::new(0);
/// In `filter::PIDS` mode: 1 to add every new process a traced process forks.
#[unsafe(no_mangle)]
static FOLLOW_CHILDREN: Global<u32> = Global::new(1);
/// Field offsets of the running kernel, read from its BTF by the loader.
#[unsafe(no_mangle)]
static OFFSETS: Global<KernelOffsets> = Global::new(KernelOffsets::UNSET);
/// One field of [`OFFSETS`], read alone. `Global::load` would read the whole struct, and
/// volatile reads are never dropped: every syscall of the machine would pay for a load
/// of each of the twelve fields.
macro_rules! offset {
    ($field:ident) => {
        kernel_offset(core::mem::offset_of!(KernelOffsets, $field))
    };
}

mod objects;
mod per_cgroup;

#[inline(always)]
fn kernel_offset(at: usize) -> u32 {
    // SAFETY: `Global<T>` is `repr(transparent)` over a `MaybeUninit<T>` that is always
    // initialised, and `at` is the offset of a `u32` field of `KernelOffsets`.
    unsafe {
        core::ptr::read_volatile(
            core::ptr::addr_of!(OFFSETS)
                .cast::<u8>()
                .add(at)
                .cast::<u32>(),
        )
    }
}

/// Benchmark switch: 1 makes every program return at once, to measure the floor cost of
/// having programs on the syscall tracepoints at all.
#[unsafe(no_mangle)]
static NOOP: Global<u32> = Global::new(0);
/// 1: time every call (task storage and two clock reads per call). 0: count calls at
/// entry and errors at exit, with no per-task state: the cheapest way to trace.
#[unsafe(no_mangle)]
static TIMED: Global<u32> = Global::new(1);
/// With `TIMED`: time one call in this many per task (1: every call); the others are
/// counted without clock reads. See `ALWAYS_TIMED_CALLS` for the rare ones.
#[unsafe(no_mangle)]
static LATENCY_SAMPLE: Global<u32> = Global::new(1);
/// 1 when the workload runs under a seccomp profile wl-user applied: count the calls the
/// profile denies. They never reach `sys_enter` (seccomp runs before the tracepoint,
/// kernel/entry/common.c); a denied call with an errno still passes `sys_exit`, and one
/// that kills leaves the task's seccomp mode at `SECCOMP_MODE_DEAD` when it exits.
#[unsafe(no_mangle)]
static COUNT_DENIED: Global<u32> = Global::new(0);
/// `by::PROCESS` or `by::THREAD`: also count each call for the thread that made it
/// (user space sums threads into processes).
#[unsafe(no_mangle)]
static BY: Global<u32> = Global::new(0);
/// 1: resolve what `OBJECT_SPECS` names for each traced call (its fd's object, its
/// command) and count calls per object in `OBJECT_STATS`.
#[unsafe(no_mangle)]
static OBJECTS: Global<u32> = Global::new(0);

/// Per-CPU counters, indexed by `stats_slot(abi, nr)`.
#[btf_map]
static SYSCALL_STATS: PerCpuArray<SyscallStats, { STATS_ENTRIES as usize }> = PerCpuArray::new();

/// Latency histograms, indexed like `SYSCALL_STATS`, shared by all CPUs (atomic adds).
#[btf_map]
static SYSCALL_LATENCY: Array<LatencyHistogram, { STATS_ENTRIES as usize }> = Array::new();

/// Failures per (syscall, errno), shared by all CPUs (atomic adds); only the error path
/// touches it.
#[btf_map]
static SYSCALL_ERRNOS: HashMap<ErrnoKey, u64, { ERRNO_ENTRIES as usize }> = HashMap::new();

/// Per-CPU counters of what could not be recorded, indexed by `Lost`.
#[btf_map]
static LOST: PerCpuArray<u64, { Lost::COUNT as usize }> = PerCpuArray::new();

/// Calls a seccomp profile denied, indexed like `SYSCALL_STATS` (atomic adds; only
/// with `COUNT_DENIED`).
#[btf_map]
static SYSCALL_DENIED: Array<u64, { STATS_ENTRIES as usize }> = Array::new();

/// With `COUNT_DENIED`: the pid of the workload's first process from its enrolment to
/// its `execve`, while it loads its seccomp filter (wl-user's own calls, not the
/// workload's); 0 otherwise.
#[btf_map]
static PENDING_EXEC: Array<u32, 1> = Array::new();

/// With `BY`: calls per (thread, syscall), past what `TASK_CACHE` holds. Sized to one
/// entry by the loader without `--by`.
#[btf_map]
static TASK_STATS: HashMap<TaskKey, Counts, { TASK_ENTRIES as usize }> = HashMap::new();

/// With `BY`: this CPU's last (thread, syscall) pair and its counts since.
#[btf_map]
static TASK_CACHE: PerCpuArray<TaskCache, 1> = PerCpuArray::new();

/// With `BY`: per syscall, the calls of tasks that did not fit in `TASK_STATS`.
#[btf_map]
static TASK_OTHERS: Array<Counts, { STATS_ENTRIES as usize }> = Array::new();

/// With `BY`: traced threads that exited, by tid, and processes, by tgid.
#[btf_map]
static TASK_EXITS: HashMap<u32, TaskExit, { TASK_ENTRIES as usize }> = HashMap::new();

/// With `OBJECTS`: per syscall, what to resolve (filled by the loader).
#[btf_map]
static OBJECT_SPECS: Array<ObjectSpec, { STATS_ENTRIES as usize }> = Array::new();

/// With `OBJECTS`: calls per (syscall, object, command), shared by all CPUs (atomic
/// adds). Sized to one entry by the loader without it.
#[btf_map]
static OBJECT_STATS: HashMap<ObjectKey, Counts, { OBJECT_ENTRIES as usize }> = HashMap::new();

/// With `OBJECTS`: per syscall, the calls whose key did not fit in `OBJECT_STATS`.
#[btf_map]
static OBJECT_OTHERS: Array<Counts, { STATS_ENTRIES as usize }> = Array::new();

/// tgids of the traced processes in `filter::PIDS` mode (value unused).
#[btf_map]
static TRACED_TGIDS: HashMap<u32, u32, { TRACED_TGIDS_ENTRIES as usize }> = HashMap::new();

/// The syscall each traced task is in.
#[btf_map]
static IN_FLIGHT: TaskStorage<InFlight> = TaskStorage::new();

#[inline(always)]
fn lost(what: Lost) {
    if let Some(n) = LOST.get_ptr_mut(what as u32) {
        // SAFETY: a per-CPU slot, and BPF programs on syscall tracepoints run with
        // preemption disabled, so nothing else on this CPU writes it meanwhile.
        unsafe { *n += 1 };
    }
}

#[inline(always)]
fn lost_n(what: Lost, n: u64) {
    if let Some(c) = LOST.get_ptr_mut(what as u32) {
        // SAFETY: as in `lost`.
        unsafe { *c += n };
    }
}

#[inline(always)]
fn current_tgid() -> u32 {
    (bpf_get_current_pid_tgid() >> 32) as u32
}

/// The cheap filter every syscall on the machine goes through.
#[inline(always)]
fn is_traced(task: *const u8) -> bool {
    match FILTER_MODE.load() {
        // The tgid is compared only for tasks inside the cgroup: untraced ones pay nothing.
        filter::CGROUP => in_traced_cgroup(task) && !is_excluded(task),
        filter::PIDS => TRACED_TGIDS.get_ptr(current_tgid()).is_some(),
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
fn in_traced_cgroup(task: *const u8) -> bool {
    let level = FILTER_CGROUP_LEVEL.load();
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
            return bpf_get_current_ancestor_cgroup_id(level as i32) == FILTER_CGROUP_ID.load();
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
            == FILTER_CGROUP_ID.load()
    }
}

#[inline(always)]
fn is_excluded(task: *const u8) -> bool {
    // SAFETY: `task` is the current task's BTF pointer; the offset comes from BTF.
    unsafe { read_u32(task, offset!(task_tgid)) == EXCLUDED_TGID.load() }
}

/// Reads a pointer field `offset` bytes into a BTF-typed kernel object.
///
/// # Safety
/// As for [`read_u32`].
#[inline(always)]
unsafe fn read_ptr(base: *const u8, offset: u32) -> *const u8 {
    unsafe { core::ptr::read_volatile(base.add(offset as usize).cast::<*const u8>()) }
}

/// Reads a `u32` field `offset` bytes into a BTF-typed kernel object.
///
/// # Safety
/// `base` must be a BTF pointer (from a tracepoint argument or `bpf_get_current_task_btf`);
/// the verifier checks that `offset` names a scalar field of its type.
#[inline(always)]
unsafe fn read_u32(base: *const u8, offset: u32) -> u32 {
    unsafe { core::ptr::read_volatile(base.add(offset as usize).cast::<u32>()) }
}

#[inline(always)]
fn syscall_abi(task: *mut task_struct) -> Abi {
    #[cfg(bpf_target_arch = "x86_64")]
    {
        // In a 32-bit syscall x86 sets TS_COMPAT in thread_info.status; that, not the
        // process's ELF class, decides which table the number belongs to
        // (arch/x86/include/asm/thread_info.h, in_ia32_syscall()).
        // SAFETY: `task` is the current task's BTF pointer; the offset comes from BTF.
        let status = unsafe { read_u32(task.cast(), offset!(task_thread_status)) };
        if status & wl_common::X86_TS_COMPAT != 0 {
            return Abi::Compat;
        }
    }
    let _ = task;
    Abi::Native
}

/// Syscalls that never return: counted at entry, since no `sys_exit` follows.
#[inline(always)]
fn never_returns(abi: Abi, nr: u32) -> bool {
    #[cfg(bpf_target_arch = "x86_64")]
    {
        // arch/x86/entry/syscalls/syscall_64.tbl: 60 exit, 231 exit_group;
        // syscall_32.tbl: 1 exit, 252 exit_group.
        match abi {
            Abi::Native => nr == 60 || nr == 231,
            Abi::Compat => nr == 1 || nr == 252,
        }
    }
    #[cfg(bpf_target_arch = "aarch64")]
    {
        // include/uapi/asm-generic/unistd.h: 93 exit, 94 exit_group.
        let _ = abi;
        nr == 93 || nr == 94
    }
    #[cfg(not(any(bpf_target_arch = "x86_64", bpf_target_arch = "aarch64")))]
    {
        let _ = (abi, nr);
        false
    }
}

// Raw sys_enter args are `struct pt_regs *regs, long id`; sys_exit's are
// `struct pt_regs *regs, long ret` (include/trace/events/syscalls.h).

#[btf_tracepoint(function = "sys_enter")]
pub fn sys_enter(ctx: BtfTracePointContext) -> i32 {
    if NOOP.load() != 0 {
        return 0;
    }
    // SAFETY: a helper without arguments; tracing programs may call it.
    let task = unsafe { bpf_get_current_task_btf() };
    if !is_traced(task.cast()) {
        return 0;
    }
    let id: i64 = ctx.arg(1);
    let abi = syscall_abi(task);
    if !(0..NR_PER_ABI as i64).contains(&id) {
        lost(Lost::NrOutOfRange);
        return 0;
    }
    let nr = id as u32;
    let slot = stats_slot(abi, nr);
    if COUNT_DENIED.load() != 0 && loading_filter(task.cast(), abi, nr) {
        return 0;
    }
    let regs: *const u8 = ctx.arg(0);
    if TIMED.load() == 0 || never_returns(abi, nr) {
        let mut key = ObjectKey::default();
        let object = OBJECTS.load() != 0
            && objects::resolve(
                task.cast(),
                regs,
                abi,
                slot,
                objects::Point::Entry,
                &mut key,
            );
        account(slot, Outcome::Entered, object.then_some(&key));
        return 0;
    }
    match IN_FLIGHT.lookup_or_create(task) {
        Some(in_flight) => {
            in_flight.slot = slot;
            in_flight.has_object = u32::from(
                OBJECTS.load() != 0
                    && objects::resolve(
                        task.cast(),
                        regs,
                        abi,
                        slot,
                        objects::Point::Entry,
                        &mut in_flight.object,
                    ),
            );
            in_flight.start_ns = if sampled(in_flight, slot) {
                // SAFETY: a helper without arguments.
                unsafe { bpf_ktime_get_ns() }
            } else {
                InFlight::UNTIMED
            };
        }
        None => lost(Lost::NoTaskSlot),
    }
    0
}

/// Whether to time this call: every call without sampling; else one in
/// `LATENCY_SAMPLE` of each task, and every call of a syscall still rare on this CPU.
#[inline(always)]
fn sampled(in_flight: &mut InFlight, slot: u32) -> bool {
    let every = LATENCY_SAMPLE.load();
    if every <= 1 {
        return true;
    }
    if in_flight.countdown == 0 {
        in_flight.countdown = every - 1;
        return true;
    }
    in_flight.countdown -= 1;
    // SAFETY: per-CPU slot, preemption disabled (see `lost`).
    SYSCALL_STATS
        .get_ptr(slot)
        .is_some_and(|s| unsafe { (*s).counts.calls } < ALWAYS_TIMED_CALLS)
}

#[btf_tracepoint(function = "sys_exit")]
pub fn sys_exit(ctx: BtfTracePointContext) -> i32 {
    if NOOP.load() != 0 {
        return 0;
    }
    let ret: i64 = ctx.arg(1);
    if TIMED.load() == 0 {
        return untimed_exit(&ctx, ret);
    }
    // The entry decided whether this call is traced: a task has an in-flight slot only
    // if its entry passed the filter, so no filter runs here. An exit without a traced
    // entry (a call already in progress when tracing began) is skipped.
    // SAFETY: a helper without arguments.
    let task = unsafe { bpf_get_current_task_btf() };
    // Most tasks have no local storage at all: one load tells, where the storage
    // helper would cost a call and a lock.
    // SAFETY: `task` is the current task's BTF pointer; the offset comes from BTF.
    let in_flight = if unsafe { read_ptr(task.cast(), offset!(task_bpf_storage)) }.is_null() {
        None
    } else {
        IN_FLIGHT.lookup(task)
    };
    let Some(in_flight) = in_flight.filter(|f| f.slot != InFlight::IDLE) else {
        // No traced entry: with a seccomp profile applied, a call it denied.
        if COUNT_DENIED.load() != 0 {
            denied_exit(&ctx, task, ret);
        }
        return 0;
    };
    let slot = in_flight.slot;
    in_flight.slot = InFlight::IDLE;
    let object = (in_flight.has_object != 0).then_some(&in_flight.object);
    if in_flight.start_ns == InFlight::UNTIMED {
        account(slot, Outcome::Counted { ret }, object);
        return 0;
    }
    // SAFETY: a helper without arguments.
    let took = unsafe { bpf_ktime_get_ns() }.wrapping_sub(in_flight.start_ns);
    account(slot, Outcome::Returned { took, ret }, object);
    0
}

/// Whether this call is one of wl-user's own while the workload's first process loads
/// its seccomp filter: from its enrolment to its `execve`, which ends that time.
#[inline(always)]
fn loading_filter(task: *const u8, abi: Abi, nr: u32) -> bool {
    let Some(pending) = PENDING_EXEC.get_ptr_mut(0) else {
        return false;
    };
    // SAFETY: `pending` points at the map's only value; `task` is the current task's
    // BTF pointer and the offset comes from BTF.
    unsafe {
        if *pending == 0 || *pending != read_u32(task, offset!(task_tgid)) {
            return false;
        }
        if is_execve(abi, nr) {
            *pending = 0;
            return false;
        }
    }
    true
}

/// `execve` and `execveat` (arch/x86/entry/syscalls/syscall_64.tbl, syscall_32.tbl;
/// include/uapi/asm-generic/unistd.h).
#[inline(always)]
fn is_execve(abi: Abi, nr: u32) -> bool {
    #[cfg(bpf_target_arch = "x86_64")]
    {
        match abi {
            Abi::Native => nr == 59 || nr == 322,
            Abi::Compat => nr == 11 || nr == 358,
        }
    }
    #[cfg(not(bpf_target_arch = "x86_64"))]
    {
        let _ = abi;
        nr == 221 || nr == 281
    }
}

/// A traced task's syscall exit with no traced entry, while a seccomp profile is
/// applied: seccomp refused the call with an errno before `sys_enter` could see it.
#[inline(always)]
fn denied_exit(ctx: &BtfTracePointContext, task: *mut task_struct, ret: i64) {
    if errno_of(ret).is_none() || !is_traced(task.cast()) {
        return;
    }
    let regs: *const u8 = ctx.arg(0);
    // SAFETY: `regs` is the tracepoint's BTF pt_regs pointer; the offset comes from BTF.
    let nr = unsafe { read_u32(regs, offset!(regs_syscall_nr)) };
    let abi = syscall_abi(task);
    if nr < NR_PER_ABI && !loading_filter(task.cast(), abi, nr) {
        count_denied(stats_slot(abi, nr));
    }
}

#[inline(always)]
fn count_denied(slot: u32) {
    if let Some(n) = SYSCALL_DENIED.get_ptr_mut(slot) {
        atomic_add(n, 1);
    }
}

/// Untimed mode: the entry counted the call; the exit only counts a failure, of the
/// syscall whose number the task's saved registers hold.
#[inline(always)]
fn untimed_exit(ctx: &BtfTracePointContext, ret: i64) -> i32 {
    if errno_of(ret).is_none() {
        return 0;
    }
    // SAFETY: a helper without arguments.
    let task = unsafe { bpf_get_current_task_btf() };
    if !is_traced(task.cast()) {
        return 0;
    }
    let regs: *const u8 = ctx.arg(0);
    // SAFETY: `regs` is the tracepoint's BTF pt_regs pointer; the offset comes from BTF.
    let nr = unsafe { read_u32(regs, offset!(regs_syscall_nr)) };
    if nr < NR_PER_ABI {
        let abi = syscall_abi(task);
        let slot = stats_slot(abi, nr);
        // The entry counted the call under its object; the failure is counted under the
        // object the arguments name now (the registers still hold them). A call that
        // closed its own fd finds none, as does one that failed for a bad fd.
        let mut key = ObjectKey::default();
        let object = OBJECTS.load() != 0
            && objects::resolve(task.cast(), regs, abi, slot, objects::Point::Exit, &mut key);
        account(slot, Outcome::Failed { ret }, object.then_some(&key));
    }
    0
}

/// What one traced syscall adds to its statistics, at the point where it is known.
#[derive(Clone, Copy)]
enum Outcome {
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
fn account(slot: u32, outcome: Outcome, object: Option<&ObjectKey>) {
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
    if BY.load() != by::NONE {
        count_task(slot, &counts);
    }
    if let Some(key) = object {
        count_object(key, &counts);
    }
}

/// Adds to the object's row; a key that does not fit is counted under its syscall's
/// "other objects".
#[inline(always)]
fn count_object(key: &ObjectKey, add: &Counts) {
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
fn add_to_row<K, const N: usize>(
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

/// Adds `add` to the current thread's count of `slot`: in this CPU's cache while the
/// thread repeats the syscall, in the per-task map when the pair changes (see
/// `TaskCache`). Rows are per thread whatever `--by` asks (user space sums a process's
/// threads): a thread is in one syscall at a time, so its row needs no atomic adds.
#[inline(always)]
fn count_task(slot: u32, add: &Counts) {
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
fn flush_task(key: TaskKey, add: &Counts) {
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

/// Adds to a counter that other CPUs update too: BPF's atomic add (`lock *(u64 *) +=`).
/// `AtomicU64::fetch_add` is not offered on the BPF target, whose atomics have no
/// compare-and-swap in its baseline instruction set; the intrinsic with its result
/// unused compiles to the one instruction every kernel wl supports has.
#[inline(always)]
fn atomic_add(counter: *mut u64, n: u64) {
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

// sched_process_fork: `struct task_struct *parent, struct task_struct *child`;
// sched_process_exit: `struct task_struct *p, ...` (include/trace/events/sched.h).

#[btf_tracepoint(function = "sched_process_fork")]
pub fn sched_process_fork(ctx: BtfTracePointContext) -> i32 {
    if FILTER_MODE.load() != filter::PIDS || FOLLOW_CHILDREN.load() == 0 {
        return 0;
    }
    let parent_tgid = current_tgid();
    if TRACED_TGIDS.get_ptr(parent_tgid).is_none() {
        return 0;
    }
    let child: *const u8 = ctx.arg(1);
    // SAFETY: `child` is the tracepoint's BTF task pointer; the offset comes from BTF.
    let child_tgid = unsafe { read_u32(child, offset!(task_tgid)) };
    // A new thread shares its parent's tgid and is traced already.
    if child_tgid != parent_tgid && TRACED_TGIDS.insert(&child_tgid, &0, 0).is_err() {
        lost(Lost::PidMapFull);
    }
    0
}

#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit(ctx: BtfTracePointContext) -> i32 {
    if COUNT_DENIED.load() != 0 {
        killed_by_seccomp(&ctx);
    }
    if BY.load() != by::NONE {
        record_exit(&ctx);
    }
    if FILTER_MODE.load() != filter::PIDS {
        return 0;
    }
    let tgid = current_tgid();
    if TRACED_TGIDS.get_ptr(tgid).is_none() {
        return 0;
    }
    // do_exit() decrements signal->live before this tracepoint: zero means this was the
    // group's last thread, and the process is gone.
    let task: *const u8 = ctx.arg(0);
    // SAFETY: `task` is the tracepoint's BTF task pointer, and `signal` a BTF pointer
    // loaded from it; offsets come from BTF.
    let live = unsafe {
        let signal: *const u8 =
            core::ptr::read_volatile(task.add(offset!(task_signal) as usize).cast());
        read_u32(signal, offset!(signal_live))
    };
    if live == 0 {
        let _ = TRACED_TGIDS.remove(&tgid);
    }
    0
}

/// With `--by`: keeps a traced thread's name, process, parent, start and exit status
/// when it exits (and the process's, when its last thread does), since /proc forgets
/// them.
#[inline(always)]
fn record_exit(ctx: &BtfTracePointContext) {
    let task: *const u8 = ctx.arg(0);
    if !is_traced(task) {
        return;
    }
    // SAFETY: `task` is the tracepoint's BTF task pointer, and `signal` and
    // `real_parent` BTF pointers loaded from it; offsets come from BTF; `comm` is a
    // 16-byte array read as two u64.
    unsafe {
        let tid = read_u32(task, offset!(task_pid));
        let tgid = read_u32(task, offset!(task_tgid));
        let parent = read_ptr(task, offset!(task_real_parent));
        let comm = task.add(offset!(task_comm) as usize);
        let mut exit = TaskExit {
            tgid,
            ppid: read_u32(parent, offset!(task_tgid)),
            _pad: 0,
            exit_code: read_u32(task, offset!(task_exit_code)),
            start_ns: core::ptr::read_volatile(
                task.add(offset!(task_start_time) as usize).cast::<u64>(),
            ),
            comm: [0; 16],
        };
        let halves = [
            core::ptr::read_volatile(comm.cast::<u64>()),
            core::ptr::read_volatile(comm.add(8).cast::<u64>()),
        ];
        exit.comm[..8].copy_from_slice(&halves[0].to_ne_bytes());
        exit.comm[8..].copy_from_slice(&halves[1].to_ne_bytes());
        if TASK_EXITS.insert(&tid, &exit, 0).is_err() {
            lost(Lost::TaskExitMapFull);
        }
        // The last thread's exit is the process's: under its tgid, over the leader's
        // own entry if the leader went first. do_exit() decrements signal->live before
        // this tracepoint.
        let signal = read_ptr(task, offset!(task_signal));
        if tid != tgid
            && read_u32(signal, offset!(signal_live)) == 0
            && TASK_EXITS.insert(&tgid, &exit, 0).is_err()
        {
            lost(Lost::TaskExitMapFull);
        }
    }
}

/// A traced task that a seccomp profile killed for a denied call: seccomp marks it
/// `SECCOMP_MODE_DEAD`, and its registers still hold the call's number. The tracepoint
/// runs in the exiting task (`do_exit`), so the filter applies as for a syscall.
#[inline(always)]
fn killed_by_seccomp(ctx: &BtfTracePointContext) {
    let task: *mut task_struct = ctx.arg(0);
    // SAFETY: `task` is the tracepoint's BTF task pointer; the offset comes from BTF.
    let mode = unsafe { read_u32(task.cast(), offset!(task_seccomp_mode)) };
    if mode != SECCOMP_MODE_DEAD || !is_traced(task.cast()) {
        return;
    }
    // SAFETY: the helper takes a BTF task pointer and returns its user registers as a
    // BTF pt_regs pointer; the offset comes from BTF.
    let nr = unsafe {
        let regs = bpf_task_pt_regs(task) as *const u8;
        read_u32(regs, offset!(regs_syscall_nr))
    };
    if nr < NR_PER_ABI {
        count_denied(stats_slot(syscall_abi(task), nr));
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // SAFETY: the verifier rejects programs with unbounded loops, and nothing above can
    // panic; this only satisfies `no_std`.
    unsafe { core::hint::unreachable_unchecked() }
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
