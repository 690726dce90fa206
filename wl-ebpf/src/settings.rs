//! Load-time settings: read-only data the loader fills in before loading
//! (`EbpfLoader::override_global`), so the verifier sees constants and drops the
//! branches that do not apply. What changes at run time is in [`crate::maps`].

use aya_ebpf::Global;

/// `filter::CGROUP` or `filter::PIDS`; 0 traces nothing.
#[unsafe(no_mangle)]
pub(crate) static FILTER_MODE: Global<u32> = Global::new(0);

/// cgroup v2 id of the traced cgroup, compared with the current task's ancestor at
/// `FILTER_CGROUP_LEVEL`, so tasks in its descendants are traced too.
#[unsafe(no_mangle)]
pub(crate) static FILTER_CGROUP_ID: Global<u64> = Global::new(0);

#[unsafe(no_mangle)]
pub(crate) static FILTER_CGROUP_LEVEL: Global<u32> = Global::new(0);

/// In `filter::CGROUP` mode: wl-user's own tgid, left out when it sits in the traced
/// cgroup (the root of the hierarchy, or the cgroup wl-user runs in).
#[unsafe(no_mangle)]
pub(crate) static EXCLUDED_TGID: Global<u32> = Global::new(0);

/// In `filter::PIDS` mode: 1 to add every new process a traced process forks.
#[unsafe(no_mangle)]
pub(crate) static FOLLOW_CHILDREN: Global<u32> = Global::new(1);

/// Benchmark switch: 1 makes every program return at once, to measure the floor cost of
/// having programs on the syscall tracepoints at all.
#[unsafe(no_mangle)]
pub(crate) static NOOP: Global<u32> = Global::new(0);

/// 1: time every call (task storage and two clock reads per call). 0: count calls at
/// entry and errors at exit, with no per-task state: the cheapest way to trace.
#[unsafe(no_mangle)]
pub(crate) static TIMED: Global<u32> = Global::new(1);

/// With `TIMED`: time one call in this many per task (1: every call); the others are
/// counted without clock reads. See `ALWAYS_TIMED_CALLS` for the rare ones.
#[unsafe(no_mangle)]
pub(crate) static LATENCY_SAMPLE: Global<u32> = Global::new(1);

/// 1 when the workload runs under a seccomp profile wl-user applied: count the calls the
/// profile denies. They never reach `sys_enter` (seccomp runs before the tracepoint,
/// kernel/entry/common.c); a denied call with an errno still passes `sys_exit`, and one
/// that kills leaves the task's seccomp mode at `SECCOMP_MODE_DEAD` when it exits.
#[unsafe(no_mangle)]
pub(crate) static COUNT_DENIED: Global<u32> = Global::new(0);

/// `by::PROCESS` or `by::THREAD`: also count each call for the thread that made it
/// (user space sums threads into processes).
#[unsafe(no_mangle)]
pub(crate) static BY: Global<u32> = Global::new(0);

/// 1: resolve what `OBJECT_SPECS` names for each traced call (its fd's object, its
/// command) and count calls per object in `OBJECT_STATS`.
#[unsafe(no_mangle)]
pub(crate) static OBJECTS: Global<u32> = Global::new(0);
