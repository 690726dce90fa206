//! Which traced calls count (`--syscall`, `--failed`, `--errno`). Checked after the task
//! filter: a call not asked for leaves at its entry, neither timed nor resolved, and
//! without these options the checks are constants the verifier removes.

use wl_common::errno_of;

/// Whether calls of `slot` count.
#[inline(always)]
pub(crate) fn syscall(slot: u32) -> bool {
    setting!(only_syscalls) == 0 || setting_bit!(syscalls, slot)
}

/// Whether a call that returned `ret` counts: every call, or with `--failed` only a
/// failure, with `--errno` only a failure with one of the errnos given.
#[inline(always)]
pub(crate) fn outcome(ret: i64) -> bool {
    if setting!(only_failed) == 0 {
        return true;
    }
    match errno_of(ret) {
        None => false,
        Some(errno) => setting!(only_errnos) == 0 || setting_bit!(errnos, errno),
    }
}

/// Whether calls are counted at their exit only (`--failed`): then an entry counts
/// nothing, since whether the call fails is not known yet.
#[inline(always)]
pub(crate) fn at_exit_only() -> bool {
    setting!(only_failed) != 0
}
