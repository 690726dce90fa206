//! What the kernel side (`wl-ebpf`) and the loader (`wl-user`) must agree on: map names,
//! the layout of every map key and value, the load-time settings and the ABI numbering.
//!
//! Every type here is `#[repr(C)]`, has no `bool` and no implicit padding, so both sides
//! see the same bytes.
#![no_std]

/// Syscall numbers per ABI that get their own statistics slot. x86_64, i386, aarch64
/// and arm all end below 470 on Linux 6.18; a number at or above this is counted in
/// [`Lost::NrOutOfRange`] instead of being dropped silently (but for arm's private
/// calls, see [`slot_nr`]).
pub const NR_PER_ABI: u32 = 512;

/// The system-call ABIs a task can enter the kernel through.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Abi {
    /// The machine's own ABI (x86_64's `syscall` instruction, aarch64's `svc`).
    Native = 0,
    /// The 32-bit compat ABI of a 64-bit kernel (i386 on x86_64, 32-bit arm on arm64).
    Compat = 1,
}

impl Abi {
    pub const COUNT: u32 = 2;

    pub const fn from_index(i: u32) -> Option<Abi> {
        match i {
            0 => Some(Abi::Native),
            1 => Some(Abi::Compat),
            _ => None,
        }
    }
}

/// Entries of the [`STATS_MAP`] per-CPU array: one per (ABI, syscall number).
pub const STATS_ENTRIES: u32 = NR_PER_ABI * Abi::COUNT;

/// The index of a syscall's slot in [`STATS_MAP`].
#[inline(always)]
pub const fn stats_slot(abi: Abi, nr: u32) -> u32 {
    abi as u32 * NR_PER_ABI + nr
}

/// arm's private calls (`__ARM_NR_BASE` + n in arch/arm/include/uapi/asm/unistd.h;
/// arm64 serves `cacheflush`, +2, and `set_tls`, +5, for 32-bit tasks), which every
/// 32-bit arm C library makes at start (`set_tls`).
pub const ARM_PRIVATE_BASE: u32 = 0x000f_0000;
/// How many of them have a slot: on arm64 they take the compat ABI's last numbers,
/// which arm's table (ending below 470) leaves free.
pub const ARM_PRIVATE_COUNT: u32 = 8;
const ARM_PRIVATE_FIRST: u32 = NR_PER_ABI - ARM_PRIVATE_COUNT;

/// The number call `id` is kept under in its ABI's slots; `None` past them (counted in
/// [`Lost::NrOutOfRange`]). `arm64_compat`: the call is a 32-bit arm task's on arm64,
/// whose private calls take the last numbers (and only they).
#[inline(always)]
pub const fn slot_nr(arm64_compat: bool, id: u64) -> Option<u32> {
    if !arm64_compat {
        return if id < NR_PER_ABI as u64 {
            Some(id as u32)
        } else {
            None
        };
    }
    if id < ARM_PRIVATE_FIRST as u64 {
        Some(id as u32)
    } else if id >= ARM_PRIVATE_BASE as u64 && id < (ARM_PRIVATE_BASE + ARM_PRIVATE_COUNT) as u64 {
        Some(ARM_PRIVATE_FIRST + (id - ARM_PRIVATE_BASE as u64) as u32)
    } else {
        None
    }
}

/// Whether a reader (wl-user, built for the machine it runs on) sees `abi`'s slots
/// as a 32-bit arm task's on arm64.
const fn reader_arm64_compat(abi: u32) -> bool {
    cfg!(target_arch = "aarch64") && abi == Abi::Compat as u32
}

/// The slot of call `nr` of `abi` on the machine reading the maps, if it has one.
pub const fn syscall_slot(abi: Abi, nr: u32) -> Option<u32> {
    match slot_nr(reader_arm64_compat(abi as u32), nr as u64) {
        Some(n) => Some(stats_slot(abi, n)),
        None => None,
    }
}

/// The inverse of [`syscall_slot`]: a slot's ABI index and call number.
pub const fn slot_syscall(slot: u32) -> (u32, u32) {
    let (abi, nr) = (slot / NR_PER_ABI, slot % NR_PER_ABI);
    if reader_arm64_compat(abi) && nr >= ARM_PRIVATE_FIRST {
        (abi, ARM_PRIVATE_BASE + nr - ARM_PRIVATE_FIRST)
    } else {
        (abi, nr)
    }
}

/// Buckets of the per-syscall latency histogram. Bucket `b` counts calls that took
/// `[2^(b-1), 2^b)` ns (bucket 0: under 1 ns); the last one also takes everything longer.
pub const LATENCY_BUCKETS: usize = 32;

/// What a set of calls came to: how many, how many failed, and the time they took. The
/// one counts record of every row, in the kernel and out: per syscall, per task, per
/// object, per cgroup, and the differences between two readings.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "user", derive(serde::Serialize, serde::Deserialize))]
pub struct Counts {
    pub calls: u64,
    /// Calls that returned a negative error number.
    pub errors: u64,
    /// Time in the timed calls, in ns (0 when calls are not timed).
    #[cfg_attr(feature = "user", serde(default))]
    pub total_ns: u64,
}

const _: () = assert!(core::mem::size_of::<Counts>() == 24);

impl core::ops::AddAssign for Counts {
    #[inline(always)]
    fn add_assign(&mut self, other: Counts) {
        self.calls += other.calls;
        self.errors += other.errors;
        self.total_ns += other.total_ns;
    }
}

impl core::ops::Add for Counts {
    type Output = Counts;

    #[inline(always)]
    fn add(mut self, other: Counts) -> Counts {
        self += other;
        self
    }
}

impl core::ops::Sub for Counts {
    type Output = Counts;

    /// What was added between two readings of counts that only grow (an earlier reading
    /// never exceeds a later one; if it did, the difference is 0, not a wrap).
    #[inline(always)]
    fn sub(self, earlier: Counts) -> Counts {
        Counts {
            calls: self.calls.saturating_sub(earlier.calls),
            errors: self.errors.saturating_sub(earlier.errors),
            total_ns: self.total_ns.saturating_sub(earlier.total_ns),
        }
    }
}

impl core::iter::Sum for Counts {
    fn sum<I: Iterator<Item = Counts>>(iter: I) -> Counts {
        iter.fold(Counts::default(), |a, b| a + b)
    }
}

/// The log2 bucket of a duration in ns: its number of significant bits, capped at the
/// last bucket, so that bucket `b` holds `[2^(b-1), 2^b)`. Written as comparisons
/// rather than `leading_zeros`, which BPF lacks: LLVM's expansion of it hides the
/// result's bounds from the verifier.
#[inline(always)]
pub fn latency_bucket(ns: u64) -> usize {
    const LAST: usize = LATENCY_BUCKETS - 1;
    if ns >> LAST != 0 {
        return LAST;
    }
    let (mut v, mut bits) = (ns, 0);
    for shift in [16, 8, 4, 2, 1] {
        if v >> shift != 0 {
            v >>= shift;
            bits += shift;
        }
    }
    bits + v as usize
}

/// The error number a syscall's return value carries, if it failed: -1..-4095
/// (include/linux/err.h, MAX_ERRNO).
#[inline(always)]
pub fn errno_of(ret: i64) -> Option<u32> {
    (-4095..0).contains(&ret).then_some((-ret) as u32)
}

