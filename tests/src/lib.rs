//! What the test workload (`wl-testload`) does, in numbers: the workload makes exactly
//! these syscalls and the integration tests expect exactly these counts.
//!
//! Every counted call is a raw `syscall(2)` of a number that neither the Rust runtime
//! nor glibc makes on its own, so the counts do not depend on library internals.

/// Exit status of the workload's main process.
pub const EXIT_STATUS: i32 = 3;

/// wl-user's exit status for its own failures (bad options, unreadable files, a kernel
/// that refuses to trace), apart from any status of the traced command.
pub const OWN_ERROR: i32 = 125;

/// getppid calls by the main thread, per unit of `--scale`.
pub const MAIN_GETPPID: u64 = 1000;
/// With `--spread SECS`, the main thread's getppid calls come in this many equal
/// batches, one every SECS / SPREAD_BATCHES seconds, for tracers that report while
/// tracing (`--interval`).
pub const SPREAD_BATCHES: u64 = 10;
/// Threads started by the main process.
pub const THREADS: u64 = 3;
/// getpgid(0) calls by each thread, per unit of scale.
pub const THREAD_GETPGID: u64 = 500;
/// getsid(0) calls by a forked child, per unit of scale.
pub const CHILD_GETSID: u64 = 300;
/// umask calls by a double-forked grandchild that calls setsid() and outlives its parent,
/// per unit of scale.
pub const ORPHAN_UMASK: u64 = 400;
/// How long the orphan sleeps before its calls, so that its parent is gone by then.
pub const ORPHAN_DELAY_MS: u64 = 100;
/// The workload's own ABI, as reports name it.
pub const NATIVE_ABI: &str = if cfg!(target_arch = "aarch64") {
    "aarch64"
} else {
    "x86_64"
};

/// getpgrp calls by a child after it execs the workload again, per unit of scale
/// ([`EXEC_CALL`]).
pub const EXEC_GETPGRP: u64 = 250;
/// The call the exec'd child repeats: getpgrp, where the ABI has one; arm64's generic
/// table has none (its libc calls getpgid(0)), so `times(NULL)` there.
pub const EXEC_CALL: &str = if cfg!(target_arch = "aarch64") {
    "times"
} else {
    "getpgrp"
};
/// dup(-1): fails with EBADF.
pub const DUP_EBADF: u64 = 17;
/// rmdir of a path that does not exist: fails with ENOENT ([`RMDIR_CALL`]).
pub const RMDIR_ENOENT: u64 = 9;
/// The syscall that rmdir is: arm64 has no rmdir, only `unlinkat(AT_REMOVEDIR)`.
pub const RMDIR_CALL: &str = if cfg!(target_arch = "aarch64") {
    "unlinkat"
} else {
    "rmdir"
};
/// chdir("/") succeeds this many times ...
pub const CHDIR_OK: u64 = 2;
/// ... and chdir of a missing directory fails with ENOENT this many times.
pub const CHDIR_ENOENT: u64 = 3;
/// x86_64 only: getppid through `int 0x80`, the i386 ABI (number 64 there).
pub const I386_GETPPID: u64 = 7;

/// With `--fork-storm N`, the main process forks N children one after the other, reaping
/// each before the next, and makes none of the calls above: each child makes exactly
/// these getppid calls ...
pub const STORM_CHILD_GETPPID: u64 = 2;
/// ... and these getuid calls, then `_exit(0)`. Two syscalls per child, so that a tracer
/// keeping one entry per (process, syscall) needs two per child. The main process then
/// exits with `EXIT_STATUS`.
pub const STORM_CHILD_GETUID: u64 = 3;

/// What `wl-objects` does, per object and command: each count is distinct, so a row of
/// the report can only match one of them. Every call goes to an object the program set
/// up for it; the dynamic loader's own reads (of ext4 files) use `read`/`pread64`,
/// which the ext4 and tmpfs writes here avoid (`pwrite64`).
pub mod objects {
    /// `write` of one byte into a pipe, then `read` of it back.
    pub const PIPE_WRITE: u64 = 101;
    pub const PIPE_READ: u64 = 103;
    /// `ioctl(FIONREAD)` on the pipe's read end.
    pub const PIPE_FIONREAD: u64 = 107;
    /// `fcntl(F_GETFL)` on the pipe's write end.
    pub const PIPE_F_GETFL: u64 = 109;
    /// `write` to /dev/null, `read` from /dev/zero.
    pub const NULL_WRITE: u64 = 113;
    pub const ZERO_READ: u64 = 127;
    /// `sendto` and `recvfrom` of one byte over an AF_UNIX stream socketpair.
    pub const UNIX_SENDTO: u64 = 131;
    pub const UNIX_RECVFROM: u64 = 137;
    /// `ioctl(SIOCGIFCONF)` on an AF_INET datagram socket.
    pub const INET_SIOCGIFCONF: u64 = 139;
    /// `ioctl(FIONBIO)` on the same socket: the VFS serves it, not the socket.
    pub const INET_FIONBIO: u64 = 191;
    /// `write` and `read` of an eventfd's 8-byte counter.
    pub const EVENTFD_WRITE: u64 = 149;
    pub const EVENTFD_READ: u64 = 151;
    /// `pwrite64` to a file on tmpfs (/dev/shm) and to one on the directory given
    /// (ext4 in the tests).
    pub const TMPFS_PWRITE: u64 = 157;
    pub const DIR_PWRITE: u64 = 163;
    /// `prctl(PR_SET_NAME)`, `prctl(PR_GET_NAME)`.
    pub const PR_SET_NAME: u64 = 167;
    pub const PR_GET_NAME: u64 = 173;
    /// `futex(FUTEX_WAKE | FUTEX_PRIVATE_FLAG)` on a word nobody waits on.
    pub const FUTEX_WAKE: u64 = 179;
    /// `read` on a file descriptor that is not open: EBADF, no object.
    pub const BADFD_READ: u64 = 181;
}

