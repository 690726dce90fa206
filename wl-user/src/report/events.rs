//! The kernel work a workload caused that no syscall row shows: signals sent to its
//! tasks (queued for delivery, fatal ones too) and their context switches, named and
//! placed in their subsystem.

use serde::Serialize;
use wl_common::{Counts, event};

/// One kind of event and its detail: `signal` `SIGUSR1`, `context switch` `voluntary`.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    /// What happened: `signal` or `context switch`.
    pub event: &'static str,
    /// Which: the signal's name; `voluntary` (the task blocked) or `involuntary` (it
    /// was preempted).
    pub detail: String,
    /// How many in `calls`; for voluntary switches, `total_ns` is the time the tasks
    /// waited before they ran again (0 for the others).
    #[serde(flatten)]
    pub counts: Counts,
    pub subsystem: &'static str,
    /// Where the kernel does it.
    pub source: &'static str,
}

/// A signal's name: `SIGUSR1`; real-time ones as `SIGRTMIN+N` (glibc keeps 32 and 33).
pub fn signal_name(sig: u32) -> String {
    const SIGRTMIN: u32 = 34;
    match nix::sys::signal::Signal::try_from(sig as i32) {
        Ok(s) => s.as_str().to_owned(),
        Err(_) if sig >= SIGRTMIN => format!("SIGRTMIN+{}", sig - SIGRTMIN),
        Err(_) => format!("SIG{sig}"),
    }
}

/// The rows of the kernel side's event slots, busiest first.
pub fn build(slots: &[(u32, Counts)]) -> Vec<EventRow> {
    let mut rows: Vec<EventRow> = slots
        .iter()
        .map(|&(slot, counts)| match slot {
            event::SWITCH_VOLUNTARY | event::SWITCH_INVOLUNTARY => EventRow {
                event: "context switch",
                detail: if slot == event::SWITCH_VOLUNTARY {
                    "voluntary"
                } else {
                    "involuntary"
                }
                .to_owned(),
                counts,
                subsystem: "Scheduler",
                source: "kernel/sched/core.c",
            },
            sig => EventRow {
                event: "signal",
                detail: signal_name(sig),
                counts,
                subsystem: "Signal",
                source: "kernel/signal.c",
            },
        })
        .collect();
    rows.sort_by(|a, b| {
        b.counts
            .calls
            .cmp(&a.counts.calls)
            .then(a.event.cmp(b.event))
            .then(a.detail.cmp(&b.detail))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_named() {
        assert_eq!(signal_name(10), "SIGUSR1");
        assert_eq!(signal_name(9), "SIGKILL");
        assert_eq!(signal_name(35), "SIGRTMIN+1");
        let c = |calls, total_ns| Counts {
            calls,
            errors: 0,
            total_ns,
        };
        let rows = build(&[
            (10, c(3, 0)),
            (event::SWITCH_VOLUNTARY, c(7, 5_000)),
            (event::SWITCH_INVOLUNTARY, c(1, 0)),
        ]);
        let named: Vec<(&str, &str, u64)> = rows
            .iter()
            .map(|r| (r.event, r.detail.as_str(), r.counts.calls))
            .collect();
        assert_eq!(
            named,
            [
                ("context switch", "voluntary", 7),
                ("signal", "SIGUSR1", 3),
                ("context switch", "involuntary", 1)
            ]
        );
        assert_eq!(rows[0].counts.total_ns, 5_000);
        assert_eq!(rows[1].subsystem, "Signal");
    }
}
