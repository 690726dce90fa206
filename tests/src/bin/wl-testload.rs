//! A workload whose syscalls are known: see the constants in `wl_tests`.
//!
//! Usage: wl-testload [--scale K] [--wait-stdin] [--spread SECS] [--pause SECS]
//!        wl-testload --fork-storm N
//!   --wait-stdin  block until a byte arrives on standard input before starting, so a
//!                 tracer can attach to a process that is already running.
//!   --spread SECS make the main thread's getppid calls in `SPREAD_BATCHES` batches
//!                 over SECS seconds (sleeping after each), so that they fall into
//!                 several of a tracer's intervals.
//!   --pause SECS  then sleep SECS before the rest: with a pause longer than a tracer's
//!                 interval, some interval ends after every getppid call and before
//!                 anything else.
//!   --events      instead of all the above, signal itself and sleep (`wl_tests::events`),
//!                 then print its own context switches (getrusage) to standard error.
//!   --faults FILE instead of all the above, map memory (and FILE, which it creates) and
//!                 lock its own pages, say `ready` and wait for a byte on standard
//!                 input, then fault known pages (`wl_tests::faults`), and print the
//!                 faults it took meanwhile (getrusage) to standard error.
//!   --io-uring FILE instead of all the above, make the io_uring operations of
//!                 `wl_tests::uring` (FILE is created and written and read).
//!   --io-uring-late  instead of all the above, set up a ring, say `ready` and wait for
//!                 a byte on standard input, then complete `uring::LATE_NOPS` NOPs on
//!                 it: a ring older than the tracing.
//!   --bench pages|uring-nop|uring-read N [FILE]
//!                 instead of all the above, a loop for `cargo xtask bench`: write N
//!                 pages of fresh anonymous memory (a fault each), or complete N io_uring
//!                 NOPs, or N 4 KiB io_uring reads of FILE (created, 128 KiB, cached), in
//!                 batches of `BENCH_BATCH`; then print the time per operation as perf
//!                 bench does (`usecs/op`).
//!   --phases SECS instead of all the above, three phases of kernel work of about
//!                 SECS seconds of CPU each (`wl_tests::phases`), then print its CPU time.
//!   --getrandom SECS  instead of all the above, getrandom for SECS seconds.
//!   --fork-storm N  instead of all the above, fork N short-lived children one at a time,
//!                 each making `STORM_CHILD_GETPPID` getppid and `STORM_CHILD_GETUID`
//!                 getuid calls: more processes than a tracer may keep apart.

use std::{
    os::unix::thread::JoinHandleExt as _,
    sync::atomic::{AtomicU64, Ordering},
    thread,
};

use wl_tests::*;

fn raw(nr: libc::c_long, arg: libc::c_long) -> libc::c_long {
    // SAFETY: only numbers and pointers to valid NUL-terminated strings are passed.
    unsafe { libc::syscall(nr, arg) }
}

fn repeat(n: u64, nr: libc::c_long, arg: libc::c_long) {
    for _ in 0..n {
        raw(nr, arg);
    }
}

/// The value of `--NAME SECS`, if given.
fn seconds(args: &[String], name: &str) -> Option<std::time::Duration> {
    let i = args.iter().position(|a| a == name)?;
    let secs: f64 = args
        .get(i + 1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{name} takes a number of seconds"));
    Some(std::time::Duration::from_secs_f64(secs))
}

/// Forks `n` children one at a time, each making the storm's calls, and exits.
extern "C" fn on_signal(_: libc::c_int) {}

fn events() -> ! {
    use wl_tests::events::*;
    // SAFETY: locking memory, installing a handler that does nothing, and ignoring
    // SIGUSR2, in a single-threaded process; kill and nanosleep take valid arguments.
    unsafe {
        // Every page of the program in memory now, so that nothing it does after its
        // getrusage waits for a page to be read (on a cold page cache, over 9p in the
        // test VMs, the exit path's own code would): what follows it is only the exit.
        libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE);
        libc::signal(libc::SIGUSR1, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGUSR2, libc::SIG_IGN);
        let me = libc::getpid();
        for _ in 0..SIGUSR1_HANDLED {
            libc::kill(me, libc::SIGUSR1);
        }
        for _ in 0..SIGUSR2_IGNORED {
            libc::kill(me, libc::SIGUSR2);
        }
        let nap = libc::timespec {
            tv_sec: 0,
            tv_nsec: (SLEEP_MS * 1_000_000) as libc::c_long,
        };
        for _ in 0..SLEEPS {
            libc::nanosleep(&nap, std::ptr::null_mut());
        }
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        eprintln!(
            "wl-testload: voluntary {} involuntary {}",
            usage.ru_nvcsw, usage.ru_nivcsw
        );
    }
    std::process::exit(EXIT_STATUS);
}