/// Per-CPU counters of one syscall of one ABI: what every traced call updates. Kept
/// small, since the map holds one per slot per possible CPU (40 bytes × 1024 slots:
/// 10 MiB on a 256-CPU machine); the histogram lives in a shared map instead.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SyscallStats {
    pub counts: Counts,
    pub max_ns: u64,
    /// The shortest call as `!ns` (bitwise not), so that the map's zero means "none
    /// yet" and the minimum is kept as a maximum: [`SyscallStats::min_ns`] reads it.
    pub min_ns_inverted: u64,
}

impl SyscallStats {
    /// The shortest timed call, if any call was timed.
    pub const fn min_ns(&self) -> Option<u64> {
        if self.min_ns_inverted == 0 {
            None
        } else {
            Some(!self.min_ns_inverted)
        }
    }
}

/// The latency histogram of one syscall of one ABI, shared by all CPUs and updated with
/// atomic adds: per CPU it would be 256 bytes × 1024 slots × every possible CPU. Its
/// buckets add up to the number of timed calls.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LatencyHistogram {
    pub buckets: [u64; LATENCY_BUCKETS],
}

/// Key of [`ERRNO_MAP`]: which syscall failed, and how.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrnoKey {
    /// The syscall's [`stats_slot`].
    pub slot: u32,
    /// The positive error number (`ENOENT` = 2).
    pub errno: u32,
}

/// Entries of the errno hash, shared by all CPUs; one per distinct (syscall, errno) pair.
pub const ERRNO_ENTRIES: u32 = 4096;

/// Declares [`Lost`] from one list: each reason's number, name and meaning, so that a new
/// reason is one line here.
macro_rules! lost_reasons {
    ($($(#[doc = $doc:literal])* $variant:ident = $n:literal, $name:literal;)*) => {
        /// What the kernel side could not record, counted per CPU in the lost map so the
        /// report can say so.
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Lost {
            $($(#[doc = $doc])* $variant = $n,)*
        }

        impl Lost {
            pub const ALL: &[Lost] = &[$(Lost::$variant),*];
            pub const COUNT: u32 = Lost::ALL.len() as u32;

            /// The reason's name in reports (`lost` in JSON).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Lost::$variant => $name,)*
                }
            }
        }
    };
}

lost_reasons! {
    /// A traced syscall entry for which no per-task slot could be created: its exit
    /// cannot be timed or counted.
    NoTaskSlot = 0, "no_task_slot";
    /// A failed call whose (syscall, errno) pair did not fit in the errno map; the call
    /// and its error are still counted, only the errno breakdown misses it.
    ErrnoMapFull = 1, "errno_map_full";
    /// A syscall number outside the table (at or above [`NR_PER_ABI`], or negative).
    NrOutOfRange = 2, "nr_out_of_range";
    /// A new process of a traced tree that did not fit in the traced-pid map.
    PidMapFull = 3, "pid_map_full";
    /// With `--by`: calls of tasks that did not fit in the per-task map, counted under
    /// "others" instead (the totals keep them).
    TaskMapFull = 4, "task_map_full";
    /// With `--by`: tasks that exited when the map of exited tasks was full; their
    /// numbers stay, their name and exit status are unknown.
    TaskExitMapFull = 5, "task_exit_map_full";
    /// Calls whose (syscall, object, command) key did not fit in the object map; they
    /// are counted per syscall under "other objects" instead (the totals keep them).
    ObjectMapFull = 6, "object_map_full";
    /// `serve`: calls of a cgroup that did not fit in the cgroup map (`--max-cgroups`);
    /// they are counted per syscall under "others" instead (the totals keep them).
    CgroupMapFull = 7, "cgroup_map_full";
    /// `serve`: calls whose (cgroup, syscall) pair did not fit in the per-cgroup map
    /// (`--max-series`); counted per syscall under "others" instead.
    CgroupSeriesFull = 8, "cgroup_series_full";
    /// `serve`: failed calls whose (cgroup, syscall, errno) did not fit in the
    /// per-cgroup errno map; the call and its error are still counted.
    CgroupErrnoMapFull = 9, "cgroup_errno_map_full";
    /// Bios whose (device, operation) pair did not fit in the block map.
    BlockMapFull = 10, "block_map_full";
    /// Handled page faults whose key did not fit in the fault map: counted in the
    /// total, not as minor or major.
    FaultMapFull = 11, "fault_map_full";
    /// io_uring completions whose (operation, object) did not fit in the io_uring map;
    /// counted under their operation's "other objects".
    IoUringMapFull = 12, "io_uring_map_full";
    /// io_uring failures whose (operation, errno) did not fit in the errno map.
    IoUringErrnoMapFull = 13, "io_uring_errno_map_full";
    /// io_uring rings of traced tasks past [`IO_URING_RINGS`]: their operations are not
    /// counted (each such ring once per submission that found no room).
    IoUringRingMapFull = 14, "io_uring_ring_map_full";
    /// `wl-user serve`: events or io_uring completions of a (cgroup, kind) the
    /// per-cgroup event maps had no room for, or of a cgroup past `--max-cgroups`: not
    /// counted.
    CgroupEventsFull = 15, "cgroup_events_full";
    /// With `--by` and events: events, io_uring submissions or completions of a
    /// (thread, kind, detail) the per-task event maps had no room for: counted in the
    /// report's totals, not in any task's.
    TaskEventsFull = 16, "task_events_full";
    /// `--profile`: kernel-mode samples whose stack hashed to a stack-map bucket that
    /// holds another stack: not in the profile, counted here.
    ProfileStackCollision = 17, "profile_stack_collision";
    /// `--profile`: kernel-mode samples whose stack the stack map could not take for
    /// another reason than a collision (none expected: it has an element for every
    /// bucket).
    ProfileStackMapFull = 18, "profile_stack_map_full";
}

/// What the kernel side resolves for one syscall, indexed by [`stats_slot`] in the
/// object-spec map: which argument is a file descriptor, which carry a command, and
/// which operation of the file (or socket) serves the call. Filled in by the loader
/// from wl-user's syscall knowledge. An all-zero slot (every syscall the loader does
/// not fill) resolves nothing: the syscall is counted as before.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObjectSpec {
    /// 1 + the argument (0..6) holding a file descriptor, or [`ObjectSpec::NO_ARG`]
    /// (see [`ObjectSpec::arg`]).
    pub fd_arg: u8,
    /// 1 + the argument holding a command (ioctl request, fcntl cmd, futex op, ...).
    pub cmd_arg: u8,
    /// 1 + a second command argument (setsockopt's optname, socket's type).
    pub cmd2_arg: u8,
    pub _pad: u8,
    /// What of the command argument is kept (futex: the op without its flags).
    pub cmd_mask: u32,
    pub cmd2_mask: u32,
    /// Offset in `struct file_operations` of the member that serves the call (`read`,
    /// `unlocked_ioctl`, ...), and of the one used when that is null (`read_iter`);
    /// [`ObjectSpec::NO_MEMBER`] for none.
    pub fop: u16,
    pub fop_fallback: u16,
    /// For sockets: offset in `struct proto_ops` of the member that serves the call
    /// (`sendmsg`, `connect`, ...), used instead of the file's.
    pub sock_op: u16,
    pub _pad2: u16,
}

impl ObjectSpec {
    /// No such argument: zero, so that an unfilled slot resolves nothing.
    pub const NO_ARG: u8 = 0;
    pub const NO_MEMBER: u16 = 0xffff;
    pub const NONE: ObjectSpec = ObjectSpec {
        fd_arg: Self::NO_ARG,
        cmd_arg: Self::NO_ARG,
        cmd2_arg: Self::NO_ARG,
        _pad: 0,
        cmd_mask: 0,
        cmd2_mask: 0,
        fop: Self::NO_MEMBER,
        fop_fallback: Self::NO_MEMBER,
        sock_op: Self::NO_MEMBER,
        _pad2: 0,
    };

    /// How argument `index` (0-based) is written in a spec.
    pub const fn arg(index: u8) -> u8 {
        index + 1
    }

    pub const fn resolves_anything(&self) -> bool {
        self.fd_arg != Self::NO_ARG || self.cmd_arg != Self::NO_ARG
    }
}

/// What an [`ObjectKey`] found behind the fd argument.
pub mod object {
    /// The syscall has no fd argument: only its command is known.
    pub const NONE: u32 = 0;
    /// The fd was not open (the call fails with EBADF), or was closed by another thread
    /// before it could be read.
    pub const NO_FILE: u32 = 1;
    /// A file that is not a socket: `fs_magic`, `mode`, `rdev` are set.
    pub const FILE: u32 = 2;
    /// A socket: `mode`, `family`, `sock_type`, `protocol` are set.
    pub const SOCKET: u32 = 3;
    /// The fd's file could not be read (a kernel read failed).
    pub const UNREADABLE: u32 = 4;
    /// Never in the kernel's map: how the loader files a syscall's calls whose key did
    /// not fit in it.
    pub const OTHERS: u32 = u32::MAX;
}

/// Key of the object map: one syscall on one kind of kernel object with one command.
/// Fields that do not apply are zero; [`ObjectKey::handler`] and
/// [`ObjectKey::type_fn`] are kernel text addresses that user space names with
/// /proc/kallsyms (the operation tables they come from are data, which kallsyms
/// does not list).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    /// The syscall's [`stats_slot`].
    pub slot: u32,
    /// [`object`]`::*`.
    pub kind: u32,
    /// FILE: its superblock's `s_magic` (include/uapi/linux/magic.h).
    pub fs_magic: u32,
    /// FILE, character or block device: the kernel's `dev_t` (major = `rdev >> 20`,
    /// minor = `rdev & 0xfffff`).
    pub rdev: u32,
    /// FILE and SOCKET: `i_mode & S_IFMT` (include/uapi/linux/stat.h).
    pub mode: u16,
    /// SOCKET: `sk_family`, `sk_type`, `sk_protocol`.
    pub family: u16,
    pub sock_type: u16,
    pub protocol: u16,
    /// The command arguments after [`ObjectSpec::cmd_mask`], when the syscall has them.
    pub cmd: u32,
    pub cmd2: u32,
    /// The function the operation dispatches to (`pipe_read`, `sock_ioctl`,
    /// `unix_stream_sendmsg`); 0 when the spec names no member or it is null.
    pub handler: u64,
    /// The file's `f_op->release`: names the file's type where the superblock does
    /// not (anon inodes: `eventfd_release`, `ep_eventpoll_release`, ...); 0 if null.
    pub type_fn: u64,
}