/// What `wl-testload --events` does instead of the calls above: signals to itself and
/// sleeps, each a known number of times, then it exits with `EXIT_STATUS`.
/// `wl-testload --faults FILE`: page faults of known memory, once released.
pub mod faults {
    /// Pages of private anonymous memory written: each a minor fault.
    pub const ANON_PAGES: u64 = 700;
    /// Pages of shared anonymous memory (shmem, `tmpfs`) written.
    pub const SHARED_PAGES: u64 = 300;
    /// Pages of a private mapping of FILE written: each a copy-on-write fault of the file.
    pub const COW_PAGES: u64 = 200;
    /// Pages of a private mapping of FILE written after they were dropped from the
    /// page cache, without readahead: each a major fault where the file system can
    /// drop them (not tmpfs).
    pub const DROPPED_PAGES: u64 = 64;
}

/// `wl-testload --io-uring FILE`: io_uring operations of known kinds and outcomes.
pub mod uring {
    /// NOPs on an ordinary ring, each submitted and waited for.
    pub const NOPS: u64 = 17;
    /// Writes of one page each to FILE, then reads of each back.
    pub const WRITES: u64 = 5;
    pub const READS: u64 = 5;
    /// Reads of an fd that is not open: each completes with EBADF.
    pub const BAD_READS: u64 = 3;
    /// NOPs on a ring whose submissions its SQPOLL kernel thread makes.
    pub const SQPOLL_NOPS: u64 = 7;
    /// `--io-uring-late`: NOPs on a ring set up before the tracing began.
    pub const LATE_NOPS: u64 = 11;
}

/// `wl-testload --phases SECS`: three phases of kernel work, each dominated by one
/// subsystem, each run until the process has used so many more seconds of CPU; then
/// the process prints its own CPU time (getrusage) to standard error as
/// `utime_us U stime_us S`. `wl-testload --getrandom SECS`: the getrandom phase alone
/// for SECS seconds of wall time (a busy process beside a trace).
pub mod phases {
    /// Faults: an anonymous mapping of this many bytes, each page written once (a
    /// fault that zeroes the page: Memory Mgmt.), then unmapped, again and again.
    pub const FAULT_BYTES: usize = 8 << 20;
    /// getrandom(2) of this many bytes at a time (drivers/char/random.c: Random).
    pub const RANDOM_BYTES: usize = 64 << 10;
    /// A pipe written and read back in this many bytes at a time (fs/pipe.c:
    /// Filesystem): two pages, which the pipe keeps for its next write instead of
    /// freeing them (more would be page allocator work, Memory Mgmt.).
    pub const PIPE_BYTES: usize = 8 << 10;
    /// The subsystems of the three phases, in the order they run, and each phase's
    /// CPU time in SECS. A phase's own subsystem does a different part of its work:
    /// nearly all of getrandom's, most of a fault's (the rest is the fault's entry and
    /// the user-space write), about half of a pipe round's (the rest is the two
    /// syscalls around the copies); the longer phases make up for it.
    pub const SUBSYSTEMS: [(&str, f64); 3] =
        [("Memory Mgmt.", 1.25), ("Random", 1.0), ("Filesystem", 2.0)];
}

pub mod events {
    /// SIGUSR1, with a handler installed: each is queued and delivered.
    pub const SIGUSR1_HANDLED: u64 = 23;
    /// SIGUSR2, ignored: the kernel drops each at once, none is queued.
    pub const SIGUSR2_IGNORED: u64 = 29;
    /// nanosleep of `SLEEP_MS`: each blocks the thread at least once.
    pub const SLEEPS: u64 = 31;
    pub const SLEEP_MS: u64 = 1;
}
