//! Block I/O a workload submits: the bios its tasks queue, per device and operation,
//! with the bytes they carry. Counted where the bio enters the block layer, in the
//! submitting task, so that I/O the kernel does later on its own behalf (writeback by
//! flusher threads, a journal's commits) belongs to those threads, not the workload.

use aya_ebpf::{
    bindings::BPF_NOEXIST, helpers::generated::bpf_get_current_task_btf, macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use wl_common::{BlockCounts, BlockKey, Lost, owner_event};

use crate::{
    btf::{read_ptr, read_u32},
    counters::lost,
    maps::BLOCK_IO,
    owners::{self, Whose},
    traced::is_traced,
};

/// `REQ_OP_MASK`: the operation in the low 8 bits of `bio.bi_opf`
/// (include/linux/blk_types.h).
const REQ_OP_MASK: u32 = 0xff;

// block_bio_queue: `struct bio *bio` (include/trace/events/block.h), run by the task
// submitting it, once per bio (`BIO_TRACE_COMPLETION` marks it traced): a bio split
// later is counted once, a bio a stacked device (dm, md) submits to the device below
// counts again, on that device.

#[btf_tracepoint(function = "block_bio_queue")]
pub fn block_bio_queue(ctx: BtfTracePointContext) -> i32 {
    if !crate::events::enabled() {
        return 0;
    }
    // SAFETY: a helper without arguments.
    let task = unsafe { bpf_get_current_task_btf() };
    if !is_traced(task.cast()) {
        return 0;
    }
    let bio: *const u8 = ctx.arg(0);
    // SAFETY: `bio` is the tracepoint's BTF pointer and `bi_bdev` a BTF-typed field of
    // it; the offsets come from BTF and the verifier checks each load.
    let (dev, opf, size) = unsafe {
        let bdev = read_ptr(bio, offset!(bio_bdev));
        (
            read_u32(bdev, offset!(bdev_dev)),
            read_u32(bio, offset!(bio_opf)),
            read_u32(bio, offset!(bio_size)),
        )
    };
    let mut op = opf & REQ_OP_MASK;
    // A write of nothing is the empty bio of a cache flush (REQ_PREFLUSH).
    if op == BlockKey::WRITE && size == 0 {
        op = BlockKey::FLUSH;
    }
    if !owners::count_event(Whose::Current, owner_event::BLOCK, op, 1, 0) {
        return 0;
    }
    let key = BlockKey { dev, op };
    let add = BlockCounts {
        bios: 1,
        bytes: size as u64,
    };
    // The first bio of a pair inserts it; a failed insert is either another CPU's
    // insert of the same pair in between (add to it then) or a full map.
    if let Some(c) = BLOCK_IO.get_ptr_mut(&key) {
        // SAFETY: this CPU's value; the program runs to completion on one CPU.
        unsafe { *c += add };
    } else if BLOCK_IO.insert(&key, &add, BPF_NOEXIST as u64).is_err() {
        match BLOCK_IO.get_ptr_mut(&key) {
            // SAFETY: as above.
            Some(c) => unsafe { *c += add },
            None => lost(Lost::BlockMapFull),
        }
    }
    0
}
