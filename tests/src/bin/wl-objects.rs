//! A workload whose objects and commands are known: see `wl_tests::objects`. It works
//! on pipes, /dev/null and /dev/zero, an AF_UNIX socketpair, an AF_INET socket, an
//! eventfd, a tmpfs file and a file in the directory given, and makes prctl, fcntl and
//! futex commands, each a distinct number of times.
//!
//! Usage: wl-objects DIR   (DIR: where to create the scratch file; removed at exit)
//!        wl-objects --ioctl-sweep N
//!   --ioctl-sweep N  instead, N ioctls on /dev/null, each with another request number
//!                    (all fail with ENOTTY): N distinct (syscall, object, command)
//!                    keys, more than a tracer's object map may hold.

use std::{ffi::CString, io::Error};

use wl_tests::objects::*;

/// Fails loudly: a workload that did not do what it claims would make the test wrong.
fn check(what: &str, ret: libc::c_long) -> libc::c_long {
    assert!(ret >= 0, "{what}: {}", Error::last_os_error());
    ret
}

fn times(n: u64, what: &str, mut call: impl FnMut() -> libc::c_long) {
    for _ in 0..n {
        check(what, call());
    }
}

fn open(path: &str, flags: libc::c_int) -> libc::c_int {
    let c = CString::new(path).expect("no NUL in path");
    // SAFETY: a valid NUL-terminated path.
    check(
        path,
        unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, 0o600) }.into(),
    ) as libc::c_int
}

/// A tmpfs directory: /dev/shm where there is one (a minimal VM may have none).
fn tmpfs_dir() -> &'static str {
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    ["/dev/shm", "/run", "/tmp"]
        .into_iter()
        .find(|d| {
            let c = CString::new(*d).expect("no NUL in path");
            // SAFETY: a valid path and a zeroed statfs to fill.
            unsafe {
                let mut st: libc::statfs = std::mem::zeroed();
                libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == TMPFS_MAGIC
            }
        })
        .expect("no tmpfs directory (/dev/shm, /run or /tmp)")
}

/// N ioctls with distinct request numbers on /dev/null: each fails with ENOTTY.
fn ioctl_sweep(n: u64) {
    let null = open("/dev/null", libc::O_RDONLY);
    for request in 0..n {
        // SAFETY: /dev/null has no ioctls; the kernel never reads the argument.
        let r = unsafe { libc::ioctl(null, (0x4000_0000 + request) as libc::c_ulong, 0) };
        assert_eq!(r, -1, "ioctl {request:#x} on /dev/null succeeded");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--ioctl-sweep") {
        let n = args
            .get(2)
            .and_then(|n| n.parse().ok())
            .expect("--ioctl-sweep takes a number");
        return ioctl_sweep(n);
    }
    let dir = args.get(1).expect("usage: wl-objects DIR");
    let mut byte = [0u8; 8];
    let buf = byte.as_mut_ptr().cast::<libc::c_void>();
    // SAFETY: every call below gets valid fds it opened and pointers to live locals.
    unsafe {
        let mut pipe = [0; 2];
        check(
            "pipe2",
            libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK).into(),
        );
        for _ in 0..PIPE_WRITE {
            check("write pipe", libc::write(pipe[1], buf, 1) as _);
        }
        times(PIPE_FIONREAD, "FIONREAD", || {
            let mut n: libc::c_int = 0;
            libc::ioctl(pipe[0], libc::FIONREAD, &mut n).into()
        });
        times(PIPE_READ, "read pipe", || {
            // The last reads find the pipe empty; nonblocking, they fail with EAGAIN.
            let r = libc::read(pipe[0], buf, 1) as libc::c_long;
            if r < 0 { 0 } else { r }
        });
        times(PIPE_F_GETFL, "F_GETFL", || {
            libc::fcntl(pipe[1], libc::F_GETFL).into()
        });

        let null = open("/dev/null", libc::O_WRONLY);
        times(NULL_WRITE, "write /dev/null", || {
            libc::write(null, buf, 1) as _
        });
        let zero = open("/dev/zero", libc::O_RDONLY);
        times(ZERO_READ, "read /dev/zero", || {
            libc::read(zero, buf, 1) as _
        });

        let mut pair = [0; 2];
        check(
            "socketpair",
            libc::socketpair(
                libc::AF_UNIX,
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
                pair.as_mut_ptr(),
            )
            .into(),
        );
        let (addr, len) = (std::ptr::null_mut::<libc::sockaddr>(), std::ptr::null_mut());
        times(UNIX_SENDTO, "sendto", || {
            libc::sendto(pair[0], buf, 1, 0, addr.cast_const(), 0) as _
        });
        times(UNIX_RECVFROM, "recvfrom", || {
            // The last receives find nothing; nonblocking, they fail with EAGAIN.
            let r = libc::recvfrom(pair[1], buf, 1, libc::MSG_DONTWAIT, addr, len);
            if r < 0 { 0 } else { r as _ }
        });

        let inet = check(
            "socket",
            libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0).into(),
        ) as libc::c_int;
        times(INET_SIOCGIFCONF, "SIOCGIFCONF", || {
            // With no buffer the kernel only says how much it would need.
            let mut conf: libc::ifconf = std::mem::zeroed();
            libc::ioctl(inet, libc::SIOCGIFCONF, &mut conf).into()
        });

        times(INET_FIONBIO, "FIONBIO", || {
            let mut on: libc::c_int = 1;
            libc::ioctl(inet, libc::FIONBIO, &mut on).into()
        });

        let efd = check(
            "eventfd",
            libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK).into(),
        ) as libc::c_int;
        let one = 1u64.to_ne_bytes();
        times(EVENTFD_WRITE, "write eventfd", || {
            libc::write(efd, one.as_ptr().cast(), 8) as _
        });
        times(EVENTFD_READ, "read eventfd", || {
            // The first read takes the whole counter; the rest find it zero and,
            // nonblocking, fail with EAGAIN.
            let r = libc::read(efd, buf, 8) as libc::c_long;
            if r < 0 { 0 } else { r }
        });

        let shm = format!("{}/wl-objects-{}", tmpfs_dir(), std::process::id());
        let tmpfs = open(&shm, libc::O_RDWR | libc::O_CREAT);
        times(TMPFS_PWRITE, "pwrite tmpfs", || {
            libc::pwrite(tmpfs, buf, 1, 0) as _
        });
        let scratch = format!("{dir}/wl-objects-{}", std::process::id());
        let file = open(&scratch, libc::O_RDWR | libc::O_CREAT);
        times(DIR_PWRITE, "pwrite file", || {
            libc::pwrite(file, buf, 1, 0) as _
        });

        let name = c"wl-objects";
        times(PR_SET_NAME, "PR_SET_NAME", || {
            libc::prctl(libc::PR_SET_NAME, name.as_ptr()).into()
        });
        let mut got = [0u8; 16];
        times(PR_GET_NAME, "PR_GET_NAME", || {
            libc::prctl(libc::PR_GET_NAME, got.as_mut_ptr()).into()
        });
        let word = 0u32;
        times(FUTEX_WAKE, "FUTEX_WAKE", || {
            libc::syscall(
                libc::SYS_futex,
                &word as *const u32,
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                1,
            )
        });
        for _ in 0..BADFD_READ {
            // Expected to fail (EBADF): fd 999 is not open.
            libc::read(999, buf, 1);
        }
        let _ = std::fs::remove_file(&shm);
        let _ = std::fs::remove_file(&scratch);
    }
}
