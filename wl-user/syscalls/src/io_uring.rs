//! io_uring's operations: each opcode's name (`IORING_OP_*` without the prefix, in
//! include/uapi/linux/io_uring.h) and the file of io_uring/ that implements it
//! (io_uring/opdef.c hands each to its `issue` function there), as of Linux 6.12.

/// (name, source) by opcode.
const OPS: &[(&str, &str)] = &[
    ("NOP", "io_uring/nop.c"),
    ("READV", "io_uring/rw.c"),
    ("WRITEV", "io_uring/rw.c"),
    ("FSYNC", "io_uring/sync.c"),
    ("READ_FIXED", "io_uring/rw.c"),
    ("WRITE_FIXED", "io_uring/rw.c"),
    ("POLL_ADD", "io_uring/poll.c"),
    ("POLL_REMOVE", "io_uring/poll.c"),
    ("SYNC_FILE_RANGE", "io_uring/sync.c"),
    ("SENDMSG", "io_uring/net.c"),
    ("RECVMSG", "io_uring/net.c"),
    ("TIMEOUT", "io_uring/timeout.c"),
    ("TIMEOUT_REMOVE", "io_uring/timeout.c"),
    ("ACCEPT", "io_uring/net.c"),
    ("ASYNC_CANCEL", "io_uring/cancel.c"),
    ("LINK_TIMEOUT", "io_uring/timeout.c"),
    ("CONNECT", "io_uring/net.c"),
    ("FALLOCATE", "io_uring/sync.c"),
    ("OPENAT", "io_uring/openclose.c"),
    ("CLOSE", "io_uring/openclose.c"),
    ("FILES_UPDATE", "io_uring/rsrc.c"),
    ("STATX", "io_uring/statx.c"),
    ("READ", "io_uring/rw.c"),
    ("WRITE", "io_uring/rw.c"),
    ("FADVISE", "io_uring/advise.c"),
    ("MADVISE", "io_uring/advise.c"),
    ("SEND", "io_uring/net.c"),
    ("RECV", "io_uring/net.c"),
    ("OPENAT2", "io_uring/openclose.c"),
    ("EPOLL_CTL", "io_uring/epoll.c"),
    ("SPLICE", "io_uring/splice.c"),
    ("PROVIDE_BUFFERS", "io_uring/kbuf.c"),
    ("REMOVE_BUFFERS", "io_uring/kbuf.c"),
    ("TEE", "io_uring/splice.c"),
    ("SHUTDOWN", "io_uring/net.c"),
    ("RENAMEAT", "io_uring/fs.c"),
    ("UNLINKAT", "io_uring/fs.c"),
    ("MKDIRAT", "io_uring/fs.c"),
    ("SYMLINKAT", "io_uring/fs.c"),
    ("LINKAT", "io_uring/fs.c"),
    ("MSG_RING", "io_uring/msg_ring.c"),
    ("FSETXATTR", "io_uring/xattr.c"),
    ("SETXATTR", "io_uring/xattr.c"),
    ("FGETXATTR", "io_uring/xattr.c"),
    ("GETXATTR", "io_uring/xattr.c"),
    ("SOCKET", "io_uring/net.c"),
    ("URING_CMD", "io_uring/uring_cmd.c"),
    ("SEND_ZC", "io_uring/net.c"),
    ("SENDMSG_ZC", "io_uring/net.c"),
    ("READ_MULTISHOT", "io_uring/rw.c"),
    ("WAITID", "io_uring/waitid.c"),
    ("FUTEX_WAIT", "io_uring/futex.c"),
    ("FUTEX_WAKE", "io_uring/futex.c"),
    ("FUTEX_WAITV", "io_uring/futex.c"),
    ("FIXED_FD_INSTALL", "io_uring/openclose.c"),
    ("FTRUNCATE", "io_uring/truncate.c"),
    ("BIND", "io_uring/net.c"),
    ("LISTEN", "io_uring/net.c"),
];

/// The operation's name (`READ`), or `OP_<n>` for one newer than this table.
pub fn op_name(opcode: u32) -> String {
    OPS.get(opcode as usize)
        .map_or_else(|| format!("OP_{opcode}"), |(name, _)| (*name).to_owned())
}

/// The file that implements the operation; io_uring/opdef.c for one this table lacks.
pub fn op_source(opcode: u32) -> &'static str {
    OPS.get(opcode as usize)
        .map_or("io_uring/opdef.c", |(_, src)| src)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_are_named_as_the_uapi_header_numbers_them() {
        // IORING_OP_READ = 22, IORING_OP_WRITE = 23, IORING_OP_SEND = 26,
        // IORING_OP_LISTEN = 57 (the last of Linux 6.12).
        assert_eq!(op_name(0), "NOP");
        assert_eq!(op_name(22), "READ");
        assert_eq!(op_name(23), "WRITE");
        assert_eq!(op_name(26), "SEND");
        assert_eq!(op_name(57), "LISTEN");
        assert_eq!(op_name(58), "OP_58");
        assert_eq!(op_source(22), "io_uring/rw.c");
        assert_eq!(op_source(200), "io_uring/opdef.c");
    }
}
