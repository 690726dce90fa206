//! From the source file that implements a syscall to a coarse kernel subsystem.
//!
//! The names follow the kernel's workload-tracing guide where it has one (Filesystem,
//! Memory Mgmt., Process Mgmt., Scheduler, Futex, Signal, Time, Network, Capability, IPC)
//! and extend it where the source tree draws a clear line (Security, BPF, io_uring, Perf
//! events, ...). The rules are ordered: the first whose path prefix matches wins, so a
//! more specific directory comes before its parent. Architecture code is classified by
//! what it wraps (see [`subsystem_of`]).

/// Not implemented: the entry point is `sys_ni_syscall`.
pub const NOT_IMPLEMENTED: &str = "Not implemented";
/// A source the rules do not know.
pub const OTHER: &str = "Other";

/// (path prefix, subsystem), first match wins.
pub const PATH_RULES: &[(&str, &str)] = &[
    ("kernel/sys_ni.c", NOT_IMPLEMENTED),
    ("kernel/sched/", "Scheduler"),
    ("kernel/futex/", "Futex"),
    ("kernel/signal.c", "Signal"),
    ("kernel/time/", "Time"),
    ("kernel/bpf/", "BPF"),
    ("kernel/events/", "Perf events"),
    ("kernel/capability.c", "Capability"),
    ("kernel/seccomp.c", "Security"),
    ("kernel/module/", "Modules"),
    ("kernel/kexec", "Kexec"),
    ("kernel/printk/", "Printk"),
    ("kernel/reboot.c", "Power Mgmt."),
    ("kernel/power/", "Power Mgmt."),
    ("kernel/rseq.c", "Scheduler"),
    ("kernel/nsproxy.c", "Namespaces"),
    ("kernel/", "Process Mgmt."),
    ("io_uring/", "io_uring"),
    ("ipc/", "IPC"),
    ("net/", "Network"),
    ("security/", "Security"),
    ("mm/", "Memory Mgmt."),
    ("fs/", "Filesystem"),
    ("block/", "Block"),
    ("drivers/char/random.c", "Random"),
    ("drivers/", "Drivers"),
];

/// Architecture files whose subsystem follows from the file alone (the part after
/// `arch/<arch>/`).
pub const ARCH_RULES: &[(&str, &str)] = &[
    ("kernel/signal", "Signal"),
    ("kernel/vm86", "Process Mgmt."),
    ("kernel/ldt.c", "Process Mgmt."),
    ("kernel/tls.c", "Process Mgmt."),
    ("kernel/process", "Process Mgmt."),
    ("kernel/ioport.c", "I/O ports"),
    ("kernel/shstk.c", "Memory Mgmt."),
    ("kernel/sys_x86_64.c", "Memory Mgmt."),
    ("kernel/sys.c", "Memory Mgmt."),
    ("kernel/cpu/", "Process Mgmt."),
    ("kernel/uprobes.c", "Perf events"),
    ("mm/", "Memory Mgmt."),
    ("events/", "Perf events"),
];

/// Architecture wrappers with no generic syscall of the same name: (name part, subsystem).
pub const ARCH_NAME_RULES: &[(&str, &str)] = &[
    ("mmap", "Memory Mgmt."),
    ("clone", "Process Mgmt."),
    // arm's private calls: the thread pointer (as x86's set_thread_area), and cache
    // maintenance of a range of the caller's memory.
    ("set_tls", "Process Mgmt."),
    ("cacheflush", "Memory Mgmt."),
];

/// The subsystem of a path by the rules alone; `None` for architecture files that the
/// rules leave to the syscall's name.
pub fn subsystem_of_path(path: &str) -> Option<&'static str> {
    if let Some(rest) = path.strip_prefix("arch/") {
        let in_arch = rest.split_once('/').map_or("", |(_, r)| r);
        return ARCH_RULES
            .iter()
            .find(|(p, _)| in_arch.starts_with(p))
            .map(|&(_, s)| s);
    }
    Some(
        PATH_RULES
            .iter()
            .find(|(p, _)| path.starts_with(p))
            .map_or(OTHER, |&(_, s)| s),
    )
}

