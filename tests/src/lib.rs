//! What the test workload (`wl-testload`) does, in numbers: the workload makes exactly
//! these syscalls and the integration tests expect exactly these counts.
//!
//! Every counted call is a raw `syscall(2)` of a number that neither the Rust runtime
//! nor glibc makes on its own, so the counts do not depend on library internals.

/// Exit status of the workload's main process.
pub const EXIT_STATUS: i32 = 3;

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
/// getpgrp calls by a child after it execs the workload again, per unit of scale.
pub const EXEC_GETPGRP: u64 = 250;
/// dup(-1): fails with EBADF.
pub const DUP_EBADF: u64 = 17;
/// rmdir of a path that does not exist: fails with ENOENT.
pub const RMDIR_ENOENT: u64 = 9;
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
