//! Kernel work a workload causes that no syscall row shows: signals sent to its tasks,
//! and its tasks' context switches, with the time they spent blocked. Both
//! tracepoints fire for every task of the machine; an untraced one leaves after the
//! same filter a syscall goes through (and, at a switch, one load that finds the next
//! task has no storage).

use aya_ebpf::{
    bindings::task_struct, helpers::generated::bpf_ktime_get_ns, macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use wl_common::{InFlight, event, owner_event};

use crate::{
    btf::{read_ptr, read_u32},
    maps::{EVENTS, IN_FLIGHT},
    owners::{self, Whose},
    per_cgroup,
    traced::{is_task_traced, is_traced},
};

/// Whether events are counted at all: a load-time constant the verifier folds.
#[inline(always)]
pub(crate) fn enabled() -> bool {
    setting!(noop) == 0 && setting!(events) != 0
}

/// Adds one event of `slot`, with `ns` of time, on this CPU.
#[inline(always)]
pub(crate) fn count(slot: u32, calls: u64, ns: u64) {
    if let Some(c) = EVENTS.get_ptr_mut(slot) {
        // SAFETY: this CPU's slot; a BPF program runs to completion on one CPU.
        unsafe {
            (*c).calls += calls;
            (*c).total_ns += ns;
        }
    }
}

// signal_generate: `int sig, struct kernel_siginfo *info, struct task_struct *task,
// int group, int result` (include/trace/events/signal.h), in the sender, as a signal is
// queued for `task`. Counted there rather than at delivery, where a fatal signal has
// already become the SIGKILL that ends the group.

/// `result` of a signal queued for delivery (TRACE_SIGNAL_DELIVERED), and of one queued
/// without its siginfo past RLIMIT_SIGPENDING, delivered all the same
/// (TRACE_SIGNAL_LOSE_INFO): include/trace/events/signal.h.
const SIGNAL_QUEUED: i32 = 0;
const SIGNAL_QUEUED_WITHOUT_INFO: i32 = 4;

#[btf_tracepoint(function = "signal_generate")]
pub fn signal_generate(ctx: BtfTracePointContext) -> i32 {
    if !enabled() {
        return 0;
    }
    let sig: i32 = ctx.arg(0);
    let task: *const u8 = ctx.arg(2);
    let result: i32 = ctx.arg(4);
    if !matches!(result, SIGNAL_QUEUED | SIGNAL_QUEUED_WITHOUT_INFO) || !is_task_traced(task) {
        return 0;
    }
    if sig > 0
        && (sig as u32) < event::SIGNALS
        && owners::count_event(Whose::Task(task), owner_event::SIGNAL, sig as u32, 1, 0)
    {
        count(sig as u32, 1, 0);
    }
    0
}

/// `TASK_DEAD` in `task_struct.__state` (include/linux/sched.h).
const TASK_DEAD: u32 = 0x80;

/// Notes when the current task `task` left the CPU to wait, in its task storage. A
/// record made here holds no syscall: its slot says so, or the task's next `sys_exit`
/// would take it for the entry of syscall 0.
#[inline(always)]
fn stamp_blocked(task: *mut task_struct) {
    let record = match IN_FLIGHT.lookup(task) {
        Some(f) => Some(f),
        None => IN_FLIGHT.lookup_or_create(task).map(|f| {
            f.slot = InFlight::IDLE;
            f
        }),
    };
    if let Some(f) = record {
        // SAFETY: a helper without arguments.
        f.blocked_since_ns = unsafe { bpf_ktime_get_ns() };
    }
}

// sched_switch: `bool preempt, struct task_struct *prev, struct task_struct *next,
// unsigned int prev_state` (include/trace/events/sched.h), run by `prev`.

#[btf_tracepoint(function = "sched_switch")]
pub fn sched_switch(ctx: BtfTracePointContext) -> i32 {
    if !enabled() {
        return 0;
    }
    let preempt: u64 = ctx.arg(0);
    let prev: *mut task_struct = ctx.arg(1);
    let next: *mut task_struct = ctx.arg(2);
    let prev_state: u64 = ctx.arg(3);
    // `prev` is the current task, which the filter's pid test reads. A task's last
    // switch, as it dies, is no wait.
    if per_cgroup::enabled() {
        // Per cgroup, the switches only: no task's waits are followed. The idle task
        // (pid 0) switching out is no task's switch.
        // SAFETY: `prev` is the tracepoint's BTF task pointer; the offset comes from BTF.
        let idle = unsafe { read_u32(prev.cast(), offset!(task_pid)) } == 0;
        if !idle && prev_state as u32 & TASK_DEAD == 0 && is_traced(prev.cast()) {
            let detail = if preempt == 0 && prev_state as u32 != 0 {
                owner_event::VOLUNTARY
            } else {
                owner_event::INVOLUNTARY
            };
            owners::count_event(Whose::Current, owner_event::SWITCH, detail, 1, 0);
        }
        return 0;
    }
    if prev_state as u32 & TASK_DEAD == 0 && is_traced(prev.cast()) {
        // TASK_RUNNING is 0: a task switched out in any other state went to wait (or was
        // stopped); the kernel counts these as voluntary switches too (nvcsw).
        let (slot, detail) = if preempt == 0 && prev_state as u32 != 0 {
            stamp_blocked(prev);
            (event::SWITCH_VOLUNTARY, owner_event::VOLUNTARY)
        } else {
            (event::SWITCH_INVOLUNTARY, owner_event::INVOLUNTARY)
        };
        owners::count_event(Whose::Current, owner_event::SWITCH, detail, 1, 0);
        count(slot, 1, 0);
    }
    // The task coming back: if it left to wait while traced, its wait ends now. Most
    // tasks have no storage at all, which one load tells.
    // SAFETY: `next` is the tracepoint's BTF task pointer; the offset comes from BTF.
    if unsafe { read_ptr(next.cast(), offset!(task_bpf_storage)) }.is_null() {
        return 0;
    }
    if let Some(f) = IN_FLIGHT.lookup(next)
        && f.blocked_since_ns != 0
    {
        // SAFETY: a helper without arguments.
        let now = unsafe { bpf_ktime_get_ns() };
        let blocked = now.saturating_sub(f.blocked_since_ns);
        let next = Whose::Task(next.cast());
        owners::count_event(
            next,
            owner_event::SWITCH,
            owner_event::VOLUNTARY,
            0,
            blocked,
        );
        count(event::SWITCH_VOLUNTARY, 0, blocked);
        f.blocked_since_ns = 0;
    }
    0
}
