//! Loads wl's eBPF programs into the kernel, attaches them, and reads what they
//! gathered. This is the only module that talks to aya: here the settings, the loading
//! and attaching and what is traced; [`offsets`] finds the kernel fields in BTF,
//! [`specs`] says what to read per syscall for objects, [`read`] reads the maps and [`delta`] takes the difference of two readings.

mod delta;
mod load;
mod offsets;
pub mod profile;
mod read;
mod specs;
mod traced_bits;

pub use offsets::kernel_offsets;
use specs::object_specs;

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};
use aya::{
    Btf, Ebpf, EbpfLoader,
    maps::{Array, HashMap, MapData},
    programs::{
        BtfTracePoint, PerfEvent,
        perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent},
    },
    util::online_cpus,
};
use wl_common::{
    Abi, BlockCounts, BlockKey, CGROUP_LAST_ENTRIES, CgroupEntry, CgroupErrnoKey, CgroupLast,
    CgroupSyscallCounts, CgroupSyscallKey, Counts, FaultKey, KernelOffsets, LATENCY_BUCKETS,
    OBJECT_ENTRIES, OWNER_EVENT_ENTRIES, ObjectKey, ObjectSpec, OwnerEventKey, OwnerIoUringKey,
    PROFILE_STACK_ENTRIES, STATS_ENTRIES, Settings, TASK_ENTRIES, TRACED_TGIDS_ENTRIES, TaskExit,
    filter, names, syscall_slot,
};

use crate::{
    btf,
    options::{By, Only},
    syscalls::Knowledge,
};

/// The compiled kernel side, built by build.rs.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/wl"));

/// CPUs the kernel may ever bring up: per-CPU maps hold a value for each.
pub fn possible_cpus() -> u64 {
    aya::util::nr_cpus().map_or(1, |n| n as u64)
}

/// Whether the kernel has BPF task local storage (Linux 5.11+), where each traced call
/// keeps its start.
pub fn has_task_storage() -> Result<bool> {
    aya::sys::is_map_supported(aya::maps::MapType::TaskStorage)
        .map_err(|e| anyhow::anyhow!("cannot probe: {e}"))
}

/// Which tasks the kernel side counts.
#[derive(Debug, Clone, Copy)]
pub enum Filter {
    /// Tasks in the cgroup v2 with this id and its descendants; `level` is its depth below
    /// the hierarchy's root.
    Cgroup { id: u64, level: u32 },
    /// Processes in the traced-pid set, which the loader fills; with `follow_children`
    /// the kernel adds every process they fork.
    Pids { follow_children: bool },
}

/// Whether and how calls are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Count calls and errors only: no clock reads, no per-task state.
    Off,
    /// Time every call: latency, min/max, histogram.
    EveryCall,
    /// Time one call in `one_in` of each task, and every call of a rare syscall.
    Sampled { one_in: u32 },
}

impl Latency {
    /// One call in how many is timed: 1 for every call, 0 for none.
    pub fn one_in(self) -> u32 {
        match self {
            Latency::Off => 0,
            Latency::EveryCall => 1,
            Latency::Sampled { one_in } => one_in,
        }
    }
}

/// The kernel side's `BY` setting for `--by`: per process, or per thread; a command's
/// rows are sums of its processes'.
fn by_setting(by: Option<By>) -> u32 {
    match by {
        None => wl_common::by::NONE,
        Some(By::Process | By::Comm) => wl_common::by::PROCESS,
        Some(By::Thread) => wl_common::by::THREAD,
    }
}

/// One task's calls of one syscall, and the task's exit where it has exited.
#[derive(Debug, Clone)]
pub struct TaskSnapshot {
    pub by: By,
    /// Per (task id, ABI, syscall number); task id 0 holds the tasks that did not fit.
    pub counts: Vec<(u32, Abi, u32, Counts)>,
    /// By task id.
    pub exits: BTreeMap<u32, TaskExit>,
    /// With events: per (task id, kind, detail); those that did not fit are in the
    /// workload's rows only (and in `lost`).
    pub events: Vec<(OwnerEventKey, Counts)>,
    /// With events: io_uring completions per (task id of the ring's owner, opcode,
    /// object).
    pub io_uring: Vec<(OwnerIoUringKey, Counts)>,
}

