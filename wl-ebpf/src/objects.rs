//! What a traced call worked on: the object behind its fd argument (a file of some file
//! system, a device, a socket of some family and protocol), the kernel function the
//! operation dispatches to, and its command arguments (an ioctl request, a futex op).
//! The loader says per syscall what to read (`ObjectSpec`); only traced calls of
//! syscalls with a spec come here.
//!
//! From the task to its fd table, loads go through BTF pointers. The table's array is a
//! `struct file **`, which the verifier types as a plain number, so everything past it
//! is read with `bpf_probe_read_kernel`, which also survives a file freed by another
//! thread's `close` meanwhile (the read fails or finds another file; counts stay exact
//! either way, only that call's object is uncertain).

use aya_ebpf::{btf_maps::PerCpuArray, helpers::bpf_probe_read_kernel, macros::btf_map};
use wl_common::{Abi, KernelOffsets, ObjectKey, ObjectSpec, object};

use crate::{
    btf::{kernel_offset, read_ptr, read_u32},
    maps::OBJECT_SPECS,
};

/// What this CPU resolved last for a file, by fd number modulo [`FILE_CACHE_ENTRIES`]:
/// a loop over a few fds (a read from one, a write to another) finds its files here
/// after two probe reads instead of nine. An entry is used only for the same `struct
/// file` and inode (a freed and reused `struct file` of another inode misses) and the
/// same operation members.
#[repr(C)]
#[derive(Clone, Copy)]
struct FileCache {
    file: u64,
    inode: u64,
    fop: u16,
    fop_fallback: u16,
    sock_op: u16,
    _pad: u16,
    /// The resolved fields (`slot`, `cmd`, `cmd2` unused).
    key: ObjectKey,
}

const FILE_CACHE_ENTRIES: u32 = 8;

#[btf_map]
static FILE_CACHE: PerCpuArray<FileCache, { FILE_CACHE_ENTRIES as usize }> = PerCpuArray::new();

/// `S_IFMT` and the file types the key tells apart (include/uapi/linux/stat.h).
const S_IFMT: u16 = 0o170000;
const S_IFSOCK: u16 = 0o140000;
const S_IFCHR: u16 = 0o020000;
const S_IFBLK: u16 = 0o060000;

/// The object and command of a traced call of `slot`; None when the syscall's spec
/// resolves nothing (most syscalls: `getppid` pays one array lookup, and no key is
/// made, whose zeroing is a call to memset).
#[inline(always)]
pub fn resolve(
    task: *const u8,
    regs: *const u8,
    abi: Abi,
    slot: u32,
    at: Point,
) -> Option<ObjectKey> {
    let spec = OBJECT_SPECS.get(slot)?;
    if !spec.resolves_anything() {
        return None;
    }
    let mut key = ObjectKey {
        slot,
        ..ObjectKey::default()
    };
    let key = &mut key;
    let args = syscall_args(regs, abi, at);
    // Specs number arguments from 1 (see `ObjectSpec::arg`).
    let arg = |i: u8| args.get((i as usize).wrapping_sub(1)).copied().unwrap_or(0);
    if spec.cmd_arg != ObjectSpec::NO_ARG {
        key.cmd = arg(spec.cmd_arg) & spec.cmd_mask;
    }
    if spec.cmd2_arg != ObjectSpec::NO_ARG {
        key.cmd2 = arg(spec.cmd2_arg) & spec.cmd2_mask;
    }
    if spec.fd_arg != ObjectSpec::NO_ARG {
        key.kind = object::NO_FILE;
        // SAFETY: `task` is the current task's BTF pointer.
        unsafe { resolve_fd(task, arg(spec.fd_arg), spec, key) };
    }
    Some(*key)
}

/// Where a call is resolved: its entry, or its exit (untimed mode, for a failure),
/// where the first argument may have moved (see `KernelOffsets::regs_exit_arg0`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Point {
    Entry,
    Exit,
}

