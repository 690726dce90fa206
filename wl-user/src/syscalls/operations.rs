//! Which operation of a file or socket serves each fd-based syscall, and which
//! arguments of a multiplexed syscall are its command: what the kernel side resolves
//! per call (see `wl_common::ObjectSpec`). Member names are those of `struct
//! file_operations` and `struct proto_ops` (include/linux/fs.h, include/linux/net.h);
//! the loader turns them into offsets with the running kernel's BTF.
//!
//! The choices follow the VFS and socket dispatch code: vfs_read() calls `read` and
//! falls back to `read_iter`; the vector calls (do_iter_read) prefer `read_iter`; a
//! read or write on a socket ends in the protocol's `recvmsg`/`sendmsg`
//! (sock_read_iter, sock_write_iter); ioctl dispatches to `unlocked_ioctl`, or
//! `compat_ioctl` for 32-bit callers (fs/ioctl.c).

use wl_common::Abi;

/// What to resolve for one syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// The argument holding the fd the call works on.
    pub fd_arg: Option<u8>,
    /// `file_operations` members serving the call, in the order the kernel tries them.
    pub file_ops: &'static [&'static str],
    /// The `proto_ops` member serving it on a socket; `None` keeps the file's.
    pub socket_op: Option<&'static str>,
    /// Command arguments and the bits of each that name the command.
    pub cmd: Option<(u8, u32)>,
    pub cmd2: Option<(u8, u32)>,
}

const fn op(
    fd_arg: Option<u8>,
    file_ops: &'static [&'static str],
    socket_op: Option<&'static str>,
) -> Operation {
    Operation {
        fd_arg,
        file_ops,
        socket_op,
        cmd: None,
        cmd2: None,
    }
}

const fn with_cmd(mut o: Operation, arg: u8, mask: u32) -> Operation {
    o.cmd = Some((arg, mask));
    o
}

const fn with_cmd2(mut o: Operation, arg: u8, mask: u32) -> Operation {
    o.cmd2 = Some((arg, mask));
    o
}

const ALL: u32 = u32::MAX;
/// FUTEX_CMD_MASK: the op without FUTEX_PRIVATE_FLAG (128) and FUTEX_CLOCK_REALTIME
/// (256) (include/uapi/linux/futex.h).
const FUTEX_CMD_MASK: u32 = !(128 | 256);
/// SOCK_TYPE_MASK: socket()'s type without SOCK_NONBLOCK / SOCK_CLOEXEC
/// (include/linux/net.h).
const SOCK_TYPE_MASK: u32 = 0xf;

const READ: &[&str] = &["read", "read_iter"];
const WRITE: &[&str] = &["write", "write_iter"];
const READ_VEC: &[&str] = &["read_iter", "read"];
const WRITE_VEC: &[&str] = &["write_iter", "write"];