/// Capacity of the object map, in distinct (syscall, object, command) keys; calls
/// beyond it are counted per syscall in the object-others map and in
/// [`Lost::ObjectMapFull`].
pub const OBJECT_ENTRIES: u32 = 16384;

/// Capacity of [`TRACED_TGIDS`]: processes a pid-tree trace can follow at once.
pub const TRACED_TGIDS_ENTRIES: u32 = 65536;

/// The most pids the traced-pid bitmap covers (PID_MAX_LIMIT on 64-bit kernels): the
/// loader sizes it to the machine's `pid_max`, 64 pids a word.
pub const TRACED_BITS_MAX_PIDS: u32 = 4 * 1024 * 1024;

/// The syscall a task is in, kept per task between `sys_enter` and `sys_exit`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct InFlight {
    pub start_ns: u64,
    /// The syscall's [`stats_slot`], or [`InFlight::IDLE`] outside a traced call.
    pub slot: u32,
    /// With sampled latency: calls of this task left until the next timed one.
    pub countdown: u32,
    /// 1 when `object` holds what the call's fd and command resolved to at entry
    /// (kept until the exit: the call itself may close the fd).
    pub has_object: u32,
    pub _pad: u32,
    pub object: ObjectKey,
    /// With events: when the task last left the CPU to wait (blocked), 0 when it is not
    /// waiting; the switch back in adds the wait to [`event::SWITCH_VOLUNTARY`]'s time.
    pub blocked_since_ns: u64,
}

impl InFlight {
    pub const IDLE: u32 = u32::MAX;
    /// `start_ns` of a call that is counted but not timed (sampled latency).
    pub const UNTIMED: u64 = 0;
}

