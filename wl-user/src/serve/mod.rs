//! `wl-user serve`: a per-node Prometheus exporter. The kernel side counts every call
//! of every task under the cgroup root per (cgroup, syscall); each scrape of `/metrics`
//! reads those maps, names the cgroups and syscalls, and answers in the Prometheus or
//! OpenMetrics text format. Removed cgroups are shown with their final counts for a
//! grace period (two scrape intervals), then dropped from the maps (or after
//! `--gone-ttl` without a scrape), so memory stays bounded under churn. One label set
//! is one series, whose counters only grow: what removed cgroups of a path counted is
//! kept, and added to a later cgroup with that path, for `--gone-ttl`.
//!
//! Here: start-up (everything checked before anything is loaded, then privileges
//! dropped) and the accept loop. [`http`] serves connections and requests, [`scrape`]
//! makes an exposition, [`retirement`] keeps removed cgroups' counts, [`connections`]
//! bounds what clients hold.

mod cgroups;
mod connections;
mod exposition;
mod http;
mod privileges;
mod retirement;
mod scrape;
pub(crate) mod web_config;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    cgroup::Cgroup,
    cli::ServeArgs,
    collector::{self, CgroupLimits, Collector, Filter, Latency, TraceOptions},
    syscalls::Knowledge,
};
use retirement::State;
use scrape::Exporter;
use web_config::WebConfig;

/// How often removed cgroups past their grace period or `--gone-ttl` are looked for.
const HOUSEKEEPING: Duration = Duration::from_secs(5);
/// Password checks at once. A bcrypt check costs tens of milliseconds of CPU by
/// design; past this, a request is answered 503 rather than queued.
const PASSWORD_CHECKS: usize = 2;
/// `--listen`: an address and a port; a wildcard address only when written as one.
fn parse_listen(s: &str) -> Result<SocketAddr> {
    s.parse().map_err(|_| {
        anyhow::anyhow!(
            "--listen '{s}': not an ADDRESS:PORT, e.g. 127.0.0.1:9464, [::1]:9464 or 0.0.0.0:9464"
        )
    })
}

pub async fn serve(args: ServeArgs, knowledge: Knowledge) -> Result<u8> {
    // Everything the command line names is checked before anything is loaded.
    let addr = parse_listen(&args.listen)?;
    let web = match &args.web_config {
        Some(path) => WebConfig::load(path)?,
        None => WebConfig::none(),
    };
    let run_as = privileges::RunAs::parse(&args.user)?;
    let mount = cgroups::mount()?;
    let root = match &args.cgroup_root {
        Some(p) => Cgroup::open_as(p, "--cgroup-root")?,
        None => Cgroup::open_as(&mount, "--cgroup-root")?,
    };
    let limits = CgroupLimits {
        cgroups: args.max_cgroups,
        series: args.max_series,
        errno_series: args
            .max_errno_series
            .unwrap_or((args.max_series / 4).max(1024)),
    };
    collector::check_privileges()?;
    // Bound before the capabilities go, so that a port below 1024 works.
    let listener = std::net::TcpListener::bind(addr)
        .with_context(|| format!("cannot listen on --listen {addr}"))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;

    let collector = Collector::start(TraceOptions {
        filter: Filter::Cgroup {
            id: root.id,
            level: root.level,
        },
        latency: if args.no_latency {
            Latency::Off
        } else {
            Latency::EveryCall
        },
        count_denied: false,
        by: None,
        noop: false,
        objects: None,
        per_cgroup: Some(limits),
        only: Default::default(),
        events: args.events == crate::options::Events::All,
        profile: None,
    })?;
    let kept = privileges::drop_privileges(run_as, || collector.cgroups().is_ok())?;
    // The walk that names cgroups reads the hierarchy as that user.
    std::fs::read_dir(&mount).with_context(|| {
        format!(
            "cannot read the cgroup hierarchy {} as --user {}",
            mount.display(),
            run_as.uid
        )
    })?;
    let listener = tokio::net::TcpListener::from_std(listener)?;

    let exporter = Arc::new(Exporter {
        state: Mutex::new(State::new(collector, mount)),
        knowledge,
        limits,
        by_unit: args.by_unit,
        gone_ttl: args.gone_ttl,
        timed: !args.no_latency,
        events: args.events == crate::options::Events::All,
        auth: web.auth,
        password_checks: Arc::new(tokio::sync::Semaphore::new(PASSWORD_CHECKS)),
        kernel: nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
    });
    let tls = web.tls.map(tokio_rustls::TlsAcceptor::from);
    say(format_args!(
        "wl: serving {}://{local}/metrics for the cgroups below {} ({} MiB of kernel maps at most; running as uid {} gid {}; capabilities kept: {})",
        if tls.is_some() { "https" } else { "http" },
        root.path.display(),
        (limits.kernel_bytes(collector::possible_cpus())
            + if args.events == crate::options::Events::All {
                CgroupLimits::event_bytes(collector::possible_cpus())
            } else {
                0
            })
        .div_ceil(1 << 20),
        run_as.uid,
        run_as.gid,
        match kept {
            privileges::Kept::Nothing => "none",
            privileges::Kept::Bpf => "CAP_BPF",
        }
    ));

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let connections = Arc::new(connections::Connections::default());
    let mut housekeeping = tokio::time::interval(HOUSEKEEPING);
    let ttl = args.gone_ttl;
    loop {
        tokio::select! {
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            _ = housekeeping.tick() => {
                let ex = exporter.clone();
                let done = tokio::task::spawn_blocking(move || {
                    ex.state.lock().expect("never poisoned").expire_gone(ttl)
                }).await;
                if let Ok(Err(e)) = done {
                    say(format_args!("wl: warning: {e:#}"));
                }
            }
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                // Room is made by closing the connection idle the longest; with none
                // to close, this one is closed unanswered: a reply would need the TLS
                // handshake the limit is there to spare.
                let Some(admitted) = connections.admit(peer.ip(), Instant::now()) else { continue };
                http::spawn(stream, admitted, exporter.clone(), tls.clone(), graceful.watcher());
            }
        }
    }
    // Requests under way get a few seconds to finish; the programs are detached when
    // the collector is dropped.
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
    say(format_args!("wl: stopped serving"));
    Ok(0)
}

/// A line on standard error. A daemon's stderr may be closed under it (a supervisor
/// that went away): that is no reason to stop serving, as `eprintln!` would.
fn say(line: std::fmt::Arguments) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert!(parse_listen("127.0.0.1:9464").is_ok());
        assert!(parse_listen("[::1]:0").is_ok());
        let e = parse_listen("localhost").unwrap_err().to_string();
        assert!(
            e.starts_with("--listen 'localhost': not an ADDRESS:PORT"),
            "{e}"
        );
    }

    #[test]
    fn memory_at_the_issue_bounds_is_under_64_mib_at_256_cpus() {
        let limits = CgroupLimits {
            cgroups: 1000,
            series: 100_000,
            errno_series: 25_000,
        };
        let bytes = limits.kernel_bytes(256);
        assert!(bytes < 64 << 20, "{bytes}");
        // The pairs dominate: 100,256 × 344 bytes and 131,072 buckets.
        assert!(bytes > 36_000_000, "{bytes}");
    }
}