/// The six arguments' low 32 bits (every fd and command is an `int`). Each is loaded at
/// a constant offset: the verifier refuses a BTF pointer plus a variable offset, so the
/// argument is picked from the copy instead.
#[inline(always)]
fn syscall_args(regs: *const u8, abi: Abi, at: Point) -> [u32; 6] {
    let (base, first) = match (abi, at) {
        (Abi::Native, Point::Entry) => (
            core::mem::offset_of!(KernelOffsets, regs_args),
            core::mem::offset_of!(KernelOffsets, regs_args),
        ),
        (Abi::Native, Point::Exit) => (
            core::mem::offset_of!(KernelOffsets, regs_args),
            core::mem::offset_of!(KernelOffsets, regs_exit_arg0),
        ),
        (Abi::Compat, Point::Entry) => (
            core::mem::offset_of!(KernelOffsets, regs_compat_args),
            core::mem::offset_of!(KernelOffsets, regs_compat_args),
        ),
        (Abi::Compat, Point::Exit) => (
            core::mem::offset_of!(KernelOffsets, regs_compat_args),
            core::mem::offset_of!(KernelOffsets, regs_compat_exit_arg0),
        ),
    };
    // SAFETY: `regs` is the tracepoint's BTF pt_regs pointer; the offsets come from BTF.
    unsafe {
        [
            read_u32(regs, kernel_offset(first)),
            read_u32(regs, kernel_offset(base + 4)),
            read_u32(regs, kernel_offset(base + 8)),
            read_u32(regs, kernel_offset(base + 12)),
            read_u32(regs, kernel_offset(base + 16)),
            read_u32(regs, kernel_offset(base + 20)),
        ]
    }
}

/// A kernel value `off` bytes into the object at `base`, read with a probe.
#[inline(always)]
pub(crate) fn probe<T>(base: u64, off: impl Into<u64>) -> Option<T> {
    // SAFETY: the helper checks the address and fails rather than faulting.
    unsafe { bpf_probe_read_kernel(base.wrapping_add(off.into()) as *const T).ok() }
}

/// # Safety
/// `task` must be the current task's BTF pointer.
#[inline(always)]
unsafe fn resolve_fd(task: *const u8, fd: u32, spec: &ObjectSpec, key: &mut ObjectKey) {
    // SAFETY: BTF pointers loaded from `task` (the verifier makes the loads fault-safe);
    // offsets come from BTF. Tracing programs run under RCU, which keeps the fd table
    // alive (fs/file.c reads it the same way).
    let fds = unsafe {
        let files = read_ptr(task, offset!(task_files));
        let fdt = read_ptr(files, offset!(files_fdt));
        if fd >= read_u32(fdt, offset!(fdt_max_fds)) {
            return;
        }
        core::ptr::read_volatile(fdt.add(offset!(fdt_fd) as usize).cast::<u64>())
    };
    let Some(file) = probe::<u64>(fds, 8 * u64::from(fd)) else {
        key.kind = object::UNREADABLE;
        return;
    };
    if file == 0 {
        return;
    }
    key.kind = object::UNREADABLE;
    let Some(inode) = probe::<u64>(file, offset!(file_f_inode)) else {
        return;
    };
    let Some(cache) = FILE_CACHE.get_ptr_mut(fd % FILE_CACHE_ENTRIES) else {
        return;
    };
    // SAFETY: this CPU's entry; programs on syscall tracepoints are not preempted.
    let cache = unsafe { &mut *cache };
    if cache.file == file
        && cache.inode == inode
        && cache.fop == spec.fop
        && cache.fop_fallback == spec.fop_fallback
        && cache.sock_op == spec.sock_op
    {
        let c = &cache.key;
        key.kind = c.kind;
        key.fs_magic = c.fs_magic;
        key.rdev = c.rdev;
        key.mode = c.mode;
        key.family = c.family;
        key.sock_type = c.sock_type;
        key.protocol = c.protocol;
        key.handler = c.handler;
        key.type_fn = c.type_fn;
        return;
    }
    resolve_file(file, inode, spec, key);
    // Only what resolved completely is worth keeping.
    if key.kind == object::FILE || key.kind == object::SOCKET {
        cache.file = file;
        cache.inode = inode;
        cache.fop = spec.fop;
        cache.fop_fallback = spec.fop_fallback;
        cache.sock_op = spec.sock_op;
        cache.key = *key;
    }
}

/// What `file` (a `struct file *`) is, as an fd's object is named, without a handler.
#[inline(always)]
pub(crate) fn resolve_file_object(file: u64, key: &mut ObjectKey) {
    key.kind = object::UNREADABLE;
    if let Some(inode) = probe::<u64>(file, offset!(file_f_inode)) {
        resolve_file(file, inode, &ObjectSpec::NONE, key);
    }
}