/// Where a kernel structure field sits, found in the running kernel's BTF at load time.
/// The kernel side reads `task_struct` fields through these offsets.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    /// `task_struct.tgid`
    pub task_tgid: u32,
    /// `task_struct.signal`
    pub task_signal: u32,
    /// `signal_struct.live` (an `atomic_t`)
    pub signal_live: u32,
    /// The `task_struct.thread_info` word that says a task's syscall is a compat one:
    /// `.status` on x86 ([`X86_TS_COMPAT`]), `.flags` on arm64 ([`ARM64_TIF_32BIT`]).
    pub task_compat_word: u32,
    /// `task_struct.bpf_storage`: null while a task has no local storage at all.
    pub task_bpf_storage: u32,
    /// `task_struct.cgroups` (a `css_set *`)
    pub task_cgroups: u32,
    /// `css_set.dfl_cgrp`: the task's cgroup v2
    pub css_set_dfl_cgrp: u32,
    /// `cgroup.level`
    pub cgroup_level: u32,
    /// `cgroup.kn`: the cgroup's directory in kernfs
    pub cgroup_kn: u32,
    /// `kernfs_node.id`: the cgroup id user space sees as the directory's inode
    pub kernfs_node_id: u32,
    /// `kernfs_node.__parent` (`parent` before Linux 6.15): the parent cgroup's directory
    pub kernfs_node_parent: u32,
    /// The syscall number in `pt_regs` (`orig_ax` on x86, `syscallno` on arm64); read
    /// as its low 32 bits.
    pub regs_syscall_nr: u32,
    /// `task_struct.seccomp.mode`; 0 where the kernel has no seccomp (only read when
    /// counting what a seccomp profile denies).
    pub task_seccomp_mode: u32,
    /// `task_struct.pid` (the thread id), `.real_parent`, `.exit_code`, `.start_time`
    /// and `.comm`: what `--by` keeps of a task at its exit.
    pub task_pid: u32,
    pub task_real_parent: u32,
    pub task_exit_code: u32,
    pub task_start_time: u32,
    pub task_comm: u32,
    /// What object resolution reads, from the task's fd table to the file, its inode,
    /// superblock and operations, and for sockets the socket and its `sock`:
    /// `task_struct.files`, `files_struct.fdt`, `fdtable.max_fds`, `fdtable.fd`,
    pub task_files: u32,
    pub files_fdt: u32,
    pub fdt_max_fds: u32,
    pub fdt_fd: u32,
    /// `file.f_op`, `.f_inode`, `.private_data` (a `struct socket *` for sockets),
    pub file_f_op: u32,
    pub file_f_inode: u32,
    pub file_private_data: u32,
    /// `inode.i_mode`, `.i_rdev`, `.i_sb`, `super_block.s_magic`,
    pub inode_i_mode: u32,
    pub inode_i_rdev: u32,
    pub inode_i_sb: u32,
    pub sb_s_magic: u32,
    /// `file_operations.release`,
    pub fops_release: u32,
    /// `socket.ops`, `socket.sk`, `sock.__sk_common.skc_family`, `sock.sk_type`,
    /// `sock.sk_protocol`.
    pub socket_ops: u32,
    pub socket_sk: u32,
    pub sk_family: u32,
    pub sk_type: u32,
    pub sk_protocol: u32,
    /// The six syscall arguments in `pt_regs`, for the native ABI and the compat one
    /// (x86_64: di si dx r10 r8 r9; i386: bx cx dx si di bp; arm64: regs[0..6]).
    pub regs_args: [u32; 6],
    pub regs_compat_args: [u32; 6],
    /// Where the first argument is at `sys_exit`, natively and in compat: arm64's
    /// syscall return overwrites x0, the argument stays in `orig_x0`; on x86 it is
    /// where it was at entry.
    pub regs_exit_arg0: u32,
    pub regs_compat_exit_arg0: u32,
    /// What block I/O accounting reads of a bio: `bio.bi_bdev`, `.bi_opf`,
    /// `.bi_iter.bi_size`, and `block_device.bd_dev`.
    pub bio_bdev: u32,
    pub bio_opf: u32,
    pub bio_size: u32,
    pub bdev_dev: u32,
    /// `vm_area_struct.vm_file`: the file a faulting address maps, null for anonymous
    /// memory; `.vm_start`, `.vm_end`: the area's addresses.
    pub vma_file: u32,
    pub vma_start: u32,
    pub vma_end: u32,
    /// `task_struct.mm`, and `mm_struct.mm_lock_seq`: a count that moves whenever the
    /// memory map changes (Linux 6.4's per-area locks; 0 where the kernel has none).
    pub task_mm: u32,
    pub mm_lock_seq: u32,
    /// io_uring's request: `io_kiocb.opcode`, `.file` (0 where the kernel has no
    /// io_uring: its operations are not counted).
    pub req_opcode: u32,
    pub req_file: u32,
    /// `io_kiocb.ctx`: the request's ring.
    pub req_ctx: u32,
    /// Whether `io_uring_complete` passes the completion as `struct io_uring_cqe *`
    /// (ctx, req, cqe: Linux 6.3 and later) rather than its fields one by one (ctx,
    /// req, user_data, res, cflags, ...); then `io_uring_cqe.res` and `.flags`.
    pub complete_has_cqe: u32,
    pub cqe_res: u32,
    pub cqe_flags: u32,
}

impl KernelOffsets {
    /// Before the loader sets them.
    pub const UNSET: KernelOffsets = KernelOffsets {
        task_tgid: 0,
        task_signal: 0,
        signal_live: 0,
        task_compat_word: 0,
        task_bpf_storage: 0,
        task_cgroups: 0,
        css_set_dfl_cgrp: 0,
        cgroup_level: 0,
        cgroup_kn: 0,
        kernfs_node_id: 0,
        kernfs_node_parent: 0,
        regs_syscall_nr: 0,
        task_seccomp_mode: 0,
        task_pid: 0,
        task_real_parent: 0,
        task_exit_code: 0,
        task_start_time: 0,
        task_comm: 0,
        task_files: 0,
        files_fdt: 0,
        fdt_max_fds: 0,
        fdt_fd: 0,
        file_f_op: 0,
        file_f_inode: 0,
        file_private_data: 0,
        inode_i_mode: 0,
        inode_i_rdev: 0,
        inode_i_sb: 0,
        sb_s_magic: 0,
        fops_release: 0,
        socket_ops: 0,
        socket_sk: 0,
        sk_family: 0,
        sk_type: 0,
        sk_protocol: 0,
        regs_args: [0; 6],
        regs_compat_args: [0; 6],
        regs_exit_arg0: 0,
        regs_compat_exit_arg0: 0,
        bio_bdev: 0,
        bio_opf: 0,
        bio_size: 0,
        bdev_dev: 0,
        vma_file: 0,
        vma_start: 0,
        vma_end: 0,
        task_mm: 0,
        mm_lock_seq: 0,
        req_opcode: 0,
        req_file: 0,
        req_ctx: 0,
        complete_has_cqe: 0,
        cqe_res: 0,
        cqe_flags: 0,
    };
}

/// How many levels below the traced cgroup the kernel side follows kernfs parents by
/// itself; deeper tasks are checked with the `bpf_get_current_ancestor_cgroup_id` helper.
pub const CGROUP_WALK_MAX: u32 = 16;

/// With sampled latency, a syscall is timed on every call until it has been called
/// this many times on a CPU: rare syscalls keep exact latencies.
pub const ALWAYS_TIMED_CALLS: u64 = 64;

/// `SECCOMP_MODE_DEAD` in `task_struct.seccomp.mode`: set on the task a seccomp filter
/// is killing for a denied call (kernel/seccomp.c).
pub const SECCOMP_MODE_DEAD: u32 = 3;

/// x86's `TS_COMPAT` in `thread_info.status`: the task is in a 32-bit syscall.
pub const X86_TS_COMPAT: u32 = 0x0002;

/// arm64's `TIF_32BIT` in `thread_info.flags`: the task runs 32-bit arm code, whose
/// syscalls all go through the compat table (arch/arm64/include/asm/thread_info.h).
pub const ARM64_TIF_32BIT: u32 = 1 << 22;

/// Whom each call is also counted for (`--by`), set at load time in [`names::BY`].
pub mod by {
    pub const NONE: u32 = 0;
    /// Per process (tgid): a process's numbers sum its threads.
    pub const PROCESS: u32 = 1;
    /// Per thread (tid).
    pub const THREAD: u32 = 2;
}

