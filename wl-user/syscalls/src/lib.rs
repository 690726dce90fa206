//! What wl knows about system calls: for each ABI, every number's name, kernel entry
//! point, implementing source file, MAINTAINERS section and coarse subsystem; and the
//! names of error numbers.
//!
//! The embedded tables are generated from a Linux tree by `cargo xtask gen-syscalls`
//! with [`scan`] (the recipe is at the top of `generated.rs`); `--kernel-src DIR` makes
//! the same scan of the user's own tree at run time instead. [`rules`] maps source paths
//! to subsystems; [`objects`] names what a call reached through its fd and command
//! arguments, with tables from [`object_scan`]; [`functions`] names the file defining
//! each kernel function, for sampled kernel stacks and object handlers, whose names come
//! from the running kernel's symbols ([`kallsyms`]).

#[rustfmt::skip]
mod generated;
#[rustfmt::skip]
mod generated_objects;
pub mod functions;
pub mod io_uring;
pub mod kallsyms;
pub mod object_scan;
pub mod objects;
pub mod operations;
pub mod rules;
pub mod scan;
pub mod select;
pub mod source;

use std::{
    path::{Path, PathBuf},
    sync::OnceLock,
};

use anyhow::{Context as _, Result, anyhow};
use serde::Serialize;
use wl_common::Abi;

/// One system call of one ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Syscall {
    pub nr: u32,
    pub name: &'static str,
    /// The kernel function this ABI dispatches to (`sys_getppid`, `compat_sys_open`);
    /// empty for numbers that are reserved but not implemented.
    pub entry: &'static str,
    /// Files with its definition, the one the build uses first.
    pub sources: &'static [&'static str],
    /// Index into [`Knowledge::sections`].
    pub section: Option<u16>,
    pub subsystem: &'static str,
    /// Newer than the source tree the table was generated from; added by hand.
    pub hand_added: bool,
    /// The argument (0-based) holding the file descriptor the call operates on, from
    /// its definition's parameter names ([`objects::fd_arg`]).
    pub fd_arg: Option<u8>,
}

/// A MAINTAINERS section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Section {
    pub name: &'static str,
    pub status: &'static str,
    pub maintainers: &'static [&'static str],
    pub lists: &'static [&'static str],
}

/// A syscall ABI as users name it: the architecture whose numbering it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum AbiName {
    #[cfg_attr(feature = "clap", value(name = "x86_64"))]
    X86_64,
    I386,
    Aarch64,
    /// 32-bit arm (EABI) programs on an arm64 kernel: its compat ABI.
    Arm,
}

impl AbiName {
    pub const ALL: [AbiName; 4] = [
        AbiName::X86_64,
        AbiName::I386,
        AbiName::Aarch64,
        AbiName::Arm,
    ];

    /// The ABI of the kernel side's native and compat slots on this machine.
    pub fn of(abi: Abi) -> AbiName {
        match (abi, cfg!(target_arch = "aarch64")) {
            (Abi::Native, true) => AbiName::Aarch64,
            (Abi::Native, false) => AbiName::X86_64,
            (Abi::Compat, true) => AbiName::Arm,
            (Abi::Compat, false) => AbiName::I386,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AbiName::X86_64 => "x86_64",
            AbiName::I386 => "i386",
            AbiName::Aarch64 => "aarch64",
            AbiName::Arm => "arm",
        }
    }

    /// The ABI the machine's own programs use.
    pub fn native() -> AbiName {
        AbiName::of(Abi::Native)
    }
}

/// All syscall tables, from the embedded generation or from a scanned tree.
pub struct Knowledge {
    /// Linux release of the source tree.
    pub release: &'static str,
    /// Where the tables come from: "embedded" or the scanned tree's path.
    pub origin: String,
    tables: [&'static [Syscall]; 4],
    pub sections: &'static [Section],
    /// What fd and command arguments reach ([`objects::describe`]).
    pub objects: &'static objects::ObjectTables,
    /// The scanned tree, whose function table is made on first use.
    tree: Option<PathBuf>,
    /// That table, or why it could not be made.
    functions: OnceLock<Result<&'static functions::Functions, String>>,
}

fn leak_strs(v: Vec<String>) -> &'static [&'static str] {
    Vec::leak(v.into_iter().map(|s| &*String::leak(s)).collect())
}

