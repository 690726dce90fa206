//! `--profile`: where the kernel's time goes. One program on a sampling clock of every
//! CPU (cpu-clock, or the PMU's cycles): a sample of a traced task in the kernel counts
//! its kernel stack, one in user space counts as such. Any other task's sample leaves
//! after the same filter a syscall goes through.

use aya_ebpf::{
    btf_maps::{Array, PerCpuArray, StackTrace},
    helpers::generated::bpf_get_current_task_btf,
    macros::{btf_map, perf_event},
    programs::{PerfEventContext, tracing::StackIdContext as _},
};
use wl_common::{Lost, PROFILE_STACK_DEPTH, PROFILE_STACK_ENTRIES, profile_mode};

use crate::{
    counters::{atomic_add, lost},
    traced::is_traced,
};

/// The kernel stacks sampled, innermost frame first, by id.
#[btf_map]
static PROFILE_STACKS: StackTrace<{ PROFILE_STACK_ENTRIES as usize }, 0, PROFILE_STACK_DEPTH> =
    StackTrace::new();

/// Samples per stack id (atomic adds: samples are rare, a per-CPU copy is not worth
/// its memory).
#[btf_map]
static PROFILE_SAMPLES: Array<u64, { PROFILE_STACK_ENTRIES as usize }> = Array::new();

/// Samples per `profile_mode`.
#[btf_map]
static PROFILE_MODES: PerCpuArray<u64, { profile_mode::COUNT as usize }> = PerCpuArray::new();

/// The stack walk found no kernel frame: the sample interrupted user space.
const EFAULT: i32 = 14;
/// The stack's bucket holds another stack.
const EEXIST: i32 = 17;

#[perf_event]
pub fn profile(ctx: PerfEventContext) -> u32 {
    // SAFETY: a helper without arguments.
    let task = unsafe { bpf_get_current_task_btf() };
    if !is_traced(task.cast()) {
        return 0;
    }
    // Flags 0: the kernel stack, no frame skipped, a bucket never taken from another.
    let mode = match ctx.get_stackid(&PROFILE_STACKS, 0) {
        Ok(id) => {
            if let Some(n) = PROFILE_SAMPLES.get_ptr_mut(id as u32) {
                atomic_add(n, 1);
            }
            profile_mode::KERNEL
        }
        Err(e) if e == -EFAULT => profile_mode::USER,
        Err(e) => {
            lost(if e == -EEXIST {
                Lost::ProfileStackCollision
            } else {
                Lost::ProfileStackMapFull
            });
            profile_mode::KERNEL
        }
    };
    if let Some(n) = PROFILE_MODES.get_ptr_mut(mode) {
        // SAFETY: this CPU's slot; a perf event program runs to completion on its CPU.
        unsafe { *n += 1 };
    }
    0
}
