//! io_uring operations of traced tasks: each completion of a ring that a traced task
//! created or submitted to (posted wherever the kernel posts it: in the task, an io-wq
//! worker of the same process, its SQPOLL thread, or an interrupt), by opcode and by
//! the object the request's file is, with errors by errno and, when calls are timed,
//! the time since the request's submission.
//!
//! A completion is told traced by its ring, one hash lookup, rather than by following
//! each request from its submission: requests in flight are kept only for their
//! submission time, in an array slot their address picks, where a plain store
//! replaces a hash map's insert and delete.

use aya_ebpf::{
    EbpfContext as _,
    helpers::{
        bpf_probe_read_kernel,
        generated::{bpf_get_current_task_btf, bpf_ktime_get_ns},
    },
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use wl_common::{
    Counts, ErrnoKey, LATENCY_BUCKETS, Lost, ObjectKey, io_uring_pending_slot, latency_bucket,
    object, owner_event,
};

use crate::{
    account::add_to_row,
    btf::{read_ptr, read_u32},
    counters::{atomic_add, count_one, lost},
    events::enabled,
    maps::{
        IO_URING_ERRNOS, IO_URING_LAST, IO_URING_LATENCY, IO_URING_OTHERS, IO_URING_PENDING,
        IO_URING_RINGS, IO_URING_STATS, IO_URING_SUBMITTED, RING_SEEN, RINGS_CHANGED,
    },
    objects::{probe, resolve_file_object},
    owners::{self, Whose},
    per_cgroup,
    traced::is_traced,
};

/// `IORING_CQE_F_MORE`: the request posts more completions (multishot).
const CQE_F_MORE: u32 = 1 << 1;

#[inline(always)]
fn current_is_traced() -> bool {
    // SAFETY: a helper without arguments.
    let task = unsafe { bpf_get_current_task_btf() };
    is_traced(task.cast())
}

// io_uring_create: `int fd, void *ctx, u32 sq_entries, u32 cq_entries, u32 flags`, in
// the task that sets the ring up. A ring at the address of one that is gone is told
// apart here: it counts if its creator is traced, and stops counting if not.

#[btf_tracepoint(function = "io_uring_create")]
pub fn io_uring_create(ctx: BtfTracePointContext) -> i32 {
    if !enabled() {
        return 0;
    }
    let ring: u64 = ctx.arg(1);
    if current_is_traced() {
        if IO_URING_RINGS
            .insert(&ring, &owners::owner(Whose::Current), 0)
            .is_err()
        {
            lost(Lost::IoUringRingMapFull);
        }
    } else {
        let _ = IO_URING_RINGS.remove(&ring);
    }
    // What each CPU remembers of a ring at this address is void.
    if let Some(changed) = RINGS_CHANGED.get_ptr_mut(0) {
        atomic_add(changed, 1);
    }
    0
}

/// Whether `ring`'s operations count, with the owner (`owners::owner`) of the task
/// that set it up or submitted to it first: it is in `IO_URING_RINGS`, as this CPU last found it, unless
/// a ring was set up or left the map since.
#[inline(always)]
fn ring_counts(ring: u64) -> Option<u64> {
    let seen = RING_SEEN.get_ptr_mut(0)?;
    let changed = RINGS_CHANGED.get_ptr(0)?;
    // SAFETY: live map values; `seen` is this CPU's own.
    unsafe {
        let changed = core::ptr::read_volatile(changed);
        if (*seen)[0] == ring && (*seen)[1] == changed {
            return Some((*seen)[2]);
        }
        let owner = *IO_URING_RINGS.get_ptr(&ring)?;
        *seen = [ring, changed, owner];
        Some(owner)
    }
}

// io_uring_submit_req (io_uring_submit_sqe until Linux 6.3): `struct io_kiocb *req`
// first (include/trace/events/io_uring.h), in the submitting task, once per request.

#[btf_tracepoint(function = "io_uring_submit_req")]
pub fn io_uring_submit_req(ctx: BtfTracePointContext) -> i32 {
    if !enabled() || !current_is_traced() {
        return 0;
    }
    // The request's address as a number, read from the arguments as plain memory: the
    // verifier allows no arithmetic (the slot's hash) on a typed pointer.
    // SAFETY: the first of the context's argument words.
    let Ok(req) = (unsafe { bpf_probe_read_kernel(ctx.as_ptr().cast::<u64>()) }) else {
        return 0;
    };
    // Its fields through the typed pointer: plain loads, where a probe is a helper call.
    let typed: *const u8 = ctx.arg(0);
    // SAFETY: `typed` is the tracepoint's BTF pointer to the request; the offsets come
    // from BTF and the verifier checks each load against the type.
    let (opcode, ring) = unsafe {
        (
            core::ptr::read_volatile(typed.add(offset!(req_opcode) as usize)),
            read_ptr(typed, offset!(req_ctx)) as u64,
        )
    };
    // Per cgroup, operations are counted by completion only.
    if !per_cgroup::enabled() {
        let opcode = u32::from(opcode);
        owners::count_event(Whose::Current, owner_event::IO_URING_SUBMIT, opcode, 1, 0);
        if let Some(n) = IO_URING_SUBMITTED.get_ptr_mut(opcode) {
            // SAFETY: this CPU's slot; the program runs to completion on one CPU.
            unsafe { *n += 1 };
        }
    }
    // A ring set up before tracing began counts from the first traced submission.
    if ring_counts(ring).is_none()
        && IO_URING_RINGS
            .insert(&ring, &owners::owner(Whose::Current), 0)
            .is_err()
    {
        lost(Lost::IoUringRingMapFull);
    }
    // Per cgroup (`serve`), operations are counted by completion only, not timed.
    if setting!(timed) != 0
        && !per_cgroup::enabled()
        && let Some(slot) = IO_URING_PENDING.get_ptr_mut(io_uring_pending_slot(req))
    {
        // SAFETY: a live array slot. Another CPU may store into it at the same time;
        // the completion reads `req` on both sides of `start_ns` to notice.
        unsafe {
            core::ptr::write_volatile(&mut (*slot).req, 0);
            core::ptr::write_volatile(&mut (*slot).start_ns, bpf_ktime_get_ns());
            core::ptr::write_volatile(&mut (*slot).req, req);
        }
    }
    0
}

/// Adds a completion to this CPU's last (opcode, object) while it repeats, and the
/// last one's counts to the shared map when it changes.
#[inline(always)]
fn count_completion(key: &ObjectKey, add: &Counts) {
    let Some(last) = IO_URING_LAST.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's entry; the program runs to completion on one CPU.
    let last = unsafe { &mut *last };
    if last.counts.calls != 0 && last.key == *key {
        last.counts += *add;
        return;
    }
    let (was, counts) = (last.key, last.counts);
    last.key = *key;
    last.counts = *add;
    if counts.calls != 0 {
        add_to_row(
            &IO_URING_STATS,
            &was,
            &IO_URING_OTHERS,
            was.slot,
            Lost::IoUringMapFull,
            &counts,
        );
    }
}

/// The time since request `req` was submitted, if its slot still holds it; the slot
/// is freed unless the request completes again (`more`).
#[inline(always)]
fn time_since_submission(req: u64, more: bool) -> Option<u64> {
    let slot = IO_URING_PENDING.get_ptr_mut(io_uring_pending_slot(req))?;
    // SAFETY: a live array slot; racing stores are caught by reading `req` twice.
    unsafe {
        let first = core::ptr::read_volatile(&(*slot).req);
        let start = core::ptr::read_volatile(&(*slot).start_ns);
        let second = core::ptr::read_volatile(&(*slot).req);
        if first != req || second != req {
            return None;
        }
        if !more {
            core::ptr::write_volatile(&mut (*slot).req, 0);
        }
        Some(bpf_ktime_get_ns().saturating_sub(start))
    }
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
    let ring: u64 = ctx.arg(0);
    let Some(owner) = ring_counts(ring) else {
        return 0;
    };
    let req: u64 = ctx.arg(1);
    let Some(opcode) = probe::<u8>(req, offset!(req_opcode)) else {
        return 0;
    };
    // A u8: within the per-opcode arrays' IO_URING_OPS slots.
    let opcode = u32::from(opcode);
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
    let took = if setting!(timed) != 0 && !per_cgroup::enabled() {
        time_since_submission(req, cflags & CQE_F_MORE != 0)
    } else {
        None
    };
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
    let counts = Counts {
        calls: 1,
        errors: u64::from(failed),
        total_ns: took.unwrap_or(0),
    };
    let errno = failed.then(|| res.unsigned_abs());
    if !owners::count_io_uring(owner, &key, &counts, errno) {
        return 0;
    }
    count_completion(&key, &counts);
    if let Some(ns) = took {
        let bucket = latency_bucket(ns);
        if let Some(hist) = IO_URING_LATENCY.get_ptr_mut(opcode)
            && bucket < LATENCY_BUCKETS
        {
            // SAFETY: `hist` points at a live map value and `bucket` is in bounds.
            atomic_add(unsafe { hist.cast::<u64>().add(bucket) }, 1);
        }
    }
    if let Some(errno) = errno {
        count_one(
            &IO_URING_ERRNOS,
            &ErrnoKey {
                slot: opcode,
                errno,
            },
            Lost::IoUringErrnoMapFull,
        );
    }
    0
}
