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
    /// The call works on an fd: the argument that holds it comes from the kernel
    /// source (`Syscall::fd_arg`, the `SYSCALL_DEFINE` parameter names), per ABI (i386's
    /// `mmap` is old_mmap, whose one argument is a struct).
    pub on_fd: bool,
    /// `file_operations` members serving the call, in the order the kernel tries them.
    pub file_ops: &'static [&'static str],
    /// The `proto_ops` member serving it on a socket; `None` keeps the file's.
    pub socket_op: Option<&'static str>,
    /// Command arguments and the bits of each that name the command.
    pub cmd: Option<(u8, u32)>,
    pub cmd2: Option<(u8, u32)>,
    /// Whether the object's operation does the call's work, so that the call counts
    /// under the handler's subsystem: a read, a write, an ioctl, a socket call. mmap's
    /// work is the memory manager's (do_mmap), the file's `mmap` hook only sets up its
    /// mapping: it stays under the syscall's subsystem, its object and handler shown.
    pub object_serves: bool,
}

const fn op(
    on_fd: bool,
    file_ops: &'static [&'static str],
    socket_op: Option<&'static str>,
) -> Operation {
    Operation {
        on_fd,
        file_ops,
        socket_op,
        cmd: None,
        cmd2: None,
        object_serves: !file_ops.is_empty() || socket_op.is_some(),
    }
}