/// A fresh mapping of `pages` pages.
///
/// # Safety
/// `fd` is -1 for anonymous memory or an open file of at least `pages` pages.
unsafe fn map(pages: u64, flags: libc::c_int, fd: libc::c_int, offset: u64) -> *mut u8 {
    // SAFETY: as the caller says; a failed mmap panics.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            (pages * PAGE) as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            fd,
            offset as libc::off_t,
        )
    };
    assert_ne!(
        p,
        libc::MAP_FAILED,
        "mmap: {}",
        std::io::Error::last_os_error()
    );
    p.cast()
}

const PAGE: u64 = 4096;

fn faults(path: &str) -> ! {
    use std::{io::Write as _, os::fd::AsRawFd as _};
    use wl_tests::faults::*;
    let mut file = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .expect("cannot create the --faults file");
    file.write_all(&vec![7u8; ((COW_PAGES + DROPPED_PAGES) * PAGE) as usize])
        .and_then(|()| file.sync_all())
        .expect("cannot write the --faults file");
    let fd = file.as_raw_fd();
    // SAFETY: mappings of fresh memory and of the file just written, its length; the
    // advice calls take their own ranges; the process is single-threaded.
    let (anon, shared, cow, dropped) = unsafe {
        // Everything this program has mapped so far in memory now and kept there, so
        // that from the release on the only faults are those of the pages below.
        assert_eq!(libc::mlockall(libc::MCL_CURRENT), 0, "mlockall");
        let anon = map(ANON_PAGES, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
        // One fault per page, not one per transparent huge page.
        libc::madvise(
            anon.cast(),
            (ANON_PAGES * PAGE) as usize,
            libc::MADV_NOHUGEPAGE,
        );
        let shared = map(SHARED_PAGES, libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1, 0);
        let cow = map(COW_PAGES, libc::MAP_PRIVATE, fd, 0);
        let dropped = map(DROPPED_PAGES, libc::MAP_PRIVATE, fd, COW_PAGES * PAGE);
        // No readahead: each page read on its own.
        libc::madvise(
            dropped.cast(),
            (DROPPED_PAGES * PAGE) as usize,
            libc::MADV_RANDOM,
        );
        libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED);
        (anon, shared, cow, dropped)
    };
    let usage = || {
        // SAFETY: getrusage fills the struct it is given.
        unsafe {
            let mut u: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut u);
            (u.ru_minflt as u64, u.ru_majflt as u64)
        }
    };
    let before = usage();
    let ready = b"wl-testload: ready\n";
    let mut b = [0u8; 1];
    // SAFETY: reading into a local buffer; each pointer below is within its mapping.
    unsafe {
        libc::write(2, ready.as_ptr().cast(), ready.len());
        libc::read(0, b.as_mut_ptr().cast(), 1);
        // Writes: a write fault on a private file mapping copies the one page, where a
        // read would map the cached pages around it as well (fault-around).
        for (base, pages) in [
            (anon, ANON_PAGES),
            (shared, SHARED_PAGES),
            (cow, COW_PAGES),
            (dropped, DROPPED_PAGES),
        ] {
            for i in 0..pages {
                base.add((i * PAGE) as usize).write_volatile(1);
            }
        }
    }
    let after = usage();
    // Written without allocating: a new heap page would be one more fault.
    let mut line = [0u8; 96];
    let mut out = &mut line[..];
    let _ = writeln!(
        out,
        "wl-testload: minor {} major {}",
        after.0 - before.0,
        after.1 - before.1
    );
    let len = 96 - out.len();
    // SAFETY: writing the formatted bytes, then leaving at once (no exit handlers).
    unsafe {
        libc::write(2, line.as_ptr().cast(), len);
        libc::_exit(EXIT_STATUS);
    }
}