impl Knowledge {
    /// The tables built into wl-user.
    pub fn embedded() -> Knowledge {
        Knowledge {
            release: generated::SOURCE_RELEASE,
            origin: "embedded".into(),
            tables: [
                generated::X86_64,
                generated::I386,
                generated::AARCH64,
                generated::ARM,
            ],
            sections: generated::SECTIONS,
            objects: &generated_objects::OBJECTS,
            tree: None,
            functions: OnceLock::new(),
        }
    }

    /// A scan of the Linux tree at `tree` (`--kernel-src`), or the embedded tables.
    pub fn load(tree: Option<&Path>) -> Result<Knowledge> {
        match tree {
            Some(tree) => Knowledge::from_tree(tree),
            None => Ok(Knowledge::embedded()),
        }
    }

    /// Scans the Linux tree at `tree`. The tables live as long as the process, so the
    /// scan's strings are leaked once.
    pub fn from_tree(tree: &Path) -> Result<Knowledge> {
        let scan = scan::scan(tree).with_context(|| format!("--kernel-src {}", tree.display()))?;
        let sections = Vec::leak(
            scan.sections
                .into_iter()
                .map(|s| Section {
                    name: String::leak(s.name),
                    status: String::leak(s.status),
                    maintainers: leak_strs(s.maintainers),
                    lists: leak_strs(s.lists),
                })
                .collect(),
        );
        let mut tables: [&'static [Syscall]; 4] = [&[]; 4];
        for (abi, rows) in scan.abis {
            let Some(i) = AbiName::ALL.iter().position(|a| a.as_str() == abi) else {
                continue;
            };
            tables[i] = Vec::leak(
                rows.into_iter()
                    .map(|r| Syscall {
                        nr: r.nr,
                        name: String::leak(r.name),
                        entry: String::leak(r.entry),
                        sources: leak_strs(r.sources),
                        section: r.section.map(|s| s as u16),
                        subsystem: r.subsystem,
                        hand_added: r.hand_added,
                        fd_arg: r.fd_arg,
                    })
                    .collect(),
            );
        }
        let objects = Box::leak(Box::new(objects::ObjectTables::from_scan(
            scan.objects,
            &scan.object_sections,
        )));
        Ok(Knowledge {
            release: String::leak(scan.release),
            origin: tree.display().to_string(),
            tables,
            sections,
            objects,
            tree: Some(tree.to_owned()),
            functions: OnceLock::new(),
        })
    }

    /// The file defining each kernel function: the embedded table, or for a scanned
    /// tree a scan of its functions, made on first call (it reads every C, header and
    /// assembly file of the tree: seconds, which only the kernel stacks need).
    pub fn functions(&self) -> Result<&'static functions::Functions> {
        let Some(tree) = &self.tree else {
            return Ok(functions::Functions::embedded());
        };
        self.functions
            .get_or_init(|| {
                functions::Functions::scan(tree)
                    .map(|f| &*Box::leak(Box::new(f)))
                    .map_err(|e| format!("{e:#}"))
            })
            .clone()
            .map_err(|e| anyhow!("--kernel-src {}: {e}", tree.display()))
    }