/// The operation behind syscall `name` of `abi`, if it resolves anything.
pub fn operation(abi: Abi, name: &str) -> Option<Operation> {
    let fd0 = Some(0);
    Some(match name {
        "read" | "pread64" => op(fd0, READ, Some("recvmsg")),
        "write" | "pwrite64" => op(fd0, WRITE, Some("sendmsg")),
        "readv" | "preadv" | "preadv2" => op(fd0, READ_VEC, Some("recvmsg")),
        "writev" | "pwritev" | "pwritev2" => op(fd0, WRITE_VEC, Some("sendmsg")),
        "recvfrom" | "recvmsg" | "recvmmsg" | "recvmmsg_time64" | "recv" => {
            op(fd0, &[], Some("recvmsg"))
        }
        "sendto" | "sendmsg" | "sendmmsg" | "send" => op(fd0, &[], Some("sendmsg")),
        "connect" => op(fd0, &[], Some("connect")),
        "accept" | "accept4" => op(fd0, &[], Some("accept")),
        "bind" => op(fd0, &[], Some("bind")),
        "listen" => op(fd0, &[], Some("listen")),
        "shutdown" => op(fd0, &[], Some("shutdown")),
        "getsockname" | "getpeername" => op(fd0, &[], Some("getname")),
        "setsockopt" => with_cmd2(with_cmd(op(fd0, &[], Some("setsockopt")), 1, ALL), 2, ALL),
        "getsockopt" => with_cmd2(with_cmd(op(fd0, &[], Some("getsockopt")), 1, ALL), 2, ALL),
        "ioctl" => {
            let member: &'static [&'static str] = match abi {
                Abi::Native => &["unlocked_ioctl"],
                Abi::Compat => &["compat_ioctl"],
            };
            with_cmd(op(fd0, member, None), 1, ALL)
        }
        "fcntl" | "fcntl64" => with_cmd(op(fd0, &[], None), 1, ALL),
        "flock" => with_cmd(op(fd0, &["flock"], None), 1, ALL),
        "lseek" | "_llseek" | "llseek" => op(fd0, &["llseek"], None),
        "fsync" | "fdatasync" | "sync_file_range" => op(fd0, &["fsync"], None),
        "getdents" | "getdents64" => op(fd0, &["iterate_shared"], None),
        "mmap" | "mmap2" => op(Some(4), &["mmap"], None),
        "fallocate" => op(fd0, &["fallocate"], None),
        "fadvise64" | "fadvise64_64" => op(fd0, &["fadvise"], None),
        "splice" | "tee" => op(fd0, &["splice_read"], None),
        "sendfile" | "sendfile64" => op(fd0, &["splice_write"], Some("sendmsg")),
        "copy_file_range" => op(fd0, &["copy_file_range"], None),
        "close" => op(fd0, &["flush", "release"], None),
        "epoll_wait" | "epoll_pwait" | "epoll_pwait2" | "epoll_ctl" => op(fd0, &[], None),
        "fstat" | "newfstat" | "fstat64" | "fstatfs" | "fstatfs64" | "ftruncate"
        | "ftruncate64" | "dup" | "dup2" | "dup3" | "readahead" | "fchdir" | "fchmod"
        | "fchown" | "fchown32" | "syncfs" | "timerfd_settime" | "timerfd_gettime"
        | "timerfd_settime64" | "timerfd_gettime64" | "inotify_add_watch" => op(fd0, &[], None),
        "prctl" | "bpf" => with_cmd(op(None, &[], None), 0, ALL),
        "futex" | "futex_time64" => with_cmd(op(None, &[], None), 1, FUTEX_CMD_MASK),
        "socket" | "socketpair" => {
            with_cmd2(with_cmd(op(None, &[], None), 0, ALL), 1, SOCK_TYPE_MASK)
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_follow_the_vfs_order() {
        let read = operation(Abi::Native, "read").unwrap();
        assert_eq!(read.fd_arg, Some(0));
        assert_eq!(read.file_ops, ["read", "read_iter"]);
        assert_eq!(read.socket_op, Some("recvmsg"));
        assert_eq!(
            operation(Abi::Native, "readv").unwrap().file_ops[0],
            "read_iter"
        );
    }

    #[test]
    fn commands_and_their_masks() {
        let futex = operation(Abi::Native, "futex").unwrap();
        assert_eq!(futex.fd_arg, None);
        // FUTEX_WAKE | FUTEX_PRIVATE_FLAG is FUTEX_WAKE.
        assert_eq!(129 & futex.cmd.unwrap().1, 1);
        let socket = operation(Abi::Native, "socket").unwrap();
        // SOCK_STREAM | SOCK_CLOEXEC is SOCK_STREAM.
        assert_eq!((1 | 0o2000000) & socket.cmd2.unwrap().1, 1);
        assert_eq!(
            operation(Abi::Compat, "ioctl").unwrap().file_ops,
            ["compat_ioctl"]
        );
        assert_eq!(operation(Abi::Native, "mmap").unwrap().fd_arg, Some(4));
        assert!(operation(Abi::Native, "getppid").is_none());
    }
}