/// The kernel side's load-time settings, one read-only global (`SETTINGS`) that the
/// loader fills in before loading: the verifier then sees constants and drops the
/// branches that do not apply. What changes at run time is in maps.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// cgroup v2 id of the traced cgroup, compared with the current task's ancestor at
    /// `filter_cgroup_level`, so tasks in its descendants are traced too.
    pub filter_cgroup_id: u64,
    /// [`filter::CGROUP`] or [`filter::PIDS`]; 0 traces nothing.
    pub filter_mode: u32,
    pub filter_cgroup_level: u32,
    /// In `filter::CGROUP` mode: wl-user's own tgid, left out when it sits in the traced
    /// cgroup (the root of the hierarchy, or the cgroup wl-user runs in).
    pub excluded_tgid: u32,
    /// In `filter::PIDS` mode: 1 to add every new process a traced process forks.
    pub follow_children: u32,
    /// Benchmark switch: 1 makes every program return at once, to measure the floor
    /// cost of having programs on the syscall tracepoints at all.
    pub noop: u32,
    /// 1: time every call (task storage and two clock reads per call). 0: count calls
    /// at entry and errors at exit, with no per-task state: the cheapest way to trace.
    pub timed: u32,
    /// With `timed`: time one call in this many per task (1: every call); the others
    /// are counted without clock reads. See [`ALWAYS_TIMED_CALLS`] for the rare ones.
    pub latency_sample: u32,
    /// 1 when the workload runs under a seccomp profile wl-user applied: count the
    /// calls the profile stops.
    pub count_denied: u32,
    /// [`by::NONE`], [`by::PROCESS`] or [`by::THREAD`]: also count each call for the
    /// thread that made it (user space sums threads into processes).
    pub by: u32,
    /// 1: resolve what the object-spec map names for each traced call (its fd's
    /// object, its command) and count calls per object.
    pub objects: u32,
    /// 1 in `wl-user serve`: count per (cgroup, syscall) instead, and nothing else.
    pub per_cgroup: u32,
    /// Offset of `cgroup.root` (a `struct cgroup_root *`, `wl-user serve` only): tells
    /// a cgroup v2 from a v1 one at removal, since the two hierarchies number their
    /// directories independently.
    pub cgroup_root_offset: u32,
    /// 1 (`--syscall`): count only the syscalls whose [`stats_slot`] bit is set in
    /// `syscalls`; the others leave at entry, neither timed nor resolved.
    pub only_syscalls: u32,
    /// 1 (`--failed`, `--errno`): count only calls that failed, at their exit.
    pub only_failed: u32,
    /// 1 (`--errno`): of the failures, only those whose errno's bit is set in `errnos`.
    pub only_errnos: u32,
    /// 1: count the traced tasks' [`event`]s (signals, context switches).
    pub events: u32,
    /// The syscalls `only_syscalls` counts: one bit per [`stats_slot`].
    pub syscalls: [u64; STATS_ENTRIES as usize / 64],
    /// The errnos `only_errnos` counts: one bit per errno below [`FILTER_ERRNOS`].
    pub errnos: [u64; FILTER_ERRNOS as usize / 64],
}

/// Errnos that `--errno` can name: Linux's go up to 133 (EHWPOISON); the kernel's own
/// above 511 never reach user space.
pub const FILTER_ERRNOS: u32 = 256;

const _: () = assert!(
    core::mem::size_of::<Settings>()
        == 8 + 16 * 4 + STATS_ENTRIES as usize / 8 + FILTER_ERRNOS as usize / 8
);

/// Sets bit `i` of `words`; false if it lies past the end.
pub fn set_bit(words: &mut [u64], i: u32) -> bool {
    match words.get_mut((i / 64) as usize) {
        Some(w) => {
            *w |= 1 << (i % 64);
            true
        }
        None => false,
    }
}

impl Settings {
    /// What the object file holds before the loader writes: nothing traced.
    pub const DEFAULT: Settings = Settings {
        filter_cgroup_id: 0,
        filter_mode: 0,
        filter_cgroup_level: 0,
        excluded_tgid: 0,
        follow_children: 1,
        noop: 0,
        timed: 1,
        latency_sample: 1,
        count_denied: 0,
        by: by::NONE,
        objects: 0,
        per_cgroup: 0,
        cgroup_root_offset: 0,
        only_syscalls: 0,
        only_failed: 0,
        only_errnos: 0,
        events: 0,
        syscalls: [0; STATS_ENTRIES as usize / 64],
        errnos: [0; FILTER_ERRNOS as usize / 64],
    };
}

/// Key of the per-task map: a process or thread, and a syscall's [`stats_slot`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TaskKey {
    pub id: u32,
    pub slot: u32,
}

/// Per CPU, the (thread, syscall) pair counted last and what it has gathered since it
/// came: a loop of one syscall updates it in place, and the per-task map is touched
/// only when the pair changes. Readers add it to the map's numbers.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TaskCache {
    pub key: TaskKey,
    pub counts: Counts,
}

/// What the kernel side keeps of a traced task when it exits: short-lived processes are
/// gone from /proc by the time of the report.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TaskExit {
    /// The task's process (tgid); the task's own id is the map's key.
    pub tgid: u32,
    /// The parent's tgid at exit (after any re-parenting).
    pub ppid: u32,
    /// `task_struct.exit_code`: `status << 8`, or the killing signal in the low 7 bits.
    pub exit_code: u32,
    pub _pad: u32,
    /// `task_struct.start_time`: ns since boot (CLOCK_MONOTONIC).
    pub start_ns: u64,
    pub comm: [u8; 16],
}

/// Capacity of the per-task map, in (task, syscall) pairs, and of the map of exited
/// tasks; what does not fit is counted under "others".
pub const TASK_ENTRIES: u32 = 65536;

/// `wl-user serve`: key of the per-cgroup map, one (cgroup v2, syscall) pair.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CgroupSyscallKey {
    /// The cgroup v2 id (`bpf_get_current_cgroup_id()`, the directory's inode).
    pub cgroup_id: u64,
    /// The syscall's [`stats_slot`].
    pub slot: u32,
    pub _pad: u32,
}

/// `wl-user serve`: what one cgroup made of one syscall. Shared by all CPUs and updated
/// with atomic adds: per CPU, 1,000 cgroups × 100 syscalls would take 7 GiB at 256 CPUs.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CgroupSyscallCounts {
    /// `total_ns` is the time in the timed calls (all but exit/exit_group); 0 with
    /// `--no-latency`.
    pub counts: Counts,
    /// As [`LatencyHistogram`]: the buckets add up to the timed calls.
    pub latency_log2: [u64; LATENCY_BUCKETS],
}

/// `wl-user serve`, per CPU: the (cgroup, syscall) pair counted last and what it gathered
/// since it came, not yet in the shared map; a loop of one syscall in one cgroup updates
/// it in place. Its series exists in the map (or is "others") from the moment it came,
/// so readers add `pending` to an entry they read: the map first, then this.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CgroupLast {
    /// The cgroup the calls were made in.
    pub cgroup_id: u64,
    /// Where they count: the pair's own series, or cgroup id 0 ("others").
    pub counted_as: CgroupSyscallKey,
    /// 1 while it holds a pair.
    pub valid: u32,
    /// Buckets of `pending.latency_log2` that are not zero, one bit each.
    pub touched: u32,
    /// With "others": the [`Lost`] reason its calls are counted under, else 0.
    pub lost: u32,
    pub _pad: u32,
    pub pending: CgroupSyscallCounts,
}

/// Entries of the per-CPU [`CgroupLast`] cache, a pair's by its syscall slot modulo
/// this.
pub const CGROUP_LAST_ENTRIES: u32 = 8;

impl Default for CgroupSyscallCounts {
    fn default() -> Self {
        CgroupSyscallCounts {
            counts: Counts::default(),
            latency_log2: [0; LATENCY_BUCKETS],
        }
    }
}

impl core::ops::AddAssign<&CgroupSyscallCounts> for CgroupSyscallCounts {
    fn add_assign(&mut self, other: &CgroupSyscallCounts) {
        self.counts += other.counts;
        for (b, n) in self.latency_log2.iter_mut().zip(&other.latency_log2) {
            *b += n;
        }
    }
}

/// `wl-user serve`: key of the per-cgroup errno map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CgroupErrnoKey {
    pub cgroup_id: u64,
    pub slot: u32,
    pub errno: u32,
}