/// How to trace, settled once from the command line.
#[derive(Clone)]
pub struct TraceOptions<'k> {
    pub filter: Filter,
    pub latency: Latency,
    /// Also count each call for the process or thread that made it.
    pub by: Option<By>,
    /// The workload runs under a seccomp profile: count the calls it denies.
    pub count_denied: bool,
    /// Benchmarks: attach programs that return at once, to measure the floor cost.
    pub noop: bool,
    /// Resolve each call's object and command (see `syscalls::operations`), naming
    /// slots with this syscall table.
    pub objects: Option<&'k Knowledge>,
    /// `wl-user serve`: count per (cgroup, syscall) within these bounds, instead of per
    /// syscall.
    pub per_cgroup: Option<CgroupLimits>,
    /// Which calls count (`--syscall`, `--failed`, `--errno`).
    pub only: Only,
    /// Also count the traced tasks' signals and context switches.
    pub events: bool,
    /// `--profile`: sample the traced tasks' kernel stacks this many times a second.
    pub profile: Option<u64>,
}

/// The bounds of the per-cgroup maps (`wl-user serve`): they decide its kernel memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgroupLimits {
    /// Cgroups counted at once.
    pub cgroups: u32,
    /// (cgroup, syscall) pairs.
    pub series: u32,
    /// (cgroup, syscall, errno) triples.
    pub errno_series: u32,
}

impl CgroupLimits {
    /// Kernel memory of the per-cgroup maps, in bytes, from the kernel's own layout of a
    /// preallocated hash map ([`hash_bytes`]). The array of "others" is one value per
    /// syscall slot.
    pub fn kernel_bytes(&self, cpus: u64) -> u64 {
        use std::mem::size_of;
        hash_bytes(self.cgroups, 8, size_of::<CgroupEntry>(), cpus)
            + hash_bytes(
                self.series,
                size_of::<CgroupSyscallKey>(),
                size_of::<CgroupSyscallCounts>(),
                cpus,
            )
            + hash_bytes(self.errno_series, size_of::<CgroupErrnoKey>(), 8, cpus)
            + u64::from(STATS_ENTRIES) * size_of::<CgroupSyscallCounts>() as u64
            // The per-CPU cache of the last pairs.
            + u64::from(CGROUP_LAST_ENTRIES) * size_of::<CgroupLast>() as u64 * cpus
    }

    /// What the per-cgroup event and io_uring maps add with events, in bytes.
    pub fn event_bytes(cpus: u64) -> u64 {
        use std::mem::size_of;
        let entries = OWNER_EVENT_ENTRIES;
        hash_bytes(entries, size_of::<OwnerEventKey>(), 8, cpus)
            + hash_bytes(entries, size_of::<OwnerIoUringKey>(), 8, cpus)
    }
}

/// A preallocated hash map of `entries` in kernel memory (kernel/bpf/hashtab.c): per
/// entry a 48-byte `htab_elem` header, the key and the value rounded up to 8 bytes; one
/// spare entry per possible CPU; a 16-byte bucket per entry rounded up to a power of two.
fn hash_bytes(entries: u32, key: usize, value: usize, cpus: u64) -> u64 {
    let elem = 48 + key.next_multiple_of(8) + value.next_multiple_of(8);
    (u64::from(entries) + cpus) * elem as u64 + u64::from(entries.next_power_of_two()) * 16
}

/// What the per-cgroup maps hold (`wl-user serve`).
#[derive(Debug, Clone, Default)]
pub struct CgroupSnapshot {
    /// The counted cgroups, by id: `Some(path)` once removed (the path the kernel
    /// gave; empty if it could not be read), `None` while it exists.
    pub cgroups: BTreeMap<u64, Option<String>>,
    /// Per (cgroup, syscall); cgroup id 0 holds what did not fit.
    pub counts: Vec<(CgroupSyscallKey, CgroupSyscallCounts)>,
    pub errnos: Vec<(CgroupErrnoKey, u64)>,
    /// With events: per (cgroup, kind, detail).
    pub events: Vec<(OwnerEventKey, u64)>,
    /// With events: io_uring completions per (cgroup, opcode, object).
    pub io_uring: Vec<(OwnerIoUringKey, u64)>,
    pub lost: BTreeMap<&'static str, u64>,
    /// Cgroups one of whose pairs left a CPU's cache while the map was read: their
    /// counts in this reading may miss it, so they are not final.
    pub unsettled: std::collections::BTreeSet<u64>,
}