    pub fn table(&self, abi: AbiName) -> &'static [Syscall] {
        self.tables[abi as usize]
    }

    /// The syscall with number `nr` in `abi`, if the table names it.
    pub fn lookup(&self, abi: AbiName, nr: u32) -> Option<&'static Syscall> {
        let table = self.table(abi);
        table
            .binary_search_by_key(&nr, |s| s.nr)
            .ok()
            .map(|i| &table[i])
    }

    pub fn section(&self, s: &Syscall) -> Option<&'static Section> {
        s.section.and_then(|i| self.sections.get(i as usize))
    }

    /// The name to show for a number: the table's, or `syscall_<nr>` so nothing is
    /// dropped.
    pub fn name_of(&self, abi: AbiName, nr: u32) -> String {
        self.lookup(abi, nr)
            .map_or_else(|| format!("syscall_{nr}"), |s| s.name.to_owned())
    }

    /// What every output says of syscall `nr` of `abi`: reports, `--by`, objects, diff
    /// and serve's labels all name a syscall through here, so that they agree.
    pub fn describe(&self, abi: AbiName, nr: u32) -> Described {
        let known = self.lookup(abi, nr);
        Described {
            name: self.name_of(abi, nr),
            subsystem: known.map_or(rules::OTHER, |s| s.subsystem),
            source: known.and_then(|s| s.sources.first().copied()),
            entry: known.map_or("", |s| s.entry),
            maintainers: known.and_then(|s| self.section(s)).map(|sec| sec.name),
            waits: known.is_some_and(|s| rules::waits(s.name)),
        }
    }
}

/// One syscall of one ABI as the outputs name it ([`Knowledge::describe`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// The table's name, or `syscall_<nr>` for a number it does not name.
    pub name: String,
    /// Its coarse subsystem; [`rules::OTHER`] for a number the table does not name.
    pub subsystem: &'static str,
    /// The source file that implements it for this ABI.
    pub source: Option<&'static str>,
    /// The kernel function it enters (`sys_getppid`); empty when unknown.
    pub entry: &'static str,
    /// The MAINTAINERS section covering `source`.
    pub maintainers: Option<&'static str>,
    /// Its calls mostly wait ([`rules::WAITING`]): their time is not the kernel's work.
    pub waits: bool,
}

