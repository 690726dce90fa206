//! Counting what a seccomp profile that wl-user applied stops: calls it refuses never
//! reach `sys_enter` (seccomp runs before the tracepoint, kernel/entry/common.c); one
//! refused with an errno, a trap or a trace still passes `sys_exit`, and one that kills
//! leaves the task's seccomp mode at `SECCOMP_MODE_DEAD` when it exits. The workload's
//! first process's own calls that install the filter are left out until its `execve`.

use aya_ebpf::{
    bindings::task_struct, helpers::generated::bpf_task_pt_regs, programs::BtfTracePointContext,
};
use wl_common::{Abi, SECCOMP_MODE_DEAD, errno_of, stats_slot};

use crate::{
    btf::read_u32,
    counters::atomic_add,
    maps::{PENDING_EXEC, SYSCALL_DENIED},
    slot_nr, syscall_abi,
    traced::is_traced,
};

/// Whether this call is one of wl-user's own while the workload's first process loads
/// its seccomp filter: from its enrolment to its `execve`, which ends that time.
#[inline(always)]
pub(crate) fn loading_filter(task: *const u8, abi: Abi, nr: u32) -> bool {
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
pub(crate) fn is_execve(abi: Abi, nr: u32) -> bool {
    #[cfg(bpf_target_arch = "x86_64")]
    {
        match abi {
            Abi::Native => nr == 59 || nr == 322,
            Abi::Compat => nr == 11 || nr == 358,
        }
    }
    // include/uapi/asm-generic/unistd.h: 221, 281; arch/arm64/tools/syscall_32.tbl:
    // 11, 387.
    #[cfg(not(bpf_target_arch = "x86_64"))]
    {
        match abi {
            Abi::Native => nr == 221 || nr == 281,
            Abi::Compat => nr == 11 || nr == 387,
        }
    }
}

/// A traced task's syscall exit with no traced entry, while a seccomp profile is
/// applied: seccomp refused the call with an errno before `sys_enter` could see it.
#[inline(always)]
pub(crate) fn denied_exit(ctx: &BtfTracePointContext, task: *mut task_struct, ret: i64) {
    if errno_of(ret).is_none() || !is_traced(task.cast()) {
        return;
    }
    let regs: *const u8 = ctx.arg(0);
    // SAFETY: `regs` is the tracepoint's BTF pt_regs pointer; the offset comes from BTF.
    let id = unsafe { read_u32(regs, offset!(regs_syscall_nr)) };
    let abi = syscall_abi(task);
    if let Some(nr) = slot_nr(abi, id.into())
        && !loading_filter(task.cast(), abi, nr)
    {
        count_denied(stats_slot(abi, nr));
    }
}

#[inline(always)]
pub(crate) fn count_denied(slot: u32) {
    if let Some(n) = SYSCALL_DENIED.get_ptr_mut(slot) {
        atomic_add(n, 1);
    }
}

/// A traced task that a seccomp profile killed for a denied call: seccomp marks it
/// `SECCOMP_MODE_DEAD`, and its registers still hold the call's number. The tracepoint
/// runs in the exiting task (`do_exit`), so the filter applies as for a syscall.
#[inline(always)]
pub(crate) fn killed_by_seccomp(ctx: &BtfTracePointContext) {
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
    let abi = syscall_abi(task);
    if let Some(nr) = slot_nr(abi, nr.into()) {
        count_denied(stats_slot(abi, nr));
    }
}