/// Code every subsystem calls into to do its work rather than work of its own: the
/// library (copy, clear, checksum, crypto routines), locking, the kernel's entry and
/// interrupt paths, and the kernel-wide headers' inline functions where the compiler
/// kept a copy out of line. A kernel-time sample taken there counts for the nearest
/// caller outside them (`clear_page_erms` for the page fault that zeroes the page,
/// `_copy_to_iter` for `pipe_read`).
pub const SHARED_HELPERS: &[&str] = &[
    "lib/",
    "arch/*/lib/",
    "kernel/locking/",
    "kernel/entry/",
    "arch/*/entry/",
    "include/",
    "arch/*/include/",
];

/// Whether `path` is in [`SHARED_HELPERS`] (`*` stands for one directory).
pub fn is_shared_helper(path: &str) -> bool {
    SHARED_HELPERS.iter().any(|pattern| {
        let mut rest = path;
        for part in pattern.split_inclusive('/') {
            rest = if part == "*/" {
                match rest.split_once('/') {
                    Some((_, r)) => r,
                    None => return false,
                }
            } else {
                match rest.strip_prefix(part) {
                    Some(r) => r,
                    None => return false,
                }
            };
        }
        true
    })
}

/// The subsystem of a syscall implemented in `path`. Architecture wrappers such as
/// x86's `ia32_pread64` (arm64's `aarch32_pread64`) take the subsystem of the generic syscall they wrap, which
/// `generic` finds by name (`pread64`); other architecture files follow [`ARCH_RULES`].
pub fn subsystem_of(
    path: &str,
    define_name: &str,
    generic: impl Fn(&str) -> Option<&'static str>,
) -> &'static str {
    if path.starts_with("arch/") {
        let base = ["ia32_", "x86_", "aarch32_", "arm64_", "compat_"]
            .iter()
            .fold(define_name, |n, p| n.strip_prefix(p).unwrap_or(n));
        if let Some(s) = generic(base).or_else(|| generic(base.trim_end_matches("64"))) {
            return s;
        }
        if let Some(s) = subsystem_of_path(path) {
            return s;
        }
        return ARCH_NAME_RULES
            .iter()
            .find(|(n, _)| base.contains(n))
            .map_or(OTHER, |&(_, s)| s);
    }
    subsystem_of_path(path).unwrap_or(OTHER)
}

/// Syscalls whose time is mostly spent waiting (for a child, a timer, a file descriptor
/// to become ready, a futex, a signal, a message, I/O to reach the disk) rather than
/// working: their wall time says how long the program waited, not what the kernel did.
pub const WAITING: &[&str] = &[
    "accept",
    "accept4",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "fdatasync",
    "fsync",
    "futex",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "msgrcv",
    "nanosleep",
    "pause",
    "poll",
    "ppoll",
    "ppoll_time64",
    "pselect6",
    "pselect6_time64",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "select",
    "_newselect",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "sigsuspend",
    "sync",
    "sync_file_range",
    "syncfs",
    "wait4",
    "waitid",
    "waitpid",
];