/// Submits `entry` on `ring`, waits for its completion and returns its result.
fn complete(ring: &mut ::io_uring::IoUring, entry: ::io_uring::squeue::Entry) -> i32 {
    // SAFETY: every buffer an entry points at outlives the wait for its completion.
    unsafe { ring.submission().push(&entry) }.expect("submission queue full");
    ring.submit_and_wait(1).expect("io_uring_enter");
    ring.completion().next().expect("a completion").result()
}

fn uring(path: &str) -> ! {
    use ::io_uring::{IoUring, opcode, types::Fd};
    use std::os::fd::AsRawFd as _;
    use wl_tests::uring::*;
    let file = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .expect("cannot create the --io-uring file");
    let fd = Fd(file.as_raw_fd());
    let mut ring = IoUring::new(8).expect("io_uring_setup");
    for _ in 0..NOPS {
        assert_eq!(complete(&mut ring, opcode::Nop::new().build()), 0);
    }
    let mut page = [7u8; 4096];
    for i in 0..WRITES {
        let w = opcode::Write::new(fd, page.as_ptr(), 4096)
            .offset(i * 4096)
            .build();
        assert_eq!(complete(&mut ring, w), 4096);
    }
    for i in 0..READS {
        let r = opcode::Read::new(fd, page.as_mut_ptr(), 4096)
            .offset(i * 4096)
            .build();
        assert_eq!(complete(&mut ring, r), 4096);
    }
    // An fd far above any this process has open.
    for _ in 0..BAD_READS {
        let r = opcode::Read::new(Fd(1000), page.as_mut_ptr(), 4096).build();
        assert_eq!(complete(&mut ring, r), -libc::EBADF);
    }
    let mut sqpoll = IoUring::builder()
        .setup_sqpoll(2000)
        .build(8)
        .expect("io_uring_setup with SQPOLL");
    for _ in 0..SQPOLL_NOPS {
        assert_eq!(complete(&mut sqpoll, opcode::Nop::new().build()), 0);
    }
    std::process::exit(EXIT_STATUS);
}

/// io_uring requests per submission in `--bench uring-*`.
const BENCH_BATCH: u64 = 32;

/// Completes `n` requests on `ring`, `BENCH_BATCH` at a time; `entry(i)` makes the
/// `i`th of a batch.
fn uring_loop(
    ring: &mut ::io_uring::IoUring,
    n: u64,
    entry: impl Fn(u64) -> ::io_uring::squeue::Entry,
) {
    let mut done = 0;
    while done < n {
        let batch = BENCH_BATCH.min(n - done);
        for i in 0..batch {
            // SAFETY: every buffer an entry points at outlives the wait below.
            unsafe { ring.submission().push(&entry(i)) }.expect("submission queue full");
        }
        ring.submit_and_wait(batch as usize)
            .expect("io_uring_enter");
        for c in ring.completion() {
            assert!(c.result() >= 0, "io_uring request failed: {}", c.result());
            done += 1;
        }
    }
}

