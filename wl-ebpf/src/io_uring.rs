//! io_uring operations of traced tasks: each request from its submission (in the task
//! that submits it: the workload's thread, or its ring's SQPOLL thread, which belongs to
//! the same process) to its completion (wherever the kernel posts it: in the task, an
//! io-wq worker of the same process, or an interrupt), by opcode and by the object the
//! request's file is, with errors by errno and the time between.

use aya_ebpf::{
    helpers::generated::{bpf_get_current_task_btf, bpf_ktime_get_ns},
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use wl_common::{
    Counts, ErrnoKey, IO_URING_OPS, IoUringPending, LATENCY_BUCKETS, Lost, ObjectKey,
    latency_bucket, object,
};

use crate::{
    account::add_to_row,
    btf::read_u32,
    counters::{atomic_add, count_one},
    events::enabled,
    maps::{
        IO_URING_ERRNOS, IO_URING_LATENCY, IO_URING_OTHERS, IO_URING_PENDING, IO_URING_STATS,
        IO_URING_SUBMITTED,
    },
    objects::{probe, resolve_file_object},
    traced::is_traced,
};

/// `IORING_CQE_F_MORE`: the request posts more completions (multishot).
const CQE_F_MORE: u32 = 1 << 1;

// io_uring_submit_req: `struct io_kiocb *req` (include/trace/events/io_uring.h), in the
// submitting task, once per request.

#[btf_tracepoint(function = "io_uring_submit_req")]
pub fn io_uring_submit_req(ctx: BtfTracePointContext) -> i32 {
    if !enabled() {
        return 0;
    }
    // SAFETY: a helper without arguments.
    let task = unsafe { bpf_get_current_task_btf() };
    if !is_traced(task.cast()) {
        return 0;
    }
    let req: u64 = ctx.arg(0);
    let Some(opcode) = probe::<u8>(req, offset!(req_opcode)) else {
        return 0;
    };
    let opcode = u32::from(opcode);
    if let Some(n) = IO_URING_SUBMITTED.get_ptr_mut(opcode) {
        // SAFETY: this CPU's slot; the program runs to completion on one CPU.
        unsafe { *n += 1 };
    }
    let pending = IoUringPending {
        // SAFETY: a helper without arguments.
        start_ns: unsafe { bpf_ktime_get_ns() },
        opcode,
        _pad: 0,
    };
    // A request whose completion was never seen (one that posts none on success) is
    // replaced when its memory is reused for the next.
    let _ = IO_URING_PENDING.insert(&req, &pending, 0);
    0
}

// io_uring_complete, as each completion is posted: `void *ctx, void *req, u64
// user_data, int res, unsigned cflags, u64 extra1, u64 extra2` until Linux 6.3, then
// `struct io_ring_ctx *ctx, void *req, struct io_uring_cqe *cqe`; `req` is null for
// completions no request made.

#[btf_tracepoint(function = "io_uring_complete")]
pub fn io_uring_complete(ctx: BtfTracePointContext) -> i32 {
    if !enabled() {
        return 0;
    }
    let req: u64 = ctx.arg(1);
    // The kernel's form is a load-time constant: the verifier never sees the other
    // form's argument loads, which it would refuse.
    let (res, cflags): (i32, u32) = if offset!(complete_has_cqe) != 0 {
        let cqe: *const u8 = ctx.arg(2);
        // SAFETY: `cqe` is the tracepoint's BTF pointer; the offsets come from BTF.
        unsafe {
            (
                read_u32(cqe, offset!(cqe_res)) as i32,
                read_u32(cqe, offset!(cqe_flags)),
            )
        }
    } else {
        (ctx.arg(3), ctx.arg(4))
    };
    // Only requests a traced task submitted are pending.
    let Some(pending) = IO_URING_PENDING.get_ptr(&req) else {
        return 0;
    };
    // SAFETY: a live map value, copied at once.
    let pending = unsafe { *pending };
    if cflags & CQE_F_MORE == 0 {
        let _ = IO_URING_PENDING.remove(&req);
    }
    let opcode = pending.opcode;
    if opcode >= IO_URING_OPS {
        return 0;
    }
    // SAFETY: a helper without arguments.
    let ns = unsafe { bpf_ktime_get_ns() }.saturating_sub(pending.start_ns);
    // A request without a file: one that takes none (a NOP, a timeout), or one whose fd
    // was not open (it fails with EBADF).
    const EBADF: i32 = 9;
    let mut key = ObjectKey {
        slot: opcode,
        kind: if res == -EBADF {
            object::NO_FILE
        } else {
            object::NONE
        },
        ..ObjectKey::default()
    };
    if let Some(file) = probe::<u64>(req, offset!(req_file))
        && file != 0
    {
        resolve_file_object(file, &mut key);
    }
    let failed = res < 0;
    add_to_row(
        &IO_URING_STATS,
        &key,
        &IO_URING_OTHERS,
        opcode,
        Lost::IoUringMapFull,
        &Counts {
            calls: 1,
            errors: u64::from(failed),
            total_ns: ns,
        },
    );
    let bucket = latency_bucket(ns);
    if let Some(hist) = IO_URING_LATENCY.get_ptr_mut(opcode)
        && bucket < LATENCY_BUCKETS
    {
        // SAFETY: `hist` points at a live map value and `bucket` is in bounds.
        atomic_add(unsafe { hist.cast::<u64>().add(bucket) }, 1);
    }
    if failed {
        count_one(
            &IO_URING_ERRNOS,
            &ErrnoKey {
                slot: opcode,
                errno: res.unsigned_abs(),
            },
            Lost::IoUringErrnoMapFull,
        );
    }
    0
}
