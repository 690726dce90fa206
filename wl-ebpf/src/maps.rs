//! The maps: what the programs count into and what the loader reads, with the
//! tasks and processes being traced. Names are shared with wl-user through
//! `wl_common::names`.

use aya_ebpf::{
    bindings::BPF_F_MMAPABLE,
    btf_maps::{Array, HashMap, LruHashMap, PerCpuArray, PerCpuHashMap},
    macros::btf_map,
};
use wl_common::{
    BLOCK_ENTRIES, BlockCounts, BlockKey, Counts, ERRNO_ENTRIES, ErrnoKey, FAULT_ENTRIES, FaultKey,
    IO_URING_OPS, IO_URING_PENDING_ENTRIES, InFlight, IoUringLast, IoUringPending,
    LatencyHistogram, Lost, OBJECT_ENTRIES, ObjectKey, ObjectSpec, OwnerEventKey, OwnerIoUringKey,
    STATS_ENTRIES, SyscallStats, TASK_ENTRIES, TRACED_TGIDS_ENTRIES, TaskCache, TaskExit, TaskKey,
};

use crate::task_storage::TaskStorage;

/// Per-CPU counters, indexed by `stats_slot(abi, nr)`.
#[btf_map]
pub(crate) static SYSCALL_STATS: PerCpuArray<SyscallStats, { STATS_ENTRIES as usize }> =
    PerCpuArray::new();

/// Latency histograms, indexed like `SYSCALL_STATS`, shared by all CPUs (atomic adds).
#[btf_map]
pub(crate) static SYSCALL_LATENCY: Array<LatencyHistogram, { STATS_ENTRIES as usize }> =
    Array::new();

/// Failures per (syscall, errno), shared by all CPUs (atomic adds); only the error path
/// touches it.
#[btf_map]
pub(crate) static SYSCALL_ERRNOS: HashMap<ErrnoKey, u64, { ERRNO_ENTRIES as usize }> =
    HashMap::new();

/// Per-CPU counters of what could not be recorded, indexed by `Lost`.
#[btf_map]
pub(crate) static LOST: PerCpuArray<u64, { Lost::COUNT as usize }> = PerCpuArray::new();

/// Calls a seccomp profile denied, indexed like `SYSCALL_STATS` (atomic adds; only
/// with `COUNT_DENIED`).
#[btf_map]
pub(crate) static SYSCALL_DENIED: Array<u64, { STATS_ENTRIES as usize }> = Array::new();

/// With `COUNT_DENIED`: the pid of the workload's first process from its enrolment to
/// its `execve`, while it loads its seccomp filter (wl-user's own calls, not the
/// workload's); 0 otherwise.
#[btf_map]
pub(crate) static PENDING_EXEC: Array<u32, 1> = Array::new();

/// With `BY`: calls per (thread, syscall), past what `TASK_CACHE` holds. Sized to one
/// entry by the loader without `--by`.
#[btf_map]
pub(crate) static TASK_STATS: HashMap<TaskKey, Counts, { TASK_ENTRIES as usize }> = HashMap::new();

/// With `BY`: this CPU's last (thread, syscall) pair and its counts since.
#[btf_map]
pub(crate) static TASK_CACHE: PerCpuArray<TaskCache, 1> = PerCpuArray::new();

/// With `BY`: per syscall, the calls of tasks that did not fit in `TASK_STATS`.
#[btf_map]
pub(crate) static TASK_OTHERS: Array<Counts, { STATS_ENTRIES as usize }> = Array::new();

/// With `BY` and events: per (thread, kind, detail), the thread's events (sized by
/// the loader; one entry otherwise).
#[btf_map]
pub(crate) static TASK_EVENTS: HashMap<OwnerEventKey, Counts, 1> = HashMap::new();

/// With `BY` and events: per (thread, opcode, object), the io_uring completions of the
/// rings the thread set up or submitted to first (sized by the loader).
#[btf_map]
pub(crate) static TASK_IO_URING: HashMap<OwnerIoUringKey, Counts, 1> = HashMap::new();

/// With `BY`: traced threads that exited, by tid, and processes, by tgid.
#[btf_map]
pub(crate) static TASK_EXITS: HashMap<u32, TaskExit, { TASK_ENTRIES as usize }> = HashMap::new();

/// With `OBJECTS`: per syscall, what to resolve (filled by the loader).
#[btf_map]
pub(crate) static OBJECT_SPECS: Array<ObjectSpec, { STATS_ENTRIES as usize }> = Array::new();

/// With `OBJECTS`: calls per (syscall, object, command), shared by all CPUs (atomic
/// adds). Sized to one entry by the loader without it.
#[btf_map]
pub(crate) static OBJECT_STATS: HashMap<ObjectKey, Counts, { OBJECT_ENTRIES as usize }> =
    HashMap::new();

