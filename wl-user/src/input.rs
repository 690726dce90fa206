//! Files a user names — reports, seccomp profiles, the web config and its
//! certificates — read with a bound. A name may point anywhere: at `/dev/zero`
//! (endless), a FIFO (blocks until someone writes), a directory, or a file far larger
//! than any real input. Each is refused in one line before it can fill the memory or
//! hang the command; a regular file within the bound is read whole. The reader is
//! `wl_syscalls::source`'s, which the kernel-source scanner uses too; here are the
//! bounds of each kind of input.

pub use crate::syscalls::source::{read_bytes, read_text};

/// How large each kind of input may be. Each is far above what a real one reaches, and
/// small enough to hold in memory at once.
pub mod limit {
    /// A JSON report: a `--by process` report of a large build is a few MiB.
    pub const REPORT: u64 = 256 << 20;
    /// An OCI seccomp profile: Docker's default is 20 KiB.
    pub const PROFILE: u64 = 4 << 20;
    /// `--web-config` YAML and each certificate or key file it names.
    pub const WEB_CONFIG: u64 = 1 << 20;
}
