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
//! - `signal_generate` / `sched_switch` ([`events`]): signals sent to traced tasks, and
//!   their context switches with the time they spent blocked.
//! - `profile` ([`profile`], `--profile`): the kernel stacks of traced tasks, sampled on
//!   a clock of every CPU.
//!
//! Both syscall programs run on every syscall of the machine while attached, so an
//! untraced task must leave after as little work as possible: at entry, a few loads
//! through BTF pointers to its cgroup (or one hash lookup when tracing a process tree);
//! at exit, one load that finds it has no task storage.
//!
//! The programs are here; the rest has a room each: [`settings`] (what the loader sets
//! before loading), [`btf`] (kernel fields at the offsets the loader found), [`maps`],
//! [`traced`] (which tasks count), [`account`] (the one place that counts) and [`counters`] (adding to map values),
//! [`objects`] (what a call's fd and command reached), [`seccomp`] (what a profile
//! stopped), [`per_cgroup`] (`wl-user serve`) and [`owners`] (whom events count for:
//! the cgroup in serve, the thread with `--by`).
#![no_std]
#![no_main]
// For the atomic add, see `counters::atomic_add`.
#![feature(core_intrinsics)]
#![allow(internal_features)]

// Reading kernel objects at the offsets the loader found; `offset!` is used everywhere.
#[macro_use]
mod btf;
#[macro_use]
mod settings;
mod account;
mod block;
mod counters;
mod events;
mod faults;
mod io_uring;
mod maps;
mod objects;
mod owners;
mod per_cgroup;
mod profile;
mod seccomp;
mod task_storage;
mod traced;
mod wanted;