/// The file's type, file system, device or socket, and the function serving the call.
#[inline(always)]
fn resolve_file(file: u64, inode: u64, spec: &ObjectSpec, key: &mut ObjectKey) {
    let Some(fops) = probe::<u64>(file, offset!(file_f_op)) else {
        return;
    };
    let Some(mode) = probe::<u16>(inode, offset!(inode_i_mode)) else {
        return;
    };
    key.mode = mode & S_IFMT;
    if key.mode == S_IFSOCK {
        resolve_socket(file, fops, spec, key);
        return;
    }
    let Some(file) = identify_file(inode, fops, key.mode) else {
        return;
    };
    key.kind = object::FILE;
    key.fs_magic = file.fs_magic;
    key.rdev = file.rdev;
    key.type_fn = file.type_fn;
    key.handler = file_op(fops, spec);
}

/// What names a file that is not a socket: its file system, device and type.
pub(crate) struct FileIdentity {
    pub fs_magic: u32,
    pub rdev: u32,
    pub type_fn: u64,
}

/// The identity of a file of type `mode` (`S_IFMT` bits), from its inode and
/// operations; None if its superblock cannot be read.
#[inline(always)]
pub(crate) fn identify_file(inode: u64, fops: u64, mode: u16) -> Option<FileIdentity> {
    let sb = probe::<u64>(inode, offset!(inode_i_sb))?;
    Some(FileIdentity {
        // `s_magic` is an unsigned long; every magic fits in 32 bits.
        fs_magic: probe::<u64>(sb, offset!(sb_s_magic)).unwrap_or(0) as u32,
        rdev: if mode == S_IFCHR || mode == S_IFBLK {
            probe::<u32>(inode, offset!(inode_i_rdev)).unwrap_or(0)
        } else {
            0
        },
        type_fn: probe::<u64>(fops, offset!(fops_release)).unwrap_or(0),
    })
}

/// The identity of `file` (a `struct file *`) and its type (`S_IFMT` bits).
#[inline(always)]
pub(crate) fn identify(file: u64) -> Option<(u16, FileIdentity)> {
    let inode = probe::<u64>(file, offset!(file_f_inode))?;
    let fops = probe::<u64>(file, offset!(file_f_op))?;
    let mode = probe::<u16>(inode, offset!(inode_i_mode))? & S_IFMT;
    Some((mode, identify_file(inode, fops, mode)?))
}

/// The file operation that serves the call: the spec's member, or its fallback where
/// the file leaves that one null (`read` first, then `read_iter`, as vfs_read does).
#[inline(always)]
fn file_op(fops: u64, spec: &ObjectSpec) -> u64 {
    let mut handler = 0;
    if spec.fop != ObjectSpec::NO_MEMBER {
        handler = probe::<u64>(fops, u32::from(spec.fop)).unwrap_or(0);
    }
    if handler == 0 && spec.fop_fallback != ObjectSpec::NO_MEMBER {
        handler = probe::<u64>(fops, u32::from(spec.fop_fallback)).unwrap_or(0);
    }
    handler
}

/// A socket's family, type and protocol, and the protocol's own operation where the
/// spec names one (`unix_stream_sendmsg`, `inet_sendmsg`); else the file's
/// (`sock_ioctl`).
#[inline(always)]
fn resolve_socket(file: u64, fops: u64, spec: &ObjectSpec, key: &mut ObjectKey) {
    let Some(sock) = probe::<u64>(file, offset!(file_private_data)) else {
        return;
    };
    let (Some(ops), Some(sk)) = (
        probe::<u64>(sock, offset!(socket_ops)),
        probe::<u64>(sock, offset!(socket_sk)),
    ) else {
        return;
    };
    key.kind = object::SOCKET;
    key.family = probe::<u16>(sk, offset!(sk_family)).unwrap_or(0);
    key.sock_type = probe::<u16>(sk, offset!(sk_type)).unwrap_or(0);
    key.protocol = probe::<u16>(sk, offset!(sk_protocol)).unwrap_or(0);
    key.handler = if spec.sock_op != ObjectSpec::NO_MEMBER {
        probe::<u64>(ops, u32::from(spec.sock_op)).unwrap_or(0)
    } else {
        file_op(fops, spec)
    };
}
