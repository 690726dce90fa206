//! Choices the command line, the collector and the report share, in a module of their
//! own so that none of the three imports another for them.

/// Whom calls are also counted for (`--by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// Each process, its threads summed.
    Process,
    /// Each thread.
    Thread,
    /// Each command name: the processes that ran it, summed.
    Comm,
}

/// Whether the kernel work beside the syscalls is counted (`--events`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Events {
    /// Page faults, signals, context switches, block I/O and io_uring operations.
    All,
    /// None of them: their programs stay unattached and cost nothing.
    None,
}

/// Which calls count (`--syscall`, `--failed`, `--errno`): the words as given, which the
/// report repeats, and what they resolved to, which the kernel side checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Only {
    /// The syscall names and `%classes` given; empty: every syscall.
    pub syscalls: Vec<String>,
    /// Only calls that failed (`--failed`, or any `--errno`).
    pub failed: bool,
    /// The errnos given; empty: any.
    pub errnos: Vec<String>,
    /// The (ABI, number) of each syscall `syscalls` names.
    #[serde(skip)]
    pub slots: std::collections::BTreeSet<(wl_common::Abi, u32)>,
    /// The numbers of `errnos`.
    #[serde(skip)]
    pub errno_numbers: std::collections::BTreeSet<u32>,
}

impl Only {
    /// Whether some calls are left out.
    pub fn filters(&self) -> bool {
        !self.syscalls.is_empty() || self.failed
    }

    /// How the table says it: `syscalls openat, %network; failed calls (ENOENT)`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.syscalls.is_empty() {
            parts.push(format!("syscalls {}", self.syscalls.join(", ")));
        }
        if self.failed {
            parts.push(if self.errnos.is_empty() {
                "failed calls".to_owned()
            } else {
                format!("calls that failed with {}", self.errnos.join(", "))
            });
        }
        parts.join("; ")
    }
}