/// `ENOENT` for 2; `E<n>` for numbers without a name.
pub fn errno_name(errno: u32) -> String {
    generated::ERRNO_NAMES
        .binary_search_by_key(&errno, |&(n, _)| n)
        .map_or_else(
            |_| format!("E{errno}"),
            |i| generated::ERRNO_NAMES[i].1.to_owned(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knowledge() -> Knowledge {
        Knowledge::embedded()
    }

    #[test]
    fn every_output_describes_a_syscall_the_same_way() {
        let k = knowledge();
        let getppid = k.describe(AbiName::X86_64, 110);
        assert_eq!(getppid.name, "getppid");
        assert_eq!(getppid.entry, "sys_getppid");
        assert_eq!(getppid.source, Some("kernel/sys.c"));
        assert_eq!(getppid.subsystem, "Process Mgmt.");
        assert!(getppid.maintainers.is_some());
        // A number the table does not name keeps its number and counts under Other, in
        // reports and in serve's labels alike.
        let unknown = k.describe(AbiName::X86_64, 511);
        assert_eq!(unknown.name, "syscall_511");
        assert_eq!(unknown.subsystem, rules::OTHER);
        assert_eq!(
            (unknown.source, unknown.entry, unknown.maintainers),
            (None, "", None)
        );
    }

    fn name_of(abi: AbiName, nr: u32) -> String {
        knowledge().name_of(abi, nr)
    }

    fn get(abi: AbiName, name: &str) -> &'static Syscall {
        knowledge()
            .table(abi)
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("{abi:?} {name}"))
    }

    #[test]
    fn well_known_numbers() {
        assert_eq!(name_of(AbiName::X86_64, 110), "getppid");
        assert_eq!(name_of(AbiName::X86_64, 231), "exit_group");
        assert_eq!(name_of(AbiName::I386, 64), "getppid");
        assert_eq!(name_of(AbiName::I386, 252), "exit_group");
        assert_eq!(name_of(AbiName::Aarch64, 173), "getppid");
        // 32-bit arm on arm64: EABI numbers, arm64's compat entry points and wrappers,
        // each wrapper with the subsystem of the call it wraps.
        assert_eq!(name_of(AbiName::Arm, 64), "getppid");
        assert_eq!(name_of(AbiName::Arm, 248), "exit_group");
        assert_eq!(name_of(AbiName::Arm, 11), "execve");
        assert_eq!(name_of(AbiName::Arm, 387), "execveat");
        let pread = get(AbiName::Arm, "pread64");
        assert_eq!(
            (pread.nr, pread.entry, pread.subsystem),
            (180, "compat_sys_aarch32_pread64", "Filesystem")
        );
        assert_eq!(pread.sources, ["arch/arm64/kernel/sys32.c"]);
        let set_tls = knowledge().lookup(AbiName::Arm, 0xf0005).unwrap();
        assert_eq!(
            (set_tls.name, set_tls.entry, set_tls.subsystem),
            ("set_tls", "compat_arm_syscall", "Process Mgmt.")
        );
        assert_eq!(name_of(AbiName::Arm, 0xf0002), "cacheflush");
        assert_eq!(
            knowledge().lookup(AbiName::I386, 5).unwrap().entry,
            "compat_sys_open"
        );
        assert_eq!(name_of(AbiName::X86_64, 511), "syscall_511");
    }

    /// The seed document's hand mapping got these wrong or left them vague; the tables
    /// take them from the source.
    #[test]
    fn golden_sources_and_subsystems() {
        let cases = [
            (AbiName::X86_64, "openat", "fs/open.c", "Filesystem"),
            (AbiName::X86_64, "futex", "kernel/futex/syscalls.c", "Futex"),
            (AbiName::X86_64, "wait4", "kernel/exit.c", "Process Mgmt."),
            (AbiName::X86_64, "getppid", "kernel/sys.c", "Process Mgmt."),
            (
                AbiName::X86_64,
                "mmap",
                "arch/x86/kernel/sys_x86_64.c",
                "Memory Mgmt.",
            ),
            (
                AbiName::I386,
                "mmap",
                "arch/x86/kernel/sys_ia32.c",
                "Memory Mgmt.",
            ),
            (
                AbiName::Aarch64,
                "mmap",
                "arch/arm64/kernel/sys.c",
                "Memory Mgmt.",
            ),
            (AbiName::X86_64, "clone", "kernel/fork.c", "Process Mgmt."),
            (
                AbiName::X86_64,
                "rt_sigreturn",
                "arch/x86/kernel/signal_64.c",
                "Signal",
            ),
            (
                AbiName::X86_64,
                "sched_getaffinity",
                "kernel/sched/syscalls.c",
                "Scheduler",
            ),
            (
                AbiName::X86_64,
                "clock_nanosleep",
                "kernel/time/posix-timers.c",
                "Time",
            ),
            (AbiName::X86_64, "socket", "net/socket.c", "Network"),
            (AbiName::X86_64, "ioctl", "fs/ioctl.c", "Filesystem"),
            (
                AbiName::X86_64,
                "capget",
                "kernel/capability.c",
                "Capability",
            ),
            (AbiName::X86_64, "shmget", "ipc/shm.c", "IPC"),
            (AbiName::X86_64, "bpf", "kernel/bpf/syscall.c", "BPF"),
            (
                AbiName::X86_64,
                "io_uring_setup",
                "io_uring/io_uring.c",
                "io_uring",
            ),
            (
                AbiName::X86_64,
                "perf_event_open",
                "kernel/events/core.c",
                "Perf events",
            ),
            (
                AbiName::X86_64,
                "arch_prctl",
                "arch/x86/kernel/process_64.c",
                "Process Mgmt.",
            ),
            (
                AbiName::X86_64,
                "file_setattr",
                "fs/file_attr.c",
                "Filesystem",
            ),
        ];
        for (abi, name, source, subsystem) in cases {
            let s = get(abi, name);
            assert_eq!(
                (s.sources.first().copied(), s.subsystem),
                (Some(source), subsystem),
                "{abi:?} {name}"
            );
        }
        assert!(get(AbiName::X86_64, "file_setattr").hand_added);
        assert_eq!(get(AbiName::X86_64, "getppid").entry, "sys_getppid");
        assert_eq!(get(AbiName::I386, "clone").entry, "compat_sys_ia32_clone");
        let k = knowledge();
        assert_eq!(
            k.section(get(AbiName::X86_64, "futex")).unwrap().name,
            "FUTEX SUBSYSTEM"
        );
        assert_eq!(
            k.section(get(AbiName::X86_64, "openat")).unwrap().name,
            "FILESYSTEMS (VFS and infrastructure)"
        );
        assert!(
            !k.section(get(AbiName::X86_64, "futex"))
                .unwrap()
                .maintainers
                .is_empty()
        );
    }

    #[test]
    fn every_number_up_to_the_newest_is_named() {
        let k = knowledge();
        for abi in AbiName::ALL {
            let t = k.table(abi);
            assert!(t.windows(2).all(|w| w[0].nr < w[1].nr), "{abi:?} unsorted");
            // arm's private calls sit past the table (wl_common::ARM_PRIVATE_BASE).
            let top = t
                .iter()
                .map(|s| s.nr)
                .filter(|&n| n < wl_common::NR_PER_ABI)
                .max()
                .unwrap();
            assert!(top >= 469, "{abi:?} ends at {top}");
            // The only holes are numbers the kernel's tables leave unused for this ABI:
            // x86_64 stops its own range at 335 and resumes at 424 with the numbers
            // shared by all; syscall_32.tbl skips a few numbers (arm's many); aarch64 leaves 244-259
            // to arch-specific calls it has none of and 295-423 to 32-bit-only ones.
            let holes: Vec<u32> = (0..=top).filter(|&n| k.lookup(abi, n).is_none()).collect();
            let expected: Vec<u32> = match abi {
                AbiName::X86_64 => (336..424).collect(),
                AbiName::I386 => [222, 223, 251, 285]
                    .into_iter()
                    .chain(387..=392)
                    .chain([415])
                    .collect(),
                AbiName::Aarch64 => (244..260).chain(295..424).collect(),
                // Numbers of calls arm's EABI dropped (the old ABI's, commented out as
                // "was sys_..." in syscall_32.tbl).
                AbiName::Arm => vec![
                    7, 13, 17, 18, 22, 25, 27, 28, 30, 31, 32, 35, 44, 48, 53, 56, 58, 59, 68, 69,
                    76, 82, 84, 89, 90, 98, 101, 102, 109, 110, 112, 113, 117, 123, 127, 130, 137,
                    166, 167, 188, 189, 222, 223, 254, 255, 402, 415, 447,
                ],
            };
            assert_eq!(holes, expected, "{abi:?}");
        }
    }

    /// `--kernel-src`'s function table is scanned on first use; a tree that cannot be
    /// read by then is an error naming the flag.
    #[test]
    fn functions_of_a_scanned_tree_are_scanned_on_first_use() {
        assert_eq!(
            knowledge().functions().unwrap().release(),
            generated::SOURCE_RELEASE
        );
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/linux-mini");
        let f = Knowledge::from_tree(&fixture).unwrap().functions().unwrap();
        assert_eq!(f.release(), "6.99.0");
        let paths = |name: &str| f.paths(name).collect::<Vec<_>>();
        assert_eq!(paths("__x64_sys_getppid"), ["kernel/sys.c"]);
        assert_eq!(paths("__se_sys_pread64"), ["fs/read_write.c"]);
        assert!(
            f.paths("__x64_sys_mmap")
                .all(|p| !p.starts_with("arch/sparc/") && !p.starts_with("arch/x86/um/")),
            "{:?}",
            paths("__x64_sys_mmap")
        );

        let copy = std::env::temp_dir().join(format!("wl-functions-{}", std::process::id()));
        copy_tree(&fixture, &copy);
        let k = Knowledge::from_tree(&copy).unwrap();
        std::fs::remove_dir_all(&copy).unwrap();
        let e = format!("{:#}", k.functions().unwrap_err());
        assert!(
            e.starts_with(&format!("--kernel-src {}: ", copy.display())),
            "{e}"
        );
    }

    fn copy_tree(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_tree(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(2), "ENOENT");
        assert_eq!(errno_name(9), "EBADF");
        assert_eq!(errno_name(512), "ERESTARTSYS");
        assert_eq!(errno_name(4000), "E4000");
    }
}