/// Everything gathered for one syscall of one ABI, summed over CPUs.
#[derive(Debug, Clone)]
pub struct SyscallCounts {
    pub abi: Abi,
    pub nr: u32,
    pub counts: Counts,
    /// Calls whose duration was measured (all but exit/exit_group).
    pub timed: u64,
    pub min_ns: u64,
    pub max_ns: u64,
    pub latency_log2: [u64; LATENCY_BUCKETS],
    /// errno → failures.
    pub errnos: BTreeMap<u32, u64>,
}

/// What the kernel side has gathered so far.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// How calls were timed (latency fields are zero when they were not).
    pub latency: Latency,
    /// Only syscalls with at least one call, in (ABI, number) order.
    pub syscalls: Vec<SyscallCounts>,
    pub lost: BTreeMap<&'static str, u64>,
    /// Calls a seccomp profile denied, as (ABI, number, calls), when counted.
    pub denied: Vec<(Abi, u32, u64)>,
    /// With `--by`.
    pub tasks: Option<TaskSnapshot>,
    /// With object resolution: calls per (syscall, object, command); a key of kind
    /// `object::OTHERS` holds a syscall's calls that did not fit in the kernel's map.
    pub objects: Option<Vec<(ObjectKey, Counts)>>,
    /// Which calls were counted, when not all were.
    pub only: Option<Only>,
    /// With events: per slot of `wl_common::event`, those that happened.
    pub events: Option<Vec<(u32, Counts)>>,
    /// With events: the bios submitted, per (device, operation).
    pub block: Option<Vec<(BlockKey, BlockCounts)>>,
    /// With events, where the kernel let them be counted: the page faults handled, per
    /// outcome and memory (the total, failed ones too, is the `PAGE_FAULTS` event slot).
    pub faults: Option<Vec<(FaultKey, u64)>>,
    /// With events, where the kernel has io_uring: its operations.
    pub io_uring: Option<IoUringSnapshot>,
    /// With `--profile`: the kernel stacks sampled.
    pub profile: Option<profile::ProfileSnapshot>,
}

/// io_uring operations of traced tasks, by opcode.
#[derive(Debug, Clone, Default)]
pub struct IoUringSnapshot {
    /// Requests submitted.
    pub submitted: BTreeMap<u32, u64>,
    /// Completions per (opcode, object): the opcode is the key's `slot`; a key of kind
    /// `object::OTHERS` holds an opcode's completions that did not fit in the map.
    pub completed: Vec<(ObjectKey, Counts)>,
    /// Completions per log2 bucket of the time since submission.
    pub latency: BTreeMap<u32, [u64; LATENCY_BUCKETS]>,
    /// Failures per errno.
    pub errnos: BTreeMap<u32, BTreeMap<u32, u64>>,
}

pub struct Collector {
    ebpf: Ebpf,
    latency: Latency,
    count_denied: bool,
    by: Option<By>,
    objects: bool,
    only: Option<Only>,
    events: bool,
    /// Whether the page-fault programs are attached.
    faults: bool,
    /// Whether the io_uring programs are attached.
    io_uring: bool,
    /// The pid-tree filter's bitmap, mapped.
    traced_bits: Option<traced_bits::TracedBits>,
    /// With `--profile`: the sampling and the stacks read so far.
    profile: Option<profile::Sampling>,
}

/// `wl-user serve`'s extra program, attached only in that mode.
const CGROUP_RMDIR: (&str, &str) = (names::PROG_CGROUP_RMDIR, "cgroup_rmdir");

/// Fails early, in one line, when this process cannot load BPF tracing programs.
pub fn check_privileges() -> Result<()> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    // CapEff bits: CAP_SYS_ADMIN 21, CAP_PERFMON 38, CAP_BPF 39.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    let has = |bit: u32| eff & (1 << bit) != 0;
    if has(21) || (has(38) && has(39)) {
        return Ok(());
    }
    bail!(
        "tracing syscalls needs root, or the CAP_BPF and CAP_PERFMON capabilities: run wl-user with sudo"
    )
}

/// The tracepoints the programs attach to, by program name.
pub const TRACEPOINTS: [(&str, &str); 4] = [
    (names::PROG_SYS_ENTER, "sys_enter"),
    (names::PROG_SYS_EXIT, "sys_exit"),
    (names::PROG_FORK, "sched_process_fork"),
    (names::PROG_EXIT, "sched_process_exit"),
];

