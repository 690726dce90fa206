//! Events and io_uring operations counted for their owner: in `wl-user serve`, the
//! cgroup of the task they happened to (instead of the workload's maps, which serve
//! does not read); with `--by`, its thread (besides the workload's maps, which give
//! the details per memory, device and object that owners are not split by). Every event
//! site asks here, so what an owner is, and where its counts go, is decided in one
//! place.

use aya_ebpf::{
    bindings::BPF_NOEXIST, btf_maps::HashMap, helpers::generated::bpf_get_current_pid_tgid,
};
use wl_common::{Counts, Lost, ObjectKey, OwnerEventKey, OwnerIoUringKey, by, owner_event};

use crate::{
    btf::read_u32,
    counters::{add_counts, lost_n},
    maps::{TASK_EVENTS, TASK_IO_URING},
    per_cgroup,
};

/// The task an event happened to.
#[derive(Clone, Copy)]
pub(crate) enum Whose {
    /// The task the program runs in.
    Current,
    /// Another task (a signal's target, the task a switch brings back): a BTF task
    /// pointer.
    Task(*const u8),
    /// An owner found before (an io_uring ring's).
    Owner(u64),
}

#[inline(always)]
fn by_task() -> bool {
    setting!(by) != by::NONE
}

/// The owner of what `whose` does: its cgroup's id per cgroup, else its thread id.
#[inline(always)]
pub(crate) fn owner(whose: Whose) -> u64 {
    match (per_cgroup::enabled(), whose) {
        (true, Whose::Current) => per_cgroup::current_cgroup_id(),
        // SAFETY: `Whose::Task` holds a BTF task pointer.
        (true, Whose::Task(t)) => unsafe { per_cgroup::task_cgroup_id(t) },
        // SAFETY: a helper without arguments.
        (false, Whose::Current) => u64::from(unsafe { bpf_get_current_pid_tgid() } as u32),
        // SAFETY: as above; the offset comes from BTF.
        (false, Whose::Task(t)) => unsafe { read_u32(t, offset!(task_pid)) }.into(),
        (_, Whose::Owner(id)) => id,
    }
}

/// Counts `n` events of `kind` and `detail` (`wl_common::owner_event`), with `ns` of
/// time, for the owner of `whose`. False when they are counted for their owner only
/// (per cgroup): then the caller counts nothing else.
#[inline(always)]
pub(crate) fn count_event(whose: Whose, kind: u32, detail: u32, n: u64, ns: u64) -> bool {
    if per_cgroup::enabled() {
        per_cgroup::count_event(owner(whose), kind, detail, n);
        return false;
    }
    if by_task() {
        let key = OwnerEventKey {
            owner: owner(whose),
            kind,
            detail,
        };
        add(
            &TASK_EVENTS,
            &key,
            &Counts {
                calls: n,
                errors: 0,
                total_ns: ns,
            },
        );
    }
    true
}

/// Counts an io_uring completion, by opcode and object (`object.slot` is the opcode),
/// and its `errno` if it failed, for `owner`, the owner of its ring. False when it is
/// counted for its owner only (per cgroup, completions only).
#[inline(always)]
pub(crate) fn count_io_uring(
    owner: u64,
    object: &ObjectKey,
    add_: &Counts,
    errno: Option<u32>,
) -> bool {
    if per_cgroup::enabled() {
        per_cgroup::count_io_uring(owner, object);
        return false;
    }
    if by_task() {
        let key = OwnerIoUringKey {
            owner,
            object: *object,
        };
        add(&TASK_IO_URING, &key, add_);
        if let Some(errno) = errno {
            let detail = owner_event::io_uring_errno(object.slot, errno);
            count_event(
                Whose::Owner(owner),
                owner_event::IO_URING_ERRNO,
                detail,
                1,
                0,
            );
        }
    }
    true
}

/// Adds to `key`'s row of a per-task map, which other CPUs update too; what finds no
/// room is in `lost` (and in the workload's maps, which the caller counts as well).
#[inline(always)]
fn add<K, const N: usize>(map: &HashMap<K, Counts, N>, key: &K, add: &Counts) {
    let mut row = map.get_ptr_mut(key);
    if row.is_none() {
        // Another CPU may insert the same key first: then the lookup below finds it.
        let _ = map.insert(key, &Counts::default(), BPF_NOEXIST.into());
        row = map.get_ptr_mut(key);
    }
    match row {
        Some(r) => add_counts(r, add),
        None => lost_n(Lost::TaskEventsFull, add.calls),
    }
}