/// With `OBJECTS`: per syscall, the calls whose key did not fit in `OBJECT_STATS`.
#[btf_map]
pub(crate) static OBJECT_OTHERS: Array<Counts, { STATS_ENTRIES as usize }> = Array::new();

/// tgids of the traced processes in `filter::PIDS` mode (value unused).
#[btf_map]
pub(crate) static TRACED_TGIDS: HashMap<u32, u32, { TRACED_TGIDS_ENTRIES as usize }> =
    HashMap::new();

/// In `filter::PIDS` mode, a bit per tgid (word `tgid / 64`), set for every tgid in
/// `TRACED_TGIDS` (and left set for some that were): a clear bit says "not traced" with
/// one array load, where the hash would cost a lookup for every process of the machine.
/// Sized by the loader to `pid_max`; mmapped by wl-user, which sets bits with atomic
/// ORs as the kernel side sets and clears them with atomic adds.
#[btf_map]
pub(crate) static TRACED_BITS: Array<u64, 1, { BPF_F_MMAPABLE as usize }> = Array::new();

/// With events: per slot of [`wl_common::event`], how many (and for waits, how long).
#[btf_map]
pub(crate) static EVENTS: PerCpuArray<Counts, { wl_common::event::SLOTS as usize }> =
    PerCpuArray::new();

/// With events: the bios traced tasks submitted, per (device, operation).
#[btf_map]
pub(crate) static BLOCK_IO: PerCpuHashMap<BlockKey, BlockCounts, { BLOCK_ENTRIES as usize }> =
    PerCpuHashMap::new();

/// With events: the page faults of traced tasks the kernel handled, per outcome and
/// memory (named `PAGE_FAULTS`; all faults, failed ones too, are in `EVENTS`).
#[btf_map]
pub(crate) static PAGE_FAULTS: PerCpuHashMap<FaultKey, u64, { FAULT_ENTRIES as usize }> =
    PerCpuHashMap::new();

/// With events: io_uring requests of traced rings in flight, each in the slot
/// `io_uring_pending_slot` gives it, for the time from submission to completion.
#[btf_map]
pub(crate) static IO_URING_PENDING: Array<IoUringPending, { IO_URING_PENDING_ENTRIES as usize }> =
    Array::new();

/// With events: the io_uring rings whose operations count, by `struct io_ring_ctx *`:
/// those a traced task created or submitted to, with that task's cgroup. Nothing says
/// when a ring is freed: the least recently used make room (a long `serve` sees many
/// rings come and go), and a ring pushed out counts again from its next submission.
#[btf_map]
pub(crate) static IO_URING_RINGS: LruHashMap<u64, u64, { wl_common::IO_URING_RINGS as usize }> =
    LruHashMap::new();

/// With events: how many rings were set up or left `IO_URING_RINGS` so far, which
/// invalidates what `RING_SEEN` remembers.
#[btf_map]
pub(crate) static RINGS_CHANGED: Array<u64, 1> = Array::new();

/// With events: per CPU, the ring last found in `IO_URING_RINGS`, the `RINGS_CHANGED`
/// count then and the ring's cgroup: a ring's run of operations looks it up once.
#[btf_map]
pub(crate) static RING_SEEN: PerCpuArray<[u64; 3], 1> = PerCpuArray::new();

/// With events: io_uring requests submitted, by opcode.
#[btf_map]
pub(crate) static IO_URING_SUBMITTED: PerCpuArray<u64, { IO_URING_OPS as usize }> =
    PerCpuArray::new();

/// With events: io_uring completions per (opcode, object): an [`ObjectKey`] whose
/// `slot` is the opcode (atomic adds).
#[btf_map]
pub(crate) static IO_URING_STATS: HashMap<ObjectKey, Counts, { OBJECT_ENTRIES as usize }> =
    HashMap::new();

/// With events: this CPU's last (opcode, object) and its counts since (see
/// `IoUringLast`).
#[btf_map]
pub(crate) static IO_URING_LAST: PerCpuArray<IoUringLast, 1> = PerCpuArray::new();

/// With events: per opcode, the completions whose key did not fit in `IO_URING_STATS`.
#[btf_map]
pub(crate) static IO_URING_OTHERS: Array<Counts, { STATS_ENTRIES as usize }> = Array::new();

/// With events: io_uring latency (submission to completion) histograms, by opcode.
#[btf_map]
pub(crate) static IO_URING_LATENCY: Array<LatencyHistogram, { IO_URING_OPS as usize }> =
    Array::new();

/// With events: io_uring failures per (opcode, errno); `slot` is the opcode.
#[btf_map]
pub(crate) static IO_URING_ERRNOS: HashMap<ErrnoKey, u64, { ERRNO_ENTRIES as usize }> =
    HashMap::new();

/// The syscall each traced task is in.
#[btf_map]
pub(crate) static IN_FLIGHT: TaskStorage<InFlight> = TaskStorage::new();