use aya_ebpf::{
    bindings::{BPF_NOEXIST, task_struct},
    helpers::generated::{bpf_get_current_task_btf, bpf_ktime_get_ns},
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use wl_common::{
    ALWAYS_TIMED_CALLS, Abi, InFlight, Lost, TaskExit, by, errno_of, filter, stats_slot,
};

use account::{Outcome, account};
use btf::{read_ptr, read_u32};
use counters::lost;
use maps::{IN_FLIGHT, SYSCALL_STATS, TASK_EXITS, TRACED_TGIDS};
use seccomp::{denied_exit, killed_by_seccomp, loading_filter};
use traced::{current_tgid, is_tgid_traced, is_traced, mark_tgid};

#[inline(always)]
fn syscall_abi(task: *mut task_struct) -> Abi {
    #[cfg(bpf_target_arch = "x86_64")]
    {
        // In a 32-bit syscall x86 sets TS_COMPAT in thread_info.status; that, not the
        // process's ELF class, decides which table the number belongs to
        // (arch/x86/include/asm/thread_info.h, in_ia32_syscall()).
        // SAFETY: `task` is the current task's BTF pointer; the offset comes from BTF.
        let status = unsafe { read_u32(task.cast(), offset!(task_compat_word)) };
        if status & wl_common::X86_TS_COMPAT != 0 {
            return Abi::Compat;
        }
    }
    #[cfg(bpf_target_arch = "aarch64")]
    {
        // A 32-bit arm task has TIF_32BIT in thread_info.flags; every syscall it makes
        // takes the compat table (arch/arm64/kernel/syscall.c, is_compat_task()). The
        // flag is bit 22: the low word of the little-endian `unsigned long` holds it.
        // SAFETY: `task` is the current task's BTF pointer; the offset comes from BTF.
        let flags = unsafe { read_u32(task.cast(), offset!(task_compat_word)) };
        if flags & wl_common::ARM64_TIF_32BIT != 0 {
            return Abi::Compat;
        }
    }
    let _ = task;
    Abi::Native
}

/// The number call `id` of `abi` is kept under ([`wl_common::slot_nr`]): on arm64, a
/// 32-bit arm task's private calls (`set_tls`) take the compat ABI's last numbers.
#[inline(always)]
pub(crate) fn slot_nr(abi: Abi, id: u64) -> Option<u32> {
    wl_common::slot_nr(cfg!(bpf_target_arch = "aarch64") && abi == Abi::Compat, id)
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
        // include/uapi/asm-generic/unistd.h: 93 exit, 94 exit_group;
        // arch/arm64/tools/syscall_32.tbl: 1 exit, 248 exit_group.
        match abi {
            Abi::Native => nr == 93 || nr == 94,
            Abi::Compat => nr == 1 || nr == 248,
        }
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
    if setting!(noop) != 0 {
        return 0;
    }
    // SAFETY: a helper without arguments; tracing programs may call it.
    let task = unsafe { bpf_get_current_task_btf() };
    if !is_traced(task.cast()) {
        return 0;
    }
    let id: i64 = ctx.arg(1);
    let abi = syscall_abi(task);
    // A negative id becomes a number past every table.
    let Some(nr) = slot_nr(abi, id as u64) else {
        lost(Lost::NrOutOfRange);
        return 0;
    };
    let slot = stats_slot(abi, nr);
    if setting!(count_denied) != 0 && loading_filter(task.cast(), abi, nr) {
        return 0;
    }
    if !wanted::syscall(slot) {
        return 0;
    }
    let regs: *const u8 = ctx.arg(0);
    if setting!(timed) == 0 || never_returns(abi, nr) {
        // Counted at exit only if it fails; a call that never returns never fails.
        if wanted::at_exit_only() {
            return 0;
        }
        let object = if setting!(objects) != 0 {
            objects::resolve(task.cast(), regs, abi, slot, objects::Point::Entry)
        } else {
            None
        };
        account(slot, Outcome::Entered, object.as_ref());
        return 0;
    }
    match IN_FLIGHT.lookup_or_create(task) {
        Some(in_flight) => {
            in_flight.slot = slot;
            let object = if setting!(objects) != 0 {
                objects::resolve(task.cast(), regs, abi, slot, objects::Point::Entry)
            } else {
                None
            };
            in_flight.has_object = u32::from(object.is_some());
            if let Some(key) = object {
                in_flight.object = key;
            }
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
    let every = setting!(latency_sample);
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
    if setting!(noop) != 0 {
        return 0;
    }
    let ret: i64 = ctx.arg(1);
    if setting!(timed) == 0 {
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
        if setting!(count_denied) != 0 {
            denied_exit(&ctx, task, ret);
        }
        return 0;
    };
    let slot = in_flight.slot;
    in_flight.slot = InFlight::IDLE;
    if !wanted::outcome(ret) {
        return 0;
    }
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

/// Untimed mode: the entry counted the call; the exit only counts a failure, of the
/// syscall whose number the task's saved registers hold (with `--failed`, the whole
/// call: the entry counted nothing).
#[inline(always)]
fn untimed_exit(ctx: &BtfTracePointContext, ret: i64) -> i32 {
    if errno_of(ret).is_none() || !wanted::outcome(ret) {
        return 0;
    }
    // SAFETY: a helper without arguments.
    let task = unsafe { bpf_get_current_task_btf() };
    if !is_traced(task.cast()) {
        return 0;
    }
    let regs: *const u8 = ctx.arg(0);
    // SAFETY: `regs` is the tracepoint's BTF pt_regs pointer; the offset comes from BTF.
    let id = unsafe { read_u32(regs, offset!(regs_syscall_nr)) };
    let abi = syscall_abi(task);
    if let Some(nr) = slot_nr(abi, id.into()) {
        let slot = stats_slot(abi, nr);
        if !wanted::syscall(slot) {
            return 0;
        }
        // The entry counted the call under its object; the failure is counted under the
        // object the arguments name now (the registers still hold them). A call that
        // closed its own fd finds none, as does one that failed for a bad fd.
        let object = if setting!(objects) != 0 {
            objects::resolve(task.cast(), regs, abi, slot, objects::Point::Exit)
        } else {
            None
        };
        let outcome = if wanted::at_exit_only() {
            Outcome::Counted { ret }
        } else {
            Outcome::Failed { ret }
        };
        account(slot, outcome, object.as_ref());
    }
    0
}

// sched_process_fork: `struct task_struct *parent, struct task_struct *child`;
// sched_process_exit: `struct task_struct *p, ...` (include/trace/events/sched.h).

/// The error of an insert that found its key there (include/uapi/asm-generic/errno-base.h).
const EEXIST: i32 = 17;

#[btf_tracepoint(function = "sched_process_fork")]
pub fn sched_process_fork(ctx: BtfTracePointContext) -> i32 {
    if setting!(filter_mode) != filter::PIDS || setting!(follow_children) == 0 {
        return 0;
    }
    let parent_tgid = current_tgid();
    if !is_tgid_traced(parent_tgid) {
        return 0;
    }
    let child: *const u8 = ctx.arg(1);
    // SAFETY: `child` is the tracepoint's BTF task pointer; the offset comes from BTF.
    let child_tgid = unsafe { read_u32(child, offset!(task_tgid)) };
    // A new thread shares its parent's tgid and is traced already. Whoever adds a tgid
    // to the hash sets its bit: wl-user may add the same child at the same time (as it
    // follows an attached process's descendants), and then it sets the bit itself.
    if child_tgid != parent_tgid {
        match TRACED_TGIDS.insert(&child_tgid, &0, BPF_NOEXIST.into()) {
            Ok(()) => mark_tgid(child_tgid, true),
            Err(e) if e == -EEXIST => {}
            Err(_) => lost(Lost::PidMapFull),
        }
    }
    0
}

#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit(ctx: BtfTracePointContext) -> i32 {
    if setting!(count_denied) != 0 {
        killed_by_seccomp(&ctx);
    }
    if setting!(by) != by::NONE {
        record_exit(&ctx);
    }
    if setting!(filter_mode) != filter::PIDS {
        return 0;
    }
    let tgid = current_tgid();
    // A bit left set for a tgid no longer in the hash (wl-user added a process that
    // was exiting) only sends that tgid to the hash; clearing it here, where every
    // thread of the process may exit at once, could clear it twice.
    if !is_tgid_traced(tgid) {
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
        // The last thread: one clear, by the one program that removes the tgid.
        let _ = TRACED_TGIDS.remove(&tgid);
        mark_tgid(tgid, false);
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
        // The last thread's exit status is the process's: under its tgid, in the
        // leader's own entry if the leader went first (which keeps its name and start:
        // the last thread may be a helper, an io_uring SQPOLL thread). do_exit()
        // decrements signal->live before this tracepoint.
        let signal = read_ptr(task, offset!(task_signal));
        if tid != tgid && read_u32(signal, offset!(signal_live)) == 0 {
            if let Some(leader) = TASK_EXITS.get_ptr_mut(&tgid) {
                (*leader).exit_code = exit.exit_code;
            } else if TASK_EXITS.insert(&tgid, &exit, 0).is_err() {
                lost(Lost::TaskExitMapFull);
            }
        }
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