/// Key of the maps of events counted per owner, one (owner, kind, detail) count (see
/// [`owner_event`]). The owner is a cgroup v2 id in `wl-user serve` (the task's
/// cgroup), a thread id with `--by` (the task's thread).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerEventKey {
    pub owner: u64,
    pub kind: u32,
    pub detail: u32,
}

/// The kinds of [`OwnerEventKey`], each with what its `detail` holds.
pub mod owner_event {
    /// The signal's number, counted for the task it was sent to.
    pub const SIGNAL: u32 = 1;
    /// [`VOLUNTARY`] or [`INVOLUNTARY`].
    pub const SWITCH: u32 = 2;
    pub const VOLUNTARY: u32 = 0;
    pub const INVOLUNTARY: u32 = 1;
    /// [`ALL_FAULTS`] (every fault, as it starts), [`MINOR`] or [`MAJOR`] (handled).
    pub const FAULT: u32 = 3;
    pub const ALL_FAULTS: u32 = 0;
    pub const MINOR: u32 = 1;
    pub const MAJOR: u32 = 2;
    /// The block operation (`REQ_OP_*`) of a bio submitted.
    pub const BLOCK: u32 = 4;
    /// With `--by`: the opcode of an io_uring request the thread submitted (per
    /// cgroup, completions only are counted).
    pub const IO_URING_SUBMIT: u32 = 5;
    /// With `--by`: a failed io_uring completion of a ring the thread owns, as
    /// [`io_uring_errno`] of its opcode and errno.
    pub const IO_URING_ERRNO: u32 = 6;

    /// The detail of an [`IO_URING_ERRNO`] event.
    pub const fn io_uring_errno(opcode: u32, errno: u32) -> u32 {
        (opcode << 16) | (errno & 0xffff)
    }

    /// The opcode and errno of an [`IO_URING_ERRNO`] event's detail.
    pub const fn io_uring_errno_of(detail: u32) -> (u32, u32) {
        (detail >> 16, detail & 0xffff)
    }
}

/// Key of the maps of io_uring completions counted per owner (as [`OwnerEventKey`]'s:
/// the cgroup, or the thread, that set the ring up or submitted to it first), by
/// opcode and object; `object.slot` is the opcode.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OwnerIoUringKey {
    pub owner: u64,
    pub object: ObjectKey,
}

/// With events, in `wl-user serve` and with `--by`: entries of the per-owner event and
/// io_uring maps each.
pub const OWNER_EVENT_ENTRIES: u32 = 16384;

/// Room for a removed cgroup's path in [`CgroupEntry`], with its NUL; longer paths
/// are cut (and [`CgroupEntry::path_len`] says so by being the full size).
pub const CGROUP_PATH_MAX: usize = 496;

/// `wl-user serve`: one cgroup the per-cgroup maps hold counts of, by id. Admitting a
/// cgroup here is what `--max-cgroups` bounds. When the cgroup is removed the kernel
/// side keeps its path, since user space may never have seen the directory.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CgroupEntry {
    /// 1 once the cgroup was removed: its counts are final.
    pub gone: u32,
    /// Bytes of `path` with its NUL, as `bpf_probe_read_kernel_str` returned them.
    pub path_len: u32,
    /// Path below the cgroup v2 root, `/system.slice/x.service`, set when removed.
    pub path: [u8; CGROUP_PATH_MAX],
}

/// `wl-user serve` default for `--max-cgroups`.
pub const DEFAULT_MAX_CGROUPS: u32 = 1000;
/// `wl-user serve` default for `--max-series`: (cgroup, syscall) pairs.
pub const DEFAULT_MAX_SERIES: u32 = 100_000;

/// Filter modes, set at load time in [`names::FILTER_MODE`].
pub mod filter {
    /// Trace the tasks of one cgroup v2 and its descendants.
    pub const CGROUP: u32 = 1;
    /// Trace the processes whose tgid is in [`super::TRACED_TGIDS`].
    pub const PIDS: u32 = 2;
}

/// Names of the kernel side's maps and load-time globals, as the loader looks them up.
/// Kernel work a workload causes that no syscall row shows, counted per kind and
/// detail in the events map ([`names::EVENT_MAP`], a [`Counts`] per slot): signals
/// delivered to traced tasks by number, and their context switches.
pub mod event {
    /// Signals 1..=64 are counted at their number.
    pub const SIGNALS: u32 = 65;
    /// A traced task left the CPU to wait (it blocked: sleep, I/O, a lock, a futex):
    /// `total_ns` is the time until it ran again.
    pub const SWITCH_VOLUNTARY: u32 = 65;
    /// A traced task was preempted while it could still run.
    pub const SWITCH_INVOLUNTARY: u32 = 66;
    /// Page faults of traced tasks, as `perf stat -e page-faults` counts them: every
    /// fault on a user address the kernel tried to handle, failed ones too.
    pub const PAGE_FAULTS: u32 = 67;
    pub const SLOTS: u32 = 68;
}

/// Block I/O a traced task submitted, per (device, operation): the key of the block map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockKey {
    /// The kernel's `dev_t` of the device the bio was submitted to: major in the top 12
    /// bits, minor in the low 20 (include/linux/kdev_t.h).
    pub dev: u32,
    /// The bio's `REQ_OP_*` (include/linux/blk_types.h); a write of no data, the
    /// empty bio of a cache flush (`REQ_PREFLUSH`), as [`BlockKey::FLUSH`].
    pub op: u32,
}

impl BlockKey {
    pub const READ: u32 = 0;
    pub const WRITE: u32 = 1;
    pub const FLUSH: u32 = 2;
    pub const DISCARD: u32 = 3;

    /// The device's major and minor numbers.
    pub const fn major_minor(self) -> (u32, u32) {
        (self.dev >> 20, self.dev & 0xf_ffff)
    }
}

/// Bios submitted and the bytes they carried.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BlockCounts {
    pub bios: u64,
    pub bytes: u64,
}

impl core::ops::AddAssign for BlockCounts {
    #[inline(always)]
    fn add_assign(&mut self, other: BlockCounts) {
        self.bios += other.bios;
        self.bytes += other.bytes;
    }
}

impl core::ops::Sub for BlockCounts {
    type Output = BlockCounts;

    /// What was added between two readings (0, not a wrap, if the earlier is larger).
    #[inline(always)]
    fn sub(self, earlier: BlockCounts) -> BlockCounts {
        BlockCounts {
            bios: self.bios.saturating_sub(earlier.bios),
            bytes: self.bytes.saturating_sub(earlier.bytes),
        }
    }
}

/// Distinct (device, operation) pairs the block map holds; more are counted as lost.
pub const BLOCK_ENTRIES: u32 = 256;

/// Page faults of traced tasks that the kernel handled, per outcome and memory: the key
/// of the fault map. Faults that failed (a bad address: SIGSEGV, or EFAULT for a
/// syscall's pointer) are only in [`event::PAGE_FAULTS`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FaultKey {
    /// [`FaultKey::MINOR`] or [`FaultKey::MAJOR`] (the page had to be read: from a file
    /// or from swap), as the kernel accounts it (mm/memory.c: mm_account_fault).
    pub outcome: u32,
    /// [`FaultKey::ANON`], [`object::FILE`] (`fs_magic`, `mode`, `rdev`, `type_fn` as in
    /// [`ObjectKey`]) or [`FaultKey::UNKNOWN`] (the task's memory map was busy).
    pub kind: u32,
    pub fs_magic: u32,
    pub rdev: u32,
    pub mode: u16,
    pub _pad: [u16; 3],
    pub type_fn: u64,
}