fn bench(kind: &str, n: u64, file: Option<&str>) -> ! {
    use ::io_uring::{IoUring, opcode, types::Fd};
    use std::{io::Write as _, os::fd::AsRawFd as _};
    let start;
    match kind {
        "pages" => {
            // 16 MiB at a time, mapped, written a byte per page, unmapped.
            const CHUNK: u64 = 4096;
            start = std::time::Instant::now();
            let mut left = n;
            while left > 0 {
                let pages = CHUNK.min(left);
                // SAFETY: fresh memory, written within its length and unmapped after.
                unsafe {
                    let p = map(pages, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
                    libc::madvise(p.cast(), (pages * PAGE) as usize, libc::MADV_NOHUGEPAGE);
                    for i in 0..pages {
                        p.add((i * PAGE) as usize).write_volatile(1);
                    }
                    libc::munmap(p.cast(), (pages * PAGE) as usize);
                }
                left -= pages;
            }
        }
        "uring-nop" => {
            let mut ring = IoUring::new(BENCH_BATCH as u32).expect("io_uring_setup");
            start = std::time::Instant::now();
            uring_loop(&mut ring, n, |_| opcode::Nop::new().build());
        }
        "uring-read" => {
            // A page of the file per request of a batch.
            const FILE_PAGES: u64 = BENCH_BATCH;
            let path = file.expect("--bench uring-read takes a file to create");
            let mut f = std::fs::File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .expect("cannot create the --bench file");
            f.write_all(&vec![7u8; (FILE_PAGES * PAGE) as usize])
                .expect("cannot write the --bench file");
            let fd = Fd(f.as_raw_fd());
            let mut buffers = vec![0u8; (BENCH_BATCH * PAGE) as usize];
            let base = buffers.as_mut_ptr();
            let mut ring = IoUring::new(BENCH_BATCH as u32).expect("io_uring_setup");
            start = std::time::Instant::now();
            uring_loop(&mut ring, n, |i| {
                // SAFETY: `i` < BENCH_BATCH: a page of `buffers`.
                let buffer = unsafe { base.add((i * PAGE) as usize) };
                opcode::Read::new(fd, buffer, PAGE as u32)
                    .offset(i * PAGE)
                    .build()
            });
            drop(buffers);
        }
        _ => panic!("--bench takes pages, uring-nop or uring-read"),
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / n.max(1) as f64;
    println!("wl-testload: {n} {kind}");
    println!("     {us:.3} usecs/op");
    std::process::exit(0);
}

fn uring_late() -> ! {
    let mut ring = ::io_uring::IoUring::new(8).expect("io_uring_setup");
    let ready = b"wl-testload: ready\n";
    let mut b = [0u8; 1];
    // SAFETY: writing and reading local buffers.
    unsafe {
        libc::write(2, ready.as_ptr().cast(), ready.len());
        libc::read(0, b.as_mut_ptr().cast(), 1);
    }
    for _ in 0..uring::LATE_NOPS {
        assert_eq!(
            complete(&mut ring, ::io_uring::opcode::Nop::new().build()),
            0
        );
    }
    std::process::exit(EXIT_STATUS);
}

fn fork_storm(n: u64) -> ! {
    for _ in 0..n {
        // SAFETY: the process is single-threaded; the child only makes raw syscalls and
        // leaves through _exit.
        unsafe {
            let pid = libc::fork();
            assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
            if pid == 0 {
                repeat(STORM_CHILD_GETPPID, libc::SYS_getppid, 0);
                repeat(STORM_CHILD_GETUID, libc::SYS_getuid, 0);
                libc::_exit(0);
            }
            // Reaped before the next fork: one child at a time, whatever N.
            let mut status = 0;
            libc::waitpid(pid, &mut status, 0);
            assert!(
                libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
                "storm child {pid}: status {status:#x}"
            );
        }
    }
    std::process::exit(EXIT_STATUS);
}

/// This process's CPU time so far, user and system, in µs (getrusage).
fn cpu_us() -> (u64, u64) {
    // SAFETY: getrusage fills a zeroed struct.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    (us(usage.ru_utime), us(usage.ru_stime))
}

/// Runs `step` until this process has used `secs` more seconds of CPU, looking at the
/// clock after every `batch` steps (getrusage is a syscall of its own: a short step
/// would be mostly the looking).
fn for_cpu(secs: f64, batch: u32, mut step: impl FnMut()) {
    let used = || {
        let (u, s) = cpu_us();
        u + s
    };
    let end = used() + (secs * 1e6) as u64;
    while used() < end {
        for _ in 0..batch {
            step();
        }
    }
}

fn getrandom(buf: &mut [u8]) {
    // SAFETY: a buffer of its own length; the raw call, whatever the C library offers.
    let n = unsafe { libc::syscall(libc::SYS_getrandom, buf.as_mut_ptr(), buf.len(), 0) };
    assert_eq!(n, buf.len() as libc::c_long, "getrandom");
}

/// `--phases`: see `wl_tests::phases`.
fn phases(secs: f64) -> ! {
    use wl_tests::phases::*;
    let weight = |i: usize| SUBSYSTEMS[i].1 * secs;
    for_cpu(weight(0), 1, || {
        // SAFETY: a fresh private mapping, written within its bounds, then unmapped.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                FAULT_BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED, "mmap");
            // Small pages, so that each is a fault of its own.
            libc::madvise(p, FAULT_BYTES, libc::MADV_NOHUGEPAGE);
            for off in (0..FAULT_BYTES).step_by(4096) {
                p.cast::<u8>().add(off).write_volatile(1);
            }
            libc::munmap(p, FAULT_BYTES);
        }
    });
    let mut buf = vec![0u8; RANDOM_BYTES];
    for_cpu(weight(1), 1, || getrandom(&mut buf));
    let mut fds = [0; 2];
    // SAFETY: a two-int array for the pipe's ends.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    let mut chunk = vec![7u8; PIPE_BYTES];
    for_cpu(weight(2), 256, || {
        // SAFETY: buffers of their own length on the pipe's ends; a chunk fits in the
        // pipe's buffer, so the write never waits for the read.
        unsafe {
            let w = libc::write(fds[1], chunk.as_ptr().cast(), PIPE_BYTES);
            assert_eq!(w, PIPE_BYTES as isize, "pipe write");
            let r = libc::read(fds[0], chunk.as_mut_ptr().cast(), PIPE_BYTES);
            assert_eq!(r, PIPE_BYTES as isize, "pipe read");
        }
    });
    let (u, s) = cpu_us();
    eprintln!("utime_us {u} stime_us {s}");
    std::process::exit(0);
}

fn main() {
    // One malloc arena, whoever starts the workload (no environment to pass down): a
    // thread's own arena is a heap that glibc maps and trims with one or two munmap
    // calls depending on where the kernel placed it, which varies from run to run.
    // SAFETY: mallopt before any thread exists.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
    let args: Vec<String> = std::env::args().collect();
    if let Some(secs) = seconds(&args, "--phases") {
        phases(secs.as_secs_f64());
    }
    if let Some(secs) = seconds(&args, "--getrandom") {
        let mut buf = vec![0u8; wl_tests::phases::RANDOM_BYTES];
        let end = std::time::Instant::now() + secs;
        while std::time::Instant::now() < end {
            getrandom(&mut buf);
        }
        std::process::exit(0);
    }
    let scale: u64 = args
        .iter()
        .position(|a| a == "--scale")
        .and_then(|i| args.get(i + 1))
        .map_or(1, |s| s.parse().expect("--scale takes a number"));
    if args.iter().any(|a| a == "--exec-child") {
        #[cfg(not(target_arch = "aarch64"))]
        repeat(EXEC_GETPGRP * scale, libc::SYS_getpgrp, 0);
        // times(NULL): arm64 has no getpgrp (see EXEC_CALL).
        #[cfg(target_arch = "aarch64")]
        repeat(EXEC_GETPGRP * scale, libc::SYS_times, 0);
        std::process::exit(0);
    }
    if args.iter().any(|a| a == "--events") {
        events();
    }
    if args.iter().any(|a| a == "--io-uring-late") {
        uring_late();
    }
    if let Some(i) = args.iter().position(|a| a == "--io-uring") {
        uring(args.get(i + 1).expect("--io-uring takes a file to create"));
    }
    if let Some(i) = args.iter().position(|a| a == "--faults") {
        faults(args.get(i + 1).expect("--faults takes a file to create"));
    }
    if let Some(i) = args.iter().position(|a| a == "--bench") {
        let n = args.get(i + 2).and_then(|s| s.parse().ok());
        bench(
            args.get(i + 1).map_or("", String::as_str),
            n.expect("--bench takes a kind and a number of operations"),
            args.get(i + 3).map(String::as_str),
        );
    }
    if let Some(i) = args.iter().position(|a| a == "--fork-storm") {
        let n: u64 = args
            .get(i + 1)
            .and_then(|s| s.parse().ok())
            .expect("--fork-storm takes a number of children");
        fork_storm(n);
    }
    if args.iter().any(|a| a == "--wait-stdin") {
        let mut b = [0u8; 1];
        // SAFETY: reading into a local buffer.
        unsafe { libc::read(0, b.as_mut_ptr().cast(), 1) };
    }

    match seconds(&args, "--spread") {
        None => repeat(MAIN_GETPPID * scale, libc::SYS_getppid, 0),
        Some(spread) => {
            let calls = MAIN_GETPPID * scale;
            for b in 0..SPREAD_BATCHES {
                // Batch sizes that add up to `calls` whatever the scale.
                let batch = calls * (b + 1) / SPREAD_BATCHES - calls * b / SPREAD_BATCHES;
                repeat(batch, libc::SYS_getppid, 0);
                thread::sleep(spread / SPREAD_BATCHES as u32);
            }
        }
    }
    if let Some(pause) = seconds(&args, "--pause") {
        thread::sleep(pause);
    }

    // Threads: each reports when its work is done; the main thread waits for that and
    // long enough for them to exit (even slowed by a tracer) before joining, so that
    // joining never has to block on a futex and the syscall counts stay the same from
    // run to run.
    // The threads start one at a time and end one at a time, each when told to, and the
    // main thread waits for each by spinning: threads starting or exiting together (the
    // runtime's locks, the one malloc arena) or a join of a thread still exiting would
    // wait in futex(2) a number of times that depends on timing (it did under an
    // emulated CPU), and every count here is exact. Their getpgid loops overlap.
    let started = std::sync::Arc::new(AtomicU64::new(0));
    let exit_turn = std::sync::Arc::new(AtomicU64::new(u64::MAX));
    let mut threads = Vec::new();
    for k in 0..THREADS {
        let (started_k, exit_turn) = (started.clone(), exit_turn.clone());
        threads.push(thread::spawn(move || {
            started_k.fetch_add(1, Ordering::SeqCst);
            repeat(THREAD_GETPGID * scale, libc::SYS_getpgid, 0);
            while exit_turn.load(Ordering::SeqCst) != k {
                std::hint::spin_loop();
            }
        }));
        while started.load(Ordering::SeqCst) <= k {
            std::hint::spin_loop();
        }
    }
    for (k, t) in threads.into_iter().enumerate() {
        let t = t.into_pthread_t();
        exit_turn.store(k as u64, Ordering::SeqCst);
        // SAFETY: `t` is a joinable thread of this process, joined once here.
        while unsafe { libc::pthread_tryjoin_np(t, std::ptr::null_mut()) } != 0 {
            std::hint::spin_loop();
        }
    }

    let self_exe = std::ffi::CString::new("/proc/self/exe").unwrap();
    let missing = c"/nonexistent/wl-testload";
    let root = c"/";
    // SAFETY: fork in a process whose other threads have all exited; the children only
    // make raw syscalls and leave through _exit.
    unsafe {
        // A child.
        let pid = libc::fork();
        if pid == 0 {
            repeat(CHILD_GETSID * scale, libc::SYS_getsid, 0);
            libc::_exit(0);
        }
        libc::waitpid(pid, std::ptr::null_mut(), 0);

        // A grandchild that detaches (setsid) and outlives its parent.
        let pid = libc::fork();
        if pid == 0 {
            if libc::fork() == 0 {
                libc::setsid();
                let ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: (ORPHAN_DELAY_MS * 1_000_000) as i64,
                };
                libc::nanosleep(&ts, std::ptr::null_mut());
                repeat(ORPHAN_UMASK * scale, libc::SYS_umask, 0o022);
                libc::_exit(0);
            }
            libc::_exit(0);
        }
        libc::waitpid(pid, std::ptr::null_mut(), 0);

        // A child that execs.
        let pid = libc::fork();
        if pid == 0 {
            let scale_s = std::ffi::CString::new(scale.to_string()).unwrap();
            let argv = [
                c"wl-testload".as_ptr(),
                c"--exec-child".as_ptr(),
                c"--scale".as_ptr(),
                scale_s.as_ptr(),
                std::ptr::null(),
            ];
            let envp = [std::ptr::null()];
            libc::execve(self_exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
            libc::_exit(127);
        }
        libc::waitpid(pid, std::ptr::null_mut(), 0);

        // Failures with known error numbers.
        repeat(DUP_EBADF, libc::SYS_dup, -1);
        #[cfg(not(target_arch = "aarch64"))]
        repeat(
            RMDIR_ENOENT,
            libc::SYS_rmdir,
            missing.as_ptr() as libc::c_long,
        );
        #[cfg(target_arch = "aarch64")]
        for _ in 0..RMDIR_ENOENT {
            // unlinkat of a NUL-terminated path that does not exist (in the block's
            // unsafe context).
            libc::syscall(
                libc::SYS_unlinkat,
                libc::AT_FDCWD,
                missing.as_ptr(),
                libc::AT_REMOVEDIR,
            );
        }
        repeat(CHDIR_OK, libc::SYS_chdir, root.as_ptr() as libc::c_long);
        repeat(
            CHDIR_ENOENT,
            libc::SYS_chdir,
            missing.as_ptr() as libc::c_long,
        );
    }

    #[cfg(target_arch = "x86_64")]
    for _ in 0..I386_GETPPID {
        // SAFETY: getppid through the i386 entry (number 64); it takes no arguments and
        // clobbers only eax.
        unsafe { std::arch::asm!("int 0x80", inout("eax") 64 => _) };
    }

    std::process::exit(EXIT_STATUS);
}