const fn hook_only(mut o: Operation) -> Operation {
    o.object_serves = false;
    o
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

/// ioctl requests the VFS serves itself in do_vfs_ioctl() (fs/ioctl.c), before and
/// instead of the file's `unlocked_ioctl`; FIONREAD only for regular files (other
/// files pass it on). Matched by name, as the report decodes the request.
pub const VFS_IOCTLS: &[&str] = &[
    "FIOCLEX",
    "FIONCLEX",
    "FIONBIO",
    "FIOASYNC",
    "FIOQSIZE",
    "FIFREEZE",
    "FITHAW",
    "FS_IOC_FIEMAP",
    "FIGETBSZ",
    "FICLONE",
    "FICLONERANGE",
    "FIDEDUPERANGE",
    "FS_IOC_GETFLAGS",
    "FS_IOC_SETFLAGS",
    "FS_IOC_FSGETXATTR",
    "FS_IOC_FSSETXATTR",
    "FS_IOC_GETFSUUID",
    "FS_IOC_GETFSSYSFSPATH",
];

/// Whether the VFS itself serves ioctl `command` on an object of `kind` (as reports
/// name them), so that the file's handler never runs.
pub fn vfs_serves_ioctl(command: &str, kind: &str) -> bool {
    VFS_IOCTLS.contains(&command) || (command == "FIONREAD" && kind == "file")
}

/// The operation behind syscall `name` of `abi`, if it resolves anything.
pub fn operation(abi: Abi, name: &str) -> Option<Operation> {
    let on_fd = true;
    Some(match name {
        "read" | "pread64" => op(on_fd, READ, Some("recvmsg")),
        "write" | "pwrite64" => op(on_fd, WRITE, Some("sendmsg")),
        "readv" | "preadv" | "preadv2" => op(on_fd, READ_VEC, Some("recvmsg")),
        "writev" | "pwritev" | "pwritev2" => op(on_fd, WRITE_VEC, Some("sendmsg")),
        "recvfrom" | "recvmsg" | "recvmmsg" | "recvmmsg_time64" | "recv" => {
            op(on_fd, &[], Some("recvmsg"))
        }
        "sendto" | "sendmsg" | "sendmmsg" | "send" => op(on_fd, &[], Some("sendmsg")),
        "connect" => op(on_fd, &[], Some("connect")),
        "accept" | "accept4" => op(on_fd, &[], Some("accept")),
        "bind" => op(on_fd, &[], Some("bind")),
        "listen" => op(on_fd, &[], Some("listen")),
        "shutdown" => op(on_fd, &[], Some("shutdown")),
        "getsockname" | "getpeername" => op(on_fd, &[], Some("getname")),
        "setsockopt" => with_cmd2(with_cmd(op(on_fd, &[], Some("setsockopt")), 1, ALL), 2, ALL),
        "getsockopt" => with_cmd2(with_cmd(op(on_fd, &[], Some("getsockopt")), 1, ALL), 2, ALL),
        "ioctl" => {
            let member: &'static [&'static str] = match abi {
                Abi::Native => &["unlocked_ioctl"],
                Abi::Compat => &["compat_ioctl"],
            };
            with_cmd(op(on_fd, member, None), 1, ALL)
        }
        "fcntl" | "fcntl64" => with_cmd(op(on_fd, &[], None), 1, ALL),
        "flock" => with_cmd(op(on_fd, &["flock"], None), 1, ALL),
        "lseek" | "_llseek" | "llseek" => op(on_fd, &["llseek"], None),
        "fsync" | "fdatasync" | "sync_file_range" => op(on_fd, &["fsync"], None),
        "getdents" | "getdents64" => op(on_fd, &["iterate_shared"], None),
        // Linux 6.17 added `mmap_prepare`, which a file has instead of `mmap`.
        "mmap" | "mmap2" => hook_only(op(on_fd, &["mmap", "mmap_prepare"], None)),
        "fallocate" => op(on_fd, &["fallocate"], None),
        "fadvise64" | "fadvise64_64" => op(on_fd, &["fadvise"], None),
        // splice from a pipe calls the *output's* splice_write, and tee links two pipes
        // without a file operation: the first fd's object is named, its code not
        // credited.
        "splice" | "tee" => op(on_fd, &[], None),
        "sendfile" | "sendfile64" => op(on_fd, &["splice_write"], Some("sendmsg")),
        "copy_file_range" => op(on_fd, &["copy_file_range"], None),
        "close" => op(on_fd, &["flush", "release"], None),
        "epoll_wait" | "epoll_pwait" | "epoll_pwait2" | "epoll_ctl" => op(on_fd, &[], None),
        "fstat" | "newfstat" | "fstat64" | "fstatfs" | "fstatfs64" | "ftruncate"
        | "ftruncate64" | "dup" | "dup2" | "dup3" | "readahead" | "fchdir" | "fchmod"
        | "fchown" | "fchown32" | "syncfs" | "timerfd_settime" | "timerfd_gettime"
        | "timerfd_settime64" | "timerfd_gettime64" | "inotify_add_watch" => op(on_fd, &[], None),
        "prctl" | "bpf" => with_cmd(op(false, &[], None), 0, ALL),
        "futex" | "futex_time64" => with_cmd(op(false, &[], None), 1, FUTEX_CMD_MASK),
        "socket" | "socketpair" => {
            with_cmd2(with_cmd(op(false, &[], None), 0, ALL), 1, SOCK_TYPE_MASK)
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
        assert!(read.on_fd);
        assert_eq!(read.file_ops, ["read", "read_iter"]);
        assert_eq!(read.socket_op, Some("recvmsg"));
        assert_eq!(
            operation(Abi::Native, "readv").unwrap().file_ops[0],
            "read_iter"
        );
    }

    #[test]
    fn every_fd_operation_has_its_fd_argument_in_the_kernel_source() {
        let k = crate::Knowledge::embedded();
        let x86_64 = k.table(crate::AbiName::X86_64);
        for sc in x86_64 {
            if operation(Abi::Native, sc.name).is_some_and(|op| op.on_fd) {
                assert!(sc.fd_arg.is_some(), "{}: no fd parameter found", sc.name);
            }
        }
        let fd = |name: &str| x86_64.iter().find(|s| s.name == name).unwrap().fd_arg;
        assert_eq!(fd("read"), Some(0));
        assert_eq!(fd("mmap"), Some(4));
    }

    #[test]
    fn commands_and_their_masks() {
        let futex = operation(Abi::Native, "futex").unwrap();
        assert!(!futex.on_fd);
        // FUTEX_WAKE | FUTEX_PRIVATE_FLAG is FUTEX_WAKE.
        assert_eq!(129 & futex.cmd.unwrap().1, 1);
        let socket = operation(Abi::Native, "socket").unwrap();
        // SOCK_STREAM | SOCK_CLOEXEC is SOCK_STREAM.
        assert_eq!((1 | 0o2000000) & socket.cmd2.unwrap().1, 1);
        assert_eq!(
            operation(Abi::Compat, "ioctl").unwrap().file_ops,
            ["compat_ioctl"]
        );
        assert!(operation(Abi::Native, "getppid").is_none());
        assert!(operation(Abi::Native, "ioctl").unwrap().object_serves);
        assert!(!operation(Abi::Native, "mmap").unwrap().object_serves);
        assert!(!operation(Abi::Native, "fcntl").unwrap().object_serves);
        assert!(vfs_serves_ioctl("FIONBIO", "socket"));
        assert!(vfs_serves_ioctl("FIONREAD", "file"));
        assert!(!vfs_serves_ioctl("FIONREAD", "pipe"));
        assert!(!vfs_serves_ioctl("SIOCGIFCONF", "socket"));
    }
}