/// The tracepoints of the events, attached with `events`, by their names in kernel
/// releases, newest first, with what is missed without each.
pub const EVENT_TRACEPOINTS: [(&str, &[&str], &str); 6] = [
    (
        names::PROG_SIGNAL_GENERATE,
        &["signal_generate"],
        "signals are not counted",
    ),
    (
        names::PROG_SCHED_SWITCH,
        &["sched_switch"],
        "context switches are not counted",
    ),
    (
        names::PROG_BLOCK_BIO_QUEUE,
        &["block_bio_queue"],
        "block I/O is not counted",
    ),
    // Named io_uring_submit_sqe until Linux 6.3; the request is the first argument
    // of both.
    (
        names::PROG_IO_URING_SUBMIT,
        &["io_uring_submit_req", "io_uring_submit_sqe"],
        "io_uring operations are not counted",
    ),
    (
        names::PROG_IO_URING_COMPLETE,
        &["io_uring_complete"],
        "io_uring operations are not counted",
    ),
    (
        names::PROG_IO_URING_CREATE,
        &["io_uring_create"],
        "a ring set up at the address of one that is gone may count as the old one did",
    ),
];

/// The event programs to load on this kernel, and a line for each one it cannot have.
fn event_jobs(offsets: &KernelOffsets) -> Vec<load::Job<'static>> {
    let mut jobs = Vec::new();
    for &(prog, tracepoints, what) in &EVENT_TRACEPOINTS {
        let refused = if prog == names::PROG_BLOCK_BIO_QUEUE && offsets.bio_bdev == 0 {
            Some("this kernel's struct bio has no bi_bdev")
        } else if prog == names::PROG_IO_URING_SUBMIT && offsets.req_opcode == 0 {
            Some("this kernel has no io_uring")
        } else if (prog == names::PROG_IO_URING_COMPLETE || prog == names::PROG_IO_URING_CREATE)
            && offsets.req_opcode == 0
        {
            // Said once, for the submission program.
            continue;
        } else {
            None
        };
        match refused {
            Some(why) => eprintln!("wl: {what}: {why}"),
            None => jobs.push(load::Job {
                prog,
                kind: load::Kind::Tracepoint(tracepoints),
            }),
        }
    }
    jobs
}

/// The event programs that loaded, as (program, tracepoint); says once of each other
/// what is not counted and why.
fn loaded_events(loaded: &mut load::Loaded) -> Vec<(&'static str, &'static str)> {
    let mut events = Vec::new();
    for &(prog, _, what) in &EVENT_TRACEPOINTS {
        match loaded.remove(prog) {
            Some(Ok(Some(tracepoint))) => events.push((prog, tracepoint)),
            Some(Err(e)) => eprintln!("wl: {what}: {e:#}"),
            Some(Ok(None)) | None => {}
        }
    }
    events
}

/// The page-fault programs, each on a software event of the kernel's fault counters.
pub const FAULT_PROGRAMS: [(&str, SoftwareEvent); 3] = [
    (names::PROG_PAGE_FAULT, SoftwareEvent::PageFaults),
    (names::PROG_PAGE_FAULT_MINOR, SoftwareEvent::PageFaultsMin),
    (names::PROG_PAGE_FAULT_MAJOR, SoftwareEvent::PageFaultsMaj),
];

/// Attaches the page-fault programs, loaded with the others, each to its event on every
/// online CPU, sampling every fault (a period of 1 is never throttled); false, after
/// saying why, when the kernel refused one (then none counts: a total without its
/// parts, or parts without their total, would mislead).
fn attach_faults(ebpf: &mut Ebpf, loaded: &mut load::Loaded) -> bool {
    let cpus = match online_cpus() {
        Ok(cpus) => cpus,
        Err((path, e)) => {
            eprintln!("wl: page faults are not counted: cannot read {path}: {e}");
            return false;
        }
    };
    for (prog, software) in FAULT_PROGRAMS {
        let attached = ebpf
            .program_mut(prog)
            .with_context(|| format!("the eBPF object has no program {prog}"))
            .and_then(|p| {
                loaded.remove(prog).unwrap_or(Ok(None))?;
                let p: &mut PerfEvent = p.try_into()?;
                for &cpu in &cpus {
                    p.attach(
                        PerfEventConfig::Software(software),
                        PerfEventScope::AllProcessesOneCpu { cpu },
                        SamplePolicy::Period(1),
                        false,
                    )
                    .with_context(|| format!("cannot open the {software:?} event of CPU {cpu}"))?;
                }
                Ok(())
            });
        if let Err(e) = attached {
            eprintln!("wl: page faults are not counted: {e:#}");
            for (prog, _) in FAULT_PROGRAMS {
                if let Some(p) = ebpf.program_mut(prog) {
                    let p: Result<&mut PerfEvent, _> = p.try_into();
                    if let Ok(p) = p {
                        let _ = p.unload();
                    }
                }
            }
            return false;
        }
    }
    true
}

