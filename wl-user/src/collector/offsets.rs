//! The kernel's field offsets the kernel side reads at, found in the running kernel's
//! BTF: its `task_struct`, `css_set`, `cgroup`, `kernfs_node`, `pt_regs`, file and
//! socket structures differ between releases and configurations.

use anyhow::Result;
use wl_common::{Abi, KernelOffsets};

use crate::btf;

/// Where the fields the kernel side reads sit in the running kernel; an error names the
/// first one missing.
pub fn kernel_offsets(btf: &btf::Btf) -> Result<KernelOffsets> {
    // thread_info is embedded in task_struct (CONFIG_THREAD_INFO_IN_TASK) on both.
    let compat_word = if cfg!(target_arch = "aarch64") {
        btf.field_offset("task_struct", "thread_info")?
            + btf.field_offset("thread_info", "flags")?
    } else {
        btf.field_offset("task_struct", "thread_info")?
            + btf.field_offset("thread_info", "status")?
    };
    Ok(KernelOffsets {
        task_tgid: btf.field_offset("task_struct", "tgid")?,
        task_signal: btf.field_offset("task_struct", "signal")?,
        signal_live: btf.field_offset("signal_struct", "live")?,
        task_compat_word: compat_word,
        task_bpf_storage: btf.field_offset("task_struct", "bpf_storage")?,
        task_cgroups: btf.field_offset("task_struct", "cgroups")?,
        css_set_dfl_cgrp: btf.field_offset("css_set", "dfl_cgrp")?,
        cgroup_level: btf.field_offset("cgroup", "level")?,
        cgroup_kn: btf.field_offset("cgroup", "kn")?,
        kernfs_node_id: btf.field_offset("kernfs_node", "id")?,
        regs_syscall_nr: if cfg!(target_arch = "aarch64") {
            btf.field_offset("pt_regs", "syscallno")?
        } else {
            btf.field_offset("pt_regs", "orig_ax")?
        },
        kernfs_node_parent: btf
            .field_offset("kernfs_node", "__parent")
            .or_else(|_| btf.field_offset("kernfs_node", "parent"))?,
        task_pid: btf.field_offset("task_struct", "pid")?,
        task_real_parent: btf.field_offset("task_struct", "real_parent")?,
        task_exit_code: btf.field_offset("task_struct", "exit_code")?,
        task_start_time: btf.field_offset("task_struct", "start_time")?,
        task_comm: btf.field_offset("task_struct", "comm")?,
        // Optional: only a run under a seccomp profile reads it.
        task_seccomp_mode: btf
            .field_offset("task_struct", "seccomp")
            .and_then(|s| Ok(s + btf.field_offset("seccomp", "mode")?))
            .unwrap_or(0),
        task_files: btf.field_offset("task_struct", "files")?,
        files_fdt: btf.field_offset("files_struct", "fdt")?,
        fdt_max_fds: btf.field_offset("fdtable", "max_fds")?,
        fdt_fd: btf.field_offset("fdtable", "fd")?,
        file_f_op: btf.field_offset("file", "f_op")?,
        file_f_inode: btf.field_offset("file", "f_inode")?,
        file_private_data: btf.field_offset("file", "private_data")?,
        inode_i_mode: btf.field_offset("inode", "i_mode")?,
        inode_i_rdev: btf.field_offset("inode", "i_rdev")?,
        inode_i_sb: btf.field_offset("inode", "i_sb")?,
        sb_s_magic: btf.field_offset("super_block", "s_magic")?,
        fops_release: btf.field_offset("file_operations", "release")?,
        socket_ops: btf.field_offset("socket", "ops")?,
        socket_sk: btf.field_offset("socket", "sk")?,
        sk_family: btf.field_offset("sock", "__sk_common")?
            + btf.field_offset("sock_common", "skc_family")?,
        sk_type: btf.field_offset("sock", "sk_type")?,
        sk_protocol: btf.field_offset("sock", "sk_protocol")?,
        regs_args: regs_args(btf, Abi::Native)?,
        regs_compat_args: regs_args(btf, Abi::Compat)?,
        regs_exit_arg0: regs_exit_arg0(btf, Abi::Native)?,
        regs_compat_exit_arg0: regs_exit_arg0(btf, Abi::Compat)?,
        // Optional: without them (bi_bdev is Linux 5.12's) block I/O is not counted.
        bio_bdev: btf.field_offset("bio", "bi_bdev").unwrap_or(0),
        bio_opf: btf.field_offset("bio", "bi_opf").unwrap_or(0),
        bio_size: btf
            .field_offset("bio", "bi_iter")
            .and_then(|i| Ok(i + btf.field_offset("bvec_iter", "bi_size")?))
            .unwrap_or(0),
        bdev_dev: btf.field_offset("block_device", "bd_dev").unwrap_or(0),
        vma_file: btf.field_offset("vm_area_struct", "vm_file")?,
        vma_start: btf.field_offset("vm_area_struct", "vm_start")?,
        vma_end: btf.field_offset("vm_area_struct", "vm_end")?,
        task_mm: btf.field_offset("task_struct", "mm")?,
        // Optional: without it every fault of a traced task looks its area up.
        mm_lock_seq: btf.field_offset("mm_struct", "mm_lock_seq").unwrap_or(0),
        // Optional: a kernel without io_uring has no io_kiocb.
        req_opcode: btf.field_offset("io_kiocb", "opcode").unwrap_or(0),
        req_file: btf.field_offset("io_kiocb", "file").unwrap_or(0),
        req_ctx: btf.field_offset("io_kiocb", "ctx").unwrap_or(0),
        complete_has_cqe: u32::from(btf.tracepoint_args("io_uring_complete") == Some(3)),
        cqe_res: btf.field_offset("io_uring_cqe", "res").unwrap_or(0),
        cqe_flags: btf.field_offset("io_uring_cqe", "flags").unwrap_or(0),
    })
}

/// Where `pt_regs` holds the six syscall arguments of `abi` (the registers of the
/// calling conventions in arch/x86/entry/entry_64.S and entry_64_compat.S; on arm64,
/// x0..x5).
fn regs_args(btf: &btf::Btf, abi: Abi) -> Result<[u32; 6]> {
    let names: [&str; 6] = match (cfg!(target_arch = "aarch64"), abi) {
        (true, _) => {
            let regs = btf.field_offset("pt_regs", "regs")?;
            return Ok(std::array::from_fn(|i| regs + 8 * i as u32));
        }
        (false, Abi::Native) => ["di", "si", "dx", "r10", "r8", "r9"],
        (false, Abi::Compat) => ["bx", "cx", "dx", "si", "di", "bp"],
    };
    let mut out = [0; 6];
    for (o, name) in out.iter_mut().zip(names) {
        *o = btf.field_offset("pt_regs", name)?;
    }
    Ok(out)
}

/// Where `pt_regs` holds the first syscall argument at `sys_exit`: arm64 returns the
/// result in x0 (arch/arm64/kernel/syscall.c) and keeps the argument in `orig_x0`.
fn regs_exit_arg0(btf: &btf::Btf, abi: Abi) -> Result<u32> {
    if cfg!(target_arch = "aarch64") {
        btf.field_offset("pt_regs", "orig_x0")
    } else {
        Ok(regs_args(btf, abi)?[0])
    }
}
