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
