//! The call a traced task is in, from `sys_enter` to `sys_exit`. It is kept in this
//! CPU's slot while the task stays on the CPU, which is the common case, and moved to
//! the task's own storage only when the task leaves the CPU inside the call (it blocks,
//! or is preempted: both go through `sched_switch`). A call that does not leave the CPU
//! touches no task storage, whose helper costs a call and a lock each way.
//!
//! The slot only ever holds a call of the task running on its CPU: whoever leaves the
//! CPU vacates it, so a thread id that comes back (reused, or the task returning
//! elsewhere) never finds a record that is not its own.

use aya_ebpf::{bindings::task_struct, btf_maps::PerCpuArray, macros::btf_map};
use wl_common::{CpuInFlight, InFlight, Lost};

use crate::{
    btf::{read_ptr, read_u32},
    counters::lost,
    maps::IN_FLIGHT,
};

#[btf_map]
static CPU_IN_FLIGHT: PerCpuArray<CpuInFlight, 1> = PerCpuArray::new();

/// `TASK_DEAD` in `task_struct.__state` (include/linux/sched.h).
pub(crate) const TASK_DEAD: u32 = 0x80;

#[inline(always)]
fn tid(task: *const task_struct) -> u32 {
    // SAFETY: a BTF task pointer; the offset comes from BTF.
    unsafe { read_u32(task.cast(), offset!(task_pid)) }
}

/// The record of the call the current task `task` enters: this CPU's, now the task's.
/// Its `countdown` is the CPU's; the caller sets every other field it reads later.
#[inline(always)]
pub(crate) fn begin(task: *const task_struct) -> Option<&'static mut InFlight> {
    let Some(cpu) = CPU_IN_FLIGHT.get_ptr_mut(0) else {
        lost(Lost::NoTaskSlot);
        return None;
    };
    // SAFETY: this CPU's value; the program runs to completion on one CPU.
    let cpu = unsafe { &mut *cpu };
    cpu.owner = tid(task);
    Some(&mut cpu.record)
}

/// The record of the call the current task `task` returns from, if its entry was
/// traced: in this CPU's slot if the task never left the CPU, else in its storage. The
/// caller marks it [`InFlight::IDLE`] once read.
#[inline(always)]
pub(crate) fn take(task: *mut task_struct) -> Option<&'static mut InFlight> {
    if let Some(cpu) = CPU_IN_FLIGHT.get_ptr_mut(0) {
        // SAFETY: as in `begin`.
        let cpu = unsafe { &mut *cpu };
        if cpu.owner != 0 && cpu.owner == tid(task) {
            cpu.owner = 0;
            return Some(&mut cpu.record);
        }
    }
    // Most tasks have no local storage at all: one load tells, where the storage
    // helper would cost a call and a lock.
    // SAFETY: `task` is the current task's BTF pointer; the offset comes from BTF.
    if unsafe { read_ptr(task.cast(), offset!(task_bpf_storage)) }.is_null() {
        return None;
    }
    IN_FLIGHT.lookup(task)
}

/// At `sched_switch`, as `prev` leaves this CPU in state `prev_state`: the call it is
/// in, if this CPU holds one, moves to its storage (unless it is dying), and the slot
/// is vacated. For every other task, one load and a comparison.
#[inline(always)]
pub(crate) fn leave(prev: *mut task_struct, prev_state: u32) {
    let Some(cpu) = CPU_IN_FLIGHT.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: as in `begin`.
    let cpu = unsafe { &mut *cpu };
    let owner = cpu.owner;
    if owner == 0 {
        return;
    }
    cpu.owner = 0;
    if owner != tid(prev) || prev_state & TASK_DEAD != 0 {
        return;
    }
    match IN_FLIGHT.lookup_or_create(prev) {
        Some(f) => {
            let r = &cpu.record;
            f.start_ns = r.start_ns;
            f.slot = r.slot;
            f.has_object = r.has_object;
            f.object = r.object;
        }
        None => lost(Lost::NoTaskSlot),
    }
}