/// Whether calls of `name` mostly wait (see [`WAITING`]).
pub fn waits(name: &str) -> bool {
    WAITING.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_paths() {
        assert_eq!(subsystem_of_path("fs/open.c"), Some("Filesystem"));
        assert_eq!(subsystem_of_path("fs/eventpoll.c"), Some("Filesystem"));
        assert_eq!(subsystem_of_path("kernel/futex/syscalls.c"), Some("Futex"));
        assert_eq!(
            subsystem_of_path("kernel/sched/syscalls.c"),
            Some("Scheduler")
        );
        assert_eq!(subsystem_of_path("kernel/sys.c"), Some("Process Mgmt."));
        assert_eq!(subsystem_of_path("kernel/exit.c"), Some("Process Mgmt."));
        assert_eq!(subsystem_of_path("kernel/time/hrtimer.c"), Some("Time"));
        assert_eq!(subsystem_of_path("kernel/signal.c"), Some("Signal"));
        assert_eq!(subsystem_of_path("mm/mmap.c"), Some("Memory Mgmt."));
        assert_eq!(subsystem_of_path("net/socket.c"), Some("Network"));
        assert_eq!(subsystem_of_path("ipc/shm.c"), Some("IPC"));
        assert_eq!(subsystem_of_path("kernel/capability.c"), Some("Capability"));
        assert_eq!(subsystem_of_path("io_uring/register.c"), Some("io_uring"));
        assert_eq!(subsystem_of_path("kernel/bpf/syscall.c"), Some("BPF"));
        assert_eq!(
            subsystem_of_path("kernel/events/core.c"),
            Some("Perf events")
        );
        assert_eq!(
            subsystem_of_path("security/landlock/syscalls.c"),
            Some("Security")
        );
        assert_eq!(subsystem_of_path("kernel/sys_ni.c"), Some(NOT_IMPLEMENTED));
        assert_eq!(subsystem_of_path("lib/whatever.c"), Some(OTHER));
    }

    #[test]
    fn arch_files_follow_what_they_wrap() {
        let generic = |n: &str| match n {
            "pread64" => Some("Filesystem"),
            "mmap" => Some("Memory Mgmt."),
            _ => None,
        };
        assert_eq!(
            subsystem_of("arch/x86/kernel/sys_ia32.c", "ia32_pread64", generic),
            "Filesystem"
        );
        assert_eq!(
            subsystem_of("arch/arm64/kernel/sys32.c", "aarch32_pread64", generic),
            "Filesystem"
        );
        assert_eq!(
            subsystem_of("arch/x86/kernel/sys_ia32.c", "ia32_mmap", |_| None),
            "Memory Mgmt."
        );
        assert_eq!(
            subsystem_of("arch/x86/kernel/uprobes.c", "uretprobe", |_| None),
            "Perf events"
        );
        assert_eq!(
            subsystem_of("arch/x86/kernel/signal_64.c", "rt_sigreturn", generic),
            "Signal"
        );
        assert_eq!(
            subsystem_of("arch/x86/kernel/sys_x86_64.c", "mmap", |_| None),
            "Memory Mgmt."
        );
        assert_eq!(
            subsystem_of("arch/x86/kernel/process_64.c", "arch_prctl", generic),
            "Process Mgmt."
        );
        assert_eq!(
            subsystem_of("fs/read_write.c", "pread64", |_| Some("Time")),
            "Filesystem"
        );
    }

    #[test]
    fn waiting_calls_are_known_by_name() {
        assert!(waits("wait4") && waits("epoll_wait") && waits("futex"));
        assert!(!waits("getppid") && !waits("read"));
        let mut sorted = WAITING.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), WAITING.len(), "each name once");
    }

    #[test]
    fn shared_helpers_by_path() {
        for helper in [
            "lib/iov_iter.c",
            "arch/x86/lib/clear_page_64.S",
            "arch/arm64/lib/copy_to_user.S",
            "kernel/locking/spinlock.c",
            "arch/x86/entry/entry_64.S",
            "kernel/entry/common.c",
            "include/linux/mm.h",
            "arch/x86/include/asm/uaccess.h",
        ] {
            assert!(is_shared_helper(helper), "{helper}");
        }
        for worker in [
            "fs/pipe.c",
            "mm/memory.c",
            "arch/x86/mm/fault.c",
            "drivers/char/random.c",
            "library/x.c",
            "arch/lib",
        ] {
            assert!(!is_shared_helper(worker), "{worker}");
        }
        assert_eq!(
            subsystem_of_path("arch/x86/mm/fault.c"),
            Some("Memory Mgmt.")
        );
    }
}