impl FaultKey {
    pub const MINOR: u32 = 0;
    pub const MAJOR: u32 = 1;
    /// Memory no file backs: heap, stack, private anonymous mappings.
    pub const ANON: u32 = 0x100;
    pub const UNKNOWN: u32 = 0x101;
}

/// Per CPU, the io_uring (opcode, object) completed last and what it gathered since it
/// came: a loop of one operation on one object updates it in place, and the shared
/// map is touched only when the key changes. Readers add it to the map's numbers
/// (read after it, as [`FaultArea`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct IoUringLast {
    pub key: ObjectKey,
    pub counts: Counts,
}

/// Distinct fault keys the fault map holds; more are counted as lost.
pub const FAULT_ENTRIES: u32 = 1024;

/// Per CPU, an area of some task's memory as found last for a fault there, with the
/// faults counted in it since: a fault in a cached area adds here instead of to the
/// fault map, which it joins when the entry is replaced. Readers add the pending counts
/// to the map's (read after it).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct FaultArea {
    pub mm: u64,
    /// The memory map's `mm_lock_seq` when it was found: any change since moves it.
    pub seq: u32,
    pub _pad: u32,
    pub start: u64,
    pub end: u64,
    /// What its faults count as (`outcome` unused: `pending` has one count per outcome).
    pub key: FaultKey,
    /// Faults not yet in the fault map, by outcome ([`FaultKey::MINOR`], [`FaultKey::MAJOR`]).
    pub pending: [u64; 2],
}

/// Entries of the per-CPU area cache, by the 2 MiB stretch of address they were found
/// for.
pub const FAULT_AREA_ENTRIES: u32 = 8;

/// io_uring: operation codes (`IORING_OP_*`, include/uapi/linux/io_uring.h) are below
/// this; the per-opcode arrays have a slot for each.
pub const IO_URING_OPS: u32 = 256;

/// An io_uring request of a traced ring in flight: which (`struct io_kiocb *`), and
/// since when. Kept in the slot [`io_uring_pending_slot`] gives its request, and
/// replaced by the next request that hashes there.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct IoUringPending {
    pub req: u64,
    pub start_ns: u64,
}

/// Slots of the in-flight table: a power of two. Requests in flight at once beyond a
/// few thousand take each other's slots, and the completions of those that lost theirs
/// are counted untimed.
pub const IO_URING_PENDING_ENTRIES: u32 = 16384;

/// The in-flight slot of request `req` (a slab address: its low bits are alignment).
pub const fn io_uring_pending_slot(req: u64) -> u32 {
    const SHIFT: u32 = 64 - IO_URING_PENDING_ENTRIES.trailing_zeros();
    ((req >> 6).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> SHIFT) as u32
}

/// Rings (`struct io_ring_ctx *`) a traced task created or submitted to that the ring
/// map keeps, the most recently used; one pushed out counts again from its next
/// submission.
pub const IO_URING_RINGS: u32 = 4096;

/// `--profile`: distinct kernel stacks the stack map keeps. A power of two, as the
/// kernel rounds the map's buckets up to one: a stack's id is its bucket, below this,
/// and indexes the per-stack sample counts. A new stack whose bucket holds another is
/// lost (`profile_stack_collision`); about 16 MiB of kernel memory, only with
/// `--profile`.
pub const PROFILE_STACK_ENTRIES: u32 = 16384;

/// Frames kept of one kernel stack: the kernel's own limit (`kernel.perf_event_max_stack`
/// defaults to it), so the outermost frames (the syscall's entry) are kept too.
pub const PROFILE_STACK_DEPTH: usize = 127;

/// `--profile`: where the samples of traced tasks were taken, the slots of the per-CPU
/// mode counters (kernel-mode samples are also counted per stack).
pub mod profile_mode {
    /// In the kernel: a kernel stack was recorded for it.
    pub const KERNEL: u32 = 0;
    /// In user space: no kernel stack.
    pub const USER: u32 = 1;
    pub const COUNT: u32 = 2;
}

pub mod names {
    pub const STATS_MAP: &str = "SYSCALL_STATS";
    pub const LATENCY_MAP: &str = "SYSCALL_LATENCY";
    pub const ERRNO_MAP: &str = "SYSCALL_ERRNOS";
    pub const LOST_MAP: &str = "LOST";
    pub const TRACED_TGIDS: &str = "TRACED_TGIDS";
    pub const TRACED_BITS: &str = "TRACED_BITS";

    /// The load-time [`super::Settings`].
    pub const SETTINGS: &str = "SETTINGS";
    pub const OFFSETS: &str = "OFFSETS";
    pub const DENIED_MAP: &str = "SYSCALL_DENIED";
    pub const PENDING_EXEC_MAP: &str = "PENDING_EXEC";
    pub const TASK_MAP: &str = "TASK_STATS";
    pub const TASK_OTHERS_MAP: &str = "TASK_OTHERS";
    pub const TASK_EXIT_MAP: &str = "TASK_EXITS";
    pub const TASK_CACHE_MAP: &str = "TASK_CACHE";
    pub const OBJECT_SPEC_MAP: &str = "OBJECT_SPECS";
    pub const OBJECT_MAP: &str = "OBJECT_STATS";
    pub const OBJECT_OTHERS_MAP: &str = "OBJECT_OTHERS";
    pub const CGROUP_MAP: &str = "CGROUPS";
    pub const CGROUP_STATS_MAP: &str = "CGROUP_STATS";
    pub const CGROUP_ERRNO_MAP: &str = "CGROUP_ERRNOS";
    pub const CGROUP_OTHERS_MAP: &str = "CGROUP_OTHERS";
    pub const CGROUP_EVENTS_MAP: &str = "CGROUP_EVENTS";
    pub const CGROUP_IO_URING_MAP: &str = "CGROUP_IO_URING";
    pub const CGROUP_LAST_MAP: &str = "CGROUP_LAST";
    pub const TASK_EVENTS_MAP: &str = "TASK_EVENTS";
    pub const TASK_IO_URING_MAP: &str = "TASK_IO_URING";
    pub const EVENT_MAP: &str = "EVENTS";
    pub const BLOCK_MAP: &str = "BLOCK_IO";
    pub const FAULT_MAP: &str = "PAGE_FAULTS";
    pub const FAULT_AREA_MAP: &str = "FAULT_AREAS";
    pub const IO_URING_SUBMITTED_MAP: &str = "IO_URING_SUBMITTED";
    pub const IO_URING_STATS_MAP: &str = "IO_URING_STATS";
    pub const IO_URING_OTHERS_MAP: &str = "IO_URING_OTHERS";
    pub const IO_URING_LAST_MAP: &str = "IO_URING_LAST";
    pub const IO_URING_LATENCY_MAP: &str = "IO_URING_LATENCY";
    pub const IO_URING_ERRNO_MAP: &str = "IO_URING_ERRNOS";
    pub const PROFILE_STACK_MAP: &str = "PROFILE_STACKS";
    pub const PROFILE_SAMPLE_MAP: &str = "PROFILE_SAMPLES";
    pub const PROFILE_MODE_MAP: &str = "PROFILE_MODES";