/// A one-line error for a program the verifier refused: the verifier's own reason (the
/// last line of its log that is not a statistic), and the whole log with WL_VERBOSE=1.
fn rejected(prog: &str, e: &aya::programs::ProgramError) -> anyhow::Error {
    let full = e.to_string();
    if std::env::var_os("WL_VERBOSE").is_some() {
        return anyhow::anyhow!("the kernel rejected the {prog} program: {full}");
    }
    let reason = verifier_reason(&full);
    anyhow::anyhow!(
        "the kernel rejected the {prog} program ({reason}); wl needs Linux 5.11 or newer with BTF; \
         `wl-user check` says what this kernel lacks, WL_VERBOSE=1 prints the verifier's log"
    )
}

/// The verifier's reason in its log: the last line that is not a statistic.
fn verifier_reason(log: &str) -> &str {
    log.lines()
        .map(str::trim)
        .rfind(|l| {
            !l.is_empty()
                && !l.starts_with(':')
                && !["verification time", "stack depth", "processed "]
                    .iter()
                    .any(|p| l.starts_with(p))
        })
        .unwrap_or("no reason given")
}

fn map<'a, T: TryFrom<&'a aya::maps::Map>>(ebpf: &'a Ebpf, name: &str) -> Result<T>
where
    T::Error: std::error::Error + Send + Sync + 'static,
{
    let m = ebpf
        .map(name)
        .with_context(|| format!("the eBPF object has no map {name}"))?;
    T::try_from(m).with_context(|| format!("map {name} has an unexpected type"))
}

/// A bit set of the kernel side's settings with the bits of `set` on (each below its
/// size: the callers resolved them from tables of that size).
fn bits<const W: usize>(set: impl Iterator<Item = u32>) -> [u64; W] {
    let mut words = [0u64; W];
    for i in set {
        let fits = wl_common::set_bit(&mut words, i);
        debug_assert!(fits, "{i} is past the bit set");
    }
    words
}

impl Collector {
    /// Loads the programs with `options` and attaches them; counting starts on return.
    pub fn start(options: TraceOptions) -> Result<Collector> {
        let TraceOptions {
            filter,
            latency,
            count_denied,
            by,
            noop,
            objects,
            per_cgroup,
            only,
            events,
            profile,
        } = options;
        check_privileges()?;
        if let Some(hz) = profile {
            profile::check_rate(hz)?;
        }
        // The stack map is made (one entry) whether or not stacks are sampled.
        profile::check_stack_depth()?;
        let kernel_types = btf::Btf::from_sys_fs()?;
        let offsets = kernel_offsets(&kernel_types)?;
        let specs = objects.map(|k| object_specs(&kernel_types, k));
        // Only `serve` reads it: a kernel without the field fails only there.
        let cgroup_root_offset = match per_cgroup {
            Some(_) => kernel_types.field_offset("cgroup", "root")?,
            None => 0u32,
        };
        drop(kernel_types);
        if count_denied && (offsets.task_seccomp_mode == 0 || latency == Latency::Off) {
            bail!(
                "counting what a seccomp profile denies needs a kernel with seccomp and calls \
                 traced with latency (not --no-latency)"
            );
        }
        // Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; newer ones ignore it.
        let _ = nix::sys::resource::setrlimit(
            nix::sys::resource::Resource::RLIMIT_MEMLOCK,
            nix::sys::resource::RLIM_INFINITY,
            nix::sys::resource::RLIM_INFINITY,
        );
        let (filter_mode, filter_cgroup_id, filter_cgroup_level, follow_children) = match filter {
            Filter::Cgroup { id, level } => (filter::CGROUP, id, level, 0u32),
            Filter::Pids { follow_children } => (filter::PIDS, 0, 0, u32::from(follow_children)),
        };
        let settings = Settings {
            filter_cgroup_id,
            filter_mode,
            filter_cgroup_level,
            // wl-user's own calls are never part of a report, even where its cgroup is
            // traced.
            excluded_tgid: std::process::id(),
            follow_children,
            noop: u32::from(noop),
            timed: u32::from(latency != Latency::Off),
            latency_sample: latency.one_in().max(1),
            count_denied: u32::from(count_denied),
            by: by_setting(by),
            objects: u32::from(objects.is_some()),
            per_cgroup: u32::from(per_cgroup.is_some()),
            cgroup_root_offset,
            only_syscalls: u32::from(!only.slots.is_empty()),
            only_failed: u32::from(only.failed),
            only_errnos: u32::from(!only.errno_numbers.is_empty()),
            events: u32::from(events),
            syscalls: bits(
                only.slots
                    .iter()
                    .filter_map(|&(abi, nr)| syscall_slot(abi, nr)),
            ),
            errnos: bits(only.errno_numbers.iter().copied()),
        };
        // The per-task maps take ~10 MiB; only `--by` pays for them.
        let task_entries = if by.is_some() { TASK_ENTRIES } else { 1 };
        let task_event_entries = if by.is_some() && events {
            OWNER_EVENT_ENTRIES
        } else {
            1
        };
        let object_entries = if objects.is_some() { OBJECT_ENTRIES } else { 1 };
        // The stack map takes ~16 MiB; only `--profile` pays for it.
        let profile_entries = if profile.is_some() {
            PROFILE_STACK_ENTRIES
        } else {
            1
        };
        // The traced-pid map is only used to follow a process tree: a cgroup trace does
        // not pay for its 65536 preallocated entries.
        let (tgid_entries, bit_words) = match filter {
            Filter::Cgroup { .. } => (1, 1),
            Filter::Pids { .. } => (TRACED_TGIDS_ENTRIES, traced_bits::words()),
        };
        // EbpfLoader::new() parses the kernel's BTF for CO-RE relocations, which wl's
        // programs do not use (they get field offsets as settings); it is dropped here,
        // before the one parse the tracepoint programs need, so that two ~15 MB parses
        // are never alive at once.
        let mut loader = EbpfLoader::new();
        loader.btf(None);
        let mut programs = TRACEPOINTS.to_vec();
        if let Some(limits) = per_cgroup {
            let event_entries = if events { OWNER_EVENT_ENTRIES } else { 1 };
            // The per-syscall maps are not used in this mode: one entry each.
            for (name, entries) in [
                (names::STATS_MAP, 1),
                (names::LATENCY_MAP, 1),
                (names::ERRNO_MAP, 1),
                (names::DENIED_MAP, 1),
                (names::CGROUP_MAP, limits.cgroups),
                (names::CGROUP_STATS_MAP, limits.series),
                (names::CGROUP_ERRNO_MAP, limits.errno_series),
                (names::CGROUP_OTHERS_MAP, STATS_ENTRIES),
                (names::CGROUP_EVENTS_MAP, event_entries),
                (names::CGROUP_IO_URING_MAP, event_entries),
                // The events are counted per cgroup instead.
                (names::BLOCK_MAP, 1),
                (names::FAULT_MAP, 1),
                (names::IO_URING_STATS_MAP, 1),
                (names::IO_URING_ERRNO_MAP, 1),
            ] {
                loader.map_max_entries(name, entries);
            }
            programs.push(CGROUP_RMDIR);
        }

        let vmlinux = Btf::from_sys_fs().context("cannot read the kernel's BTF")?;
        let mut ebpf = loader
            .map_max_entries(names::TRACED_TGIDS, tgid_entries)
            .map_max_entries(names::TRACED_BITS, bit_words)
            .map_max_entries(names::TASK_MAP, task_entries)
            .map_max_entries(names::TASK_EXIT_MAP, task_entries)
            .map_max_entries(names::TASK_EVENTS_MAP, task_event_entries)
            .map_max_entries(names::TASK_IO_URING_MAP, task_event_entries)
            .map_max_entries(names::OBJECT_MAP, object_entries)
            .map_max_entries(names::PROFILE_STACK_MAP, profile_entries)
            .map_max_entries(names::PROFILE_SAMPLE_MAP, profile_entries)
            // aya has no user-space type for task storage; only the kernel side uses it.
            .allow_unsupported_maps()
            .override_global(names::SETTINGS, &settings, true)
            .override_global(names::OFFSETS, &offsets, true)
            .load(EBPF_OBJECT)
            .context("cannot load wl's eBPF object into the kernel")?;
        // Load every program before attaching any, so a verifier failure leaves nothing
        // half attached; the heaviest first (see `load`).
        let mut jobs: Vec<load::Job> = programs
            .iter()
            .map(|(prog, tracepoint)| load::Job {
                prog,
                kind: load::Kind::Tracepoint(std::slice::from_ref(tracepoint)),
            })
            .collect();
        if events {
            jobs.extend(FAULT_PROGRAMS.iter().map(|&(prog, _)| load::Job {
                prog,
                kind: load::Kind::PerfEvent,
            }));
            jobs.extend(event_jobs(&offsets));
        }
        if profile.is_some() {
            jobs.push(load::Job {
                prog: names::PROG_PROFILE,
                kind: load::Kind::PerfEvent,
            });
        }
        let mut loaded = load::all(&mut ebpf, &vmlinux, &jobs);
        for prog in programs
            .iter()
            .map(|&(prog, _)| prog)
            .chain(profile.map(|_| names::PROG_PROFILE))
        {
            if let Some(Err(e)) = loaded.remove(prog) {
                return Err(e);
            }
        }
        // The events are extra: a kernel whose tracepoints differ (sched_switch has its
        // prev_state argument since Linux 5.18) traces syscalls all the same, and says
        // what it does not count.
        let mut io_uring = false;
        if events {
            let loaded = loaded_events(&mut loaded);
            io_uring = [names::PROG_IO_URING_SUBMIT, names::PROG_IO_URING_COMPLETE]
                .iter()
                .all(|p| loaded.iter().any(|(l, _)| l == p));
            programs.extend(loaded);
        }
        if let Some(specs) = specs {
            let m = ebpf
                .map_mut(names::OBJECT_SPEC_MAP)
                .context("the eBPF object has no object-spec map")?;
            let mut m: Array<_, ObjectSpec> = Array::try_from(m)?;
            for (slot, spec) in specs {
                m.set(slot, spec, 0)
                    .context("cannot fill the object-spec map")?;
            }
        }
        // Process tracking first, so no fork is missed once syscalls are counted.
        for (prog, tracepoint) in programs.iter().rev() {
            let p: &mut BtfTracePoint = ebpf.program_mut(prog).expect("loaded above").try_into()?;
            p.attach()
                .with_context(|| format!("cannot attach to the {tracepoint} tracepoint"))?;
        }
        let faults = events && attach_faults(&mut ebpf, &mut loaded);
        // Asked for by name: a profile the kernel cannot take fails the command.
        let profile = match profile {
            Some(hz) => Some(profile::Sampling::new(hz, profile::attach(&mut ebpf, hz)?)),
            None => None,
        };
        // The kernel's BTF, parsed twice above (once by aya's loader, unasked), is about
        // 25 MB of heap that the allocator would otherwise keep for the whole trace.
        drop(vmlinux);
        // SAFETY: malloc_trim only returns free heap memory to the kernel.
        unsafe { libc::malloc_trim(0) };
        let traced_bits = match filter {
            Filter::Cgroup { .. } => None,
            Filter::Pids { .. } => Some(traced_bits::TracedBits::map(&ebpf, bit_words)?),
        };
        Ok(Collector {
            ebpf,
            latency,
            count_denied,
            by,
            objects: objects.is_some(),
            only: only.filters().then_some(only),
            events,
            faults,
            io_uring,
            traced_bits,
            profile,
        })
    }

    /// The clock `--profile` samples on.
    pub fn profile_clock(&self) -> Option<profile::Clock> {
        self.profile.as_ref().map(|p| p.clock)
    }

    /// Stops counting, then takes the last reading: with no program running, nothing
    /// a CPU's cache holds can move to a map while the maps are read (a reading taken
    /// while they run may miss such a count for one reading), so the last is exact.
    pub fn finish(mut self) -> Result<Snapshot> {
        for (_, program) in self.ebpf.programs_mut() {
            // Unloading detaches the program's links first; one never loaded has none.
            let _ = match program {
                aya::programs::Program::BtfTracePoint(p) => p.unload(),
                aya::programs::Program::PerfEvent(p) => p.unload(),
                _ => Ok(()),
            };
        }
        self.snapshot()
    }

    fn traced_tgids(&mut self) -> Result<HashMap<&mut MapData, u32, u32>> {
        let m = self
            .ebpf
            .map_mut(names::TRACED_TGIDS)
            .context("no traced-pid map")?;
        Ok(HashMap::try_from(m)?)
    }

    /// Adds a process to the traced set (pid-tree filter): to the hash, then its bit.
    /// One the kernel side added first (a child of a traced process) has its bit set by
    /// the kernel side: a bit has one setter, which its atomic add needs.
    pub fn trace_tgid(&mut self, tgid: u32) -> Result<()> {
        // BPF_NOEXIST (include/uapi/linux/bpf.h): only a key not there yet.
        const NOEXIST: u64 = 1;
        let added = self.traced_tgids()?.insert(tgid, 0, NOEXIST);
        match added {
            Ok(()) => {
                if let Some(bits) = &self.traced_bits {
                    bits.set(tgid);
                }
                Ok(())
            }
            Err(aya::maps::MapError::SyscallError(e))
                if e.io_error.raw_os_error() == Some(libc::EEXIST) =>
            {
                Ok(())
            }
            Err(e) => Err(e).with_context(|| format!("cannot add pid {tgid} to the traced set")),
        }
    }

    /// The processes in the traced set (pid-tree filter); the kernel side removes each
    /// when its last thread exits.
    pub fn traced(&mut self) -> Result<Vec<u32>> {
        let m = self.traced_tgids()?;
        Ok(m.keys().filter_map(Result::ok).collect())
    }

    /// Marks `pid` as the workload's first process before its `execve`: its calls until
    /// then (loading its seccomp filter) are wl-user's, not the workload's.
    pub fn set_pending_exec(&mut self, pid: u32) -> Result<()> {
        let m = self
            .ebpf
            .map_mut(names::PENDING_EXEC_MAP)
            .context("no pending-exec map")?;
        Array::<_, u32>::try_from(m)?
            .set(0, pid, 0)
            .context("cannot mark the workload before its exec")
    }

    /// Forgets a process that is gone, should its exit have been missed.
    pub fn untrace_tgid(&mut self, tgid: u32) -> Result<()> {
        let mut m = self.traced_tgids()?;
        let _ = m.remove(&tgid);
        Ok(())
    }

    /// Deletes the keys of cgroups `ids` from the per-cgroup map `name`: keys first,
    /// then deletions, since deleting while iterating a hash map restarts it.
    fn forget_in<K: aya::Pod, V: aya::Pod>(
        &mut self,
        name: &str,
        ids: &std::collections::BTreeSet<u64>,
        cgroup_of: fn(&K) -> u64,
    ) -> Result<()> {
        let keys: Vec<K> = {
            let m: HashMap<&MapData, K, V> = map(&self.ebpf, name)?;
            m.keys()
                .filter_map(Result::ok)
                .filter(|k| ids.contains(&cgroup_of(k)))
                .collect()
        };
        let mut m: HashMap<&mut MapData, K, V> =
            HashMap::try_from(self.ebpf.map_mut(name).context("no map")?)?;
        for k in &keys {
            let _ = m.remove(k);
        }
        Ok(())
    }

    /// Drops removed cgroups from the per-cgroup maps, making room for new ones.
    pub fn forget_cgroups(&mut self, ids: &std::collections::BTreeSet<u64>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        self.forget_in::<CgroupSyscallKey, CgroupSyscallCounts>(
            names::CGROUP_STATS_MAP,
            ids,
            |k| k.cgroup_id,
        )?;
        self.forget_in::<CgroupErrnoKey, u64>(names::CGROUP_ERRNO_MAP, ids, |k| k.cgroup_id)?;
        self.forget_in::<OwnerEventKey, u64>(names::CGROUP_EVENTS_MAP, ids, |k| k.owner)?;
        self.forget_in::<OwnerIoUringKey, u64>(names::CGROUP_IO_URING_MAP, ids, |k| k.owner)?;
        let mut cgroups: HashMap<&mut MapData, u64, CgroupEntry> =
            HashMap::try_from(self.ebpf.map_mut(names::CGROUP_MAP).context("no map")?)?;
        for id in ids {
            let _ = cgroups.remove(id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_reason_is_the_last_meaningful_line() {
        let log = "the BPF_PROG_LOAD syscall returned Invalid argument (os error 22). Verifier output: 0: R1=ctx() R10=fp0
41: (0f) r5 += r4                     ; R4=2232 R5=rcu_ptr_cgroup(off=2232)
42: (79) r3 = *(u64 *)(r5 +0)
struct cgroup doesn't have field at offset 2232
verification time 1136 usec
stack depth 0
processed 39 insns (limit 1000000) max_states_per_insn 0 total_states 2 peak_states 2 mark_read 0
: Invalid argument (os error 22)";
        assert_eq!(
            verifier_reason(log),
            "struct cgroup doesn't have field at offset 2232"
        );
        assert_eq!(verifier_reason(""), "no reason given");
    }
}
