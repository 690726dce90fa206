//! What wl knows about system calls: for each ABI, the name and kernel entry point of
//! every number, and the names of error numbers. The tables are generated from the
//! kernel's own syscall tables (see the recipe at the top of `generated.rs`).

#[rustfmt::skip]
mod generated;

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
    /// Newer than the source tree the table was generated from; added by hand.
    pub hand_added: bool,
}

/// A syscall ABI as users name it: the architecture whose numbering it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AbiName {
    X86_64,
    I386,
}

impl AbiName {
    /// The ABI names for the kernel side's native and compat slots on this machine.
    pub fn of(abi: Abi) -> AbiName {
        match abi {
            Abi::Native => AbiName::X86_64,
            Abi::Compat => AbiName::I386,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AbiName::X86_64 => "x86_64",
            AbiName::I386 => "i386",
        }
    }

    fn table(self) -> &'static [Syscall] {
        match self {
            AbiName::X86_64 => generated::X86_64,
            AbiName::I386 => generated::I386,
        }
    }
}

/// The syscall with number `nr` in `abi`, if the table names it.
pub fn lookup(abi: AbiName, nr: u32) -> Option<&'static Syscall> {
    let table = abi.table();
    table
        .binary_search_by_key(&nr, |s| s.nr)
        .ok()
        .map(|i| &table[i])
}

/// The name to show for a number: the table's, or `syscall_<nr>` so nothing is dropped.
pub fn name_of(abi: AbiName, nr: u32) -> String {
    lookup(abi, nr).map_or_else(|| format!("syscall_{nr}"), |s| s.name.to_owned())
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

    #[test]
    fn well_known_numbers() {
        assert_eq!(name_of(AbiName::X86_64, 110), "getppid");
        assert_eq!(name_of(AbiName::X86_64, 231), "exit_group");
        assert_eq!(name_of(AbiName::I386, 64), "getppid");
        assert_eq!(name_of(AbiName::I386, 252), "exit_group");
        assert_eq!(lookup(AbiName::I386, 5).unwrap().entry, "compat_sys_open");
        assert_eq!(name_of(AbiName::X86_64, 511), "syscall_511");
    }

    #[test]
    fn tables_are_sorted_and_name_every_number_up_to_the_newest() {
        for abi in [AbiName::X86_64, AbiName::I386] {
            let t = abi.table();
            assert!(t.windows(2).all(|w| w[0].nr < w[1].nr), "{abi:?} unsorted");
            let top = t.last().unwrap().nr;
            assert!(top >= 469, "{abi:?} ends at {top}");
            // x86_64 leaves 335..=386 unused (the gap before the unified numbers at 387+
            // belongs to other architectures' tables, not to x86_64's).
            for nr in 424..=top {
                assert!(lookup(abi, nr).is_some(), "{abi:?} has no syscall {nr}");
            }
        }
        assert_eq!(name_of(AbiName::X86_64, 469), "file_setattr");
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_name(2), "ENOENT");
        assert_eq!(errno_name(9), "EBADF");
        assert_eq!(errno_name(512), "ERESTARTSYS");
        assert_eq!(errno_name(4000), "E4000");
    }
}