    pub const PROG_SYS_ENTER: &str = "sys_enter";
    pub const PROG_SYS_EXIT: &str = "sys_exit";
    pub const PROG_FORK: &str = "sched_process_fork";
    pub const PROG_EXIT: &str = "sched_process_exit";
    pub const PROG_CGROUP_RMDIR: &str = "cgroup_rmdir";
    pub const PROG_SIGNAL_GENERATE: &str = "signal_generate";
    pub const PROG_SCHED_SWITCH: &str = "sched_switch";
    pub const PROG_BLOCK_BIO_QUEUE: &str = "block_bio_queue";
    pub const PROG_PAGE_FAULT: &str = "page_fault";
    pub const PROG_PAGE_FAULT_MINOR: &str = "page_fault_minor";
    pub const PROG_PAGE_FAULT_MAJOR: &str = "page_fault_major";
    pub const PROG_IO_URING_SUBMIT: &str = "io_uring_submit_req";
    pub const PROG_IO_URING_COMPLETE: &str = "io_uring_complete";
    pub const PROG_IO_URING_CREATE: &str = "io_uring_create";
    pub const PROG_PROFILE: &str = "profile";
}

#[cfg(feature = "user")]
mod pod {
    // SAFETY: all of these are `#[repr(C)]` plain integers without padding, valid for any
    // bit pattern.
    unsafe impl aya::Pod for super::SyscallStats {}
    unsafe impl aya::Pod for super::LatencyHistogram {}
    unsafe impl aya::Pod for super::TaskKey {}
    unsafe impl aya::Pod for super::Counts {}
    unsafe impl aya::Pod for super::TaskExit {}
    unsafe impl aya::Pod for super::TaskCache {}
    unsafe impl aya::Pod for super::ErrnoKey {}
    unsafe impl aya::Pod for super::KernelOffsets {}
    unsafe impl aya::Pod for super::Settings {}
    unsafe impl aya::Pod for super::ObjectKey {}
    unsafe impl aya::Pod for super::ObjectSpec {}
    unsafe impl aya::Pod for super::CgroupSyscallKey {}
    unsafe impl aya::Pod for super::CgroupSyscallCounts {}
    unsafe impl aya::Pod for super::CgroupLast {}
    unsafe impl aya::Pod for super::CgroupErrnoKey {}
    unsafe impl aya::Pod for super::OwnerEventKey {}
    unsafe impl aya::Pod for super::OwnerIoUringKey {}
    unsafe impl aya::Pod for super::CgroupEntry {}
    unsafe impl aya::Pod for super::BlockKey {}
    unsafe impl aya::Pod for super::BlockCounts {}
    unsafe impl aya::Pod for super::FaultKey {}
    unsafe impl aya::Pod for super::FaultArea {}
    unsafe impl aya::Pod for super::IoUringLast {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_round_trip() {
        for abi in [Abi::Native, Abi::Compat] {
            for nr in [0, 1, 231, NR_PER_ABI - 1] {
                assert_eq!(slot_syscall(stats_slot(abi, nr)), (abi as u32, nr));
            }
        }
        assert_eq!(stats_slot(Abi::Compat, NR_PER_ABI - 1), STATS_ENTRIES - 1);
    }

    #[test]
    fn counts_add_and_take_the_difference_of_two_readings() {
        let a = Counts {
            calls: 10,
            errors: 2,
            total_ns: 500,
        };
        let mut b = a;
        b += Counts {
            calls: 5,
            errors: 1,
            total_ns: 70,
        };
        assert_eq!((b.calls, b.errors, b.total_ns), (15, 3, 570));
        assert_eq!(
            b - a,
            Counts {
                calls: 5,
                errors: 1,
                total_ns: 70
            }
        );
        // An earlier reading is never larger; if one were, nothing wraps.
        assert_eq!(a - b, Counts::default());
        assert_eq!([a, a, a].into_iter().sum::<Counts>().calls, 30);
        let mut c = CgroupSyscallCounts::default();
        let mut one = CgroupSyscallCounts::default();
        one.counts.calls = 1;
        one.latency_log2[3] = 1;
        c += &one;
        c += &one;
        assert_eq!((c.counts.calls, c.latency_log2[3]), (2, 2));
    }

    #[test]
    fn a_duration_falls_in_the_bucket_of_its_significant_bits() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(1), 1);
        for b in 1..LATENCY_BUCKETS - 1 {
            // [2^(b-1), 2^b) is bucket b, at both ends.
            assert_eq!(latency_bucket(1 << (b - 1)), b, "{b}");
            assert_eq!(latency_bucket((1 << b) - 1), b, "{b}");
        }
        // The last bucket takes everything longer, up to u64::MAX.
        assert_eq!(latency_bucket(1 << 31), LATENCY_BUCKETS - 1);
        assert_eq!(latency_bucket(u64::MAX), LATENCY_BUCKETS - 1);
    }

    #[test]
    fn only_minus_one_to_minus_4095_is_an_errno() {
        assert_eq!(errno_of(-1), Some(1));
        let mut set = [0u64; 2];
        assert!(set_bit(&mut set, 0) && set_bit(&mut set, 127) && !set_bit(&mut set, 128));
        assert_eq!(set, [1, 1 << 63]);
        assert_eq!(errno_of(-4095), Some(4095));
        assert_eq!(errno_of(-4096), None);
        assert_eq!(errno_of(0), None);
        assert_eq!(errno_of(3), None);
        // An address returned by mmap in the top of the address space.
        assert_eq!(errno_of(i64::MIN), None);
    }

    #[test]
    fn shared_types_have_no_padding() {
        use core::mem::size_of;
        assert_eq!(size_of::<SyscallStats>(), 8 * 5);
        assert_eq!(size_of::<Counts>(), 24);
        assert_eq!(size_of::<CgroupSyscallCounts>(), 24 + 8 * LATENCY_BUCKETS);
        assert_eq!(size_of::<LatencyHistogram>(), 8 * LATENCY_BUCKETS);
        assert_eq!(size_of::<ErrnoKey>(), 8);
        assert_eq!(size_of::<InFlight>(), 80);
        assert_eq!(
            size_of::<KernelOffsets>(),
            72 + 4 * 17 + 4 * 12 + 8 + 4 * 15
        );
        assert_eq!(size_of::<IoUringPending>(), 16);
        assert_eq!(size_of::<BlockKey>(), 8);
        assert_eq!(size_of::<BlockCounts>(), 16);
        assert_eq!(size_of::<FaultKey>(), 32);
        assert_eq!(size_of::<TaskKey>(), 8);
        assert_eq!(size_of::<TaskExit>(), 40);
        assert_eq!(size_of::<TaskCache>(), 32);
        assert_eq!(size_of::<ObjectKey>(), 48);
        assert_eq!(size_of::<ObjectSpec>(), 20);
        assert_eq!(size_of::<CgroupSyscallKey>(), 16);
        assert_eq!(size_of::<CgroupSyscallCounts>(), 8 * (3 + LATENCY_BUCKETS));
        assert_eq!(size_of::<CgroupErrnoKey>(), 16);
        assert_eq!(size_of::<OwnerEventKey>(), 16);
        assert_eq!(size_of::<OwnerIoUringKey>(), 56);
        assert_eq!(size_of::<CgroupEntry>(), 8 + CGROUP_PATH_MAX);
    }
}
