//! `wl-user serve`: a per-node Prometheus exporter. The kernel side counts every call
//! of every task under the cgroup root per (cgroup, syscall); each scrape of `/metrics`
//! reads those maps, names the cgroups and syscalls, and answers in the Prometheus or
//! OpenMetrics text format. Removed cgroups are shown with their final counts for a
//! grace period (two scrape intervals), then dropped from the maps (or after
//! `--gone-ttl` without a scrape), so memory stays bounded under churn. One label set
//! is one series, whose counters only grow: what removed cgroups of a path counted is
//! kept, and added to a later cgroup with that path, for `--gone-ttl`.

mod cgroups;
mod connections;
mod exposition;
mod privileges;
pub(crate) mod web_config;

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, VecDeque},
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode, body::Incoming, header};
use hyper_util::rt::TokioIo;
use tokio::signal::unix::{SignalKind, signal};
use wl_common::{CgroupSyscallCounts, slot_syscall};

use crate::{
    cgroup::Cgroup,
    cli::ServeArgs,
    collector::{self, CgroupLimits, CgroupSnapshot, Collector, Filter, Latency, TraceOptions},
    syscalls::{AbiName, Knowledge, errno_name},
};
use cgroups::CgroupPaths;
use exposition::{CgroupLabels, ErrnoRow, Scrape, SyscallRow};
use web_config::{BasicAuth, WebConfig};

/// How often removed cgroups past their grace period or `--gone-ttl` are looked for.
const HOUSEKEEPING: Duration = Duration::from_secs(5);
/// How long one connection may live, from accept to close, whatever it does: a client
/// that never reads its reply cannot hold a connection (and its body) for ever.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(60);
/// The most of a request (line and headers) read into memory: a scraper's request is a
/// few hundred bytes. Past it, the request is answered 431.
const REQUEST_BUFFER: usize = 16 << 10;
/// Password checks at once. A bcrypt check costs tens of milliseconds of CPU by
/// design; past this, a request is answered 503 rather than queued.
const PASSWORD_CHECKS: usize = 2;
/// Scrape gaps remembered for the grace period of removed cgroups.
const SCRAPE_GAPS: usize = 8;
/// The label of what did not fit in the per-cgroup maps.
const OTHERS: &str = "(others)";

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
        state: Mutex::new(State {
            collector,
            paths: CgroupPaths::new(mount),
            gone_since: HashMap::new(),
            first_shown: HashMap::new(),
            retired: HashMap::new(),
            last_scrape: None,
            gaps: VecDeque::new(),
        }),
        knowledge,
        limits,
        by_unit: args.by_unit,
        gone_ttl: args.gone_ttl,
        timed: !args.no_latency,
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
        limits
            .kernel_bytes(collector::possible_cpus())
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
                let done = tokio::task::spawn_blocking(move || ex.expire_gone(ttl)).await;
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
                let admitted = Arc::new(admitted);
                let exporter = exporter.clone();
                let service = hyper::service::service_fn({
                    let admitted = admitted.clone();
                    move |req| {
                        let busy = admitted.busy();
                        let reply = handle(req, exporter.clone());
                        async move {
                            let reply = reply.await;
                            drop(busy);
                            reply
                        }
                    }
                });
                let mut http = hyper::server::conn::http1::Builder::new();
                // A client that never finishes its request headers is let go. One that
                // shuts its side after the request (`printf ... | nc`) still gets the
                // reply.
                http.timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .half_close(true)
                    // A scrape's request is well under 1 KiB; hyper would buffer 400.
                    .max_buf_size(REQUEST_BUFFER);
                let watcher = graceful.watcher();
                let tls = tls.clone();
                tokio::spawn(async move {
                    let served = async {
                        match tls {
                            None => {
                                let _ = watcher
                                    .watch(http.serve_connection(TokioIo::new(stream), service))
                                    .await;
                            }
                            Some(acceptor) => {
                                // The handshake runs in the connection's task: a slow
                                // client holds up nobody else. Plain HTTP fails it
                                // and is closed.
                                let Ok(Ok(stream)) = tokio::time::timeout(
                                    Duration::from_secs(10),
                                    acceptor.accept(stream),
                                ).await else { return };
                                let _ = watcher
                                    .watch(http.serve_connection(TokioIo::new(stream), service))
                                    .await;
                            }
                        }
                    };
                    tokio::select! {
                        _ = tokio::time::timeout(CONNECTION_DEADLINE, served) => {}
                        () = admitted.evicted() => {}
                    }
                });
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

struct State {
    collector: Collector,
    paths: CgroupPaths,
    /// Removed cgroups still in the maps, and when they were found removed.
    gone_since: HashMap<u64, Instant>,
    /// Removed cgroups a GET has shown, and when it first did.
    first_shown: HashMap<u64, Instant>,
    /// What removed cgroups counted before they left the maps, by path.
    retired: HashMap<String, Retired>,
    /// When the last GET of `/metrics` came, and the gaps between the recent ones.
    last_scrape: Option<Instant>,
    gaps: VecDeque<Duration>,
}

/// The counts of the removed cgroups of one path, dropped from the maps: added to the
/// series of any cgroup with that path, so that a series (one label set) never goes
/// backwards when `systemctl restart` makes a new cgroup where the old one was.
struct Retired {
    syscalls: HashMap<u32, CgroupSyscallCounts>,
    /// (slot, errno) → failures.
    errnos: HashMap<(u32, u32), u64>,
    /// The last time a cgroup with this path was in the maps: dropped `--gone-ttl`
    /// after.
    seen: Instant,
}

impl Retired {
    fn new(now: Instant) -> Retired {
        Retired {
            syscalls: HashMap::new(),
            errnos: HashMap::new(),
            seen: now,
        }
    }
}

struct Exporter {
    state: Mutex<State>,
    knowledge: Knowledge,
    limits: CgroupLimits,
    by_unit: bool,
    gone_ttl: Duration,
    timed: bool,
    auth: Option<BasicAuth>,
    password_checks: Arc<tokio::sync::Semaphore>,
    kernel: String,
}

async fn handle(
    req: Request<Incoming>,
    exporter: Arc<Exporter>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if exporter.auth.is_some() {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let Ok(permit) = exporter.password_checks.clone().try_acquire_owned() else {
            return Ok(Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .header(header::RETRY_AFTER, "1")
                .body(Full::from("too many password checks at once\n"))
                .expect("a valid response"));
        };
        let ex = exporter.clone();
        let allowed = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            ex.auth
                .as_ref()
                .is_some_and(|a| a.allows(header.as_deref()))
        })
        .await
        .unwrap_or(false);
        if !allowed {
            return Ok(Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header(header::WWW_AUTHENTICATE, "Basic realm=\"wl\"")
                .body(Full::from("Unauthorized\n"))
                .expect("a valid response"));
        }
    }
    let reply = |status: StatusCode, kind: &str, body: Bytes| {
        Ok(Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, kind)
            .body(Full::new(body))
            .expect("a valid response"))
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => {
            let openmetrics = wants_openmetrics(
                req.headers()
                    .get(header::ACCEPT)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(""),
            );
            let gzip = accepts_gzip(
                req.headers()
                    .get(header::ACCEPT_ENCODING)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(""),
            );
            // A HEAD shows nothing: it does not use up a removed cgroup's showing.
            let shows = req.method() == Method::GET;
            let ex = exporter.clone();
            let scraped = tokio::task::spawn_blocking(move || {
                let text = ex.scrape(openmetrics, shows, ex.gone_ttl)?;
                Ok::<_, anyhow::Error>(if gzip { compress(&text) } else { text.into() })
            })
            .await;
            match scraped {
                Ok(Ok(body)) => {
                    let mut r = Response::builder().status(StatusCode::OK).header(
                        header::CONTENT_TYPE,
                        if openmetrics {
                            "application/openmetrics-text; version=1.0.0; charset=utf-8"
                        } else {
                            "text/plain; version=0.0.4; charset=utf-8"
                        },
                    );
                    if gzip {
                        r = r.header(header::CONTENT_ENCODING, "gzip");
                    }
                    Ok(r.body(Full::new(body)).expect("a valid response"))
                }
                Ok(Err(e)) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    format!("wl: {e:#}\n").into(),
                ),
                Err(_) => reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "text/plain",
                    "wl: the scrape failed\n".into(),
                ),
            }
        }
        "/" => reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            "<html><head><title>wl exporter</title></head><body><h1>wl exporter</h1>\
             <p>System calls by cgroup and kernel subsystem: <a href=\"/metrics\">/metrics</a></p>\
             </body></html>\n"
                .into(),
        ),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "not found\n".into()),
    }
}

/// Whether the client takes a gzip body (Prometheus always does). An exposition of
/// many cgroups runs to megabytes of repetitive text, which gzip shrinks tenfold.
fn accepts_gzip(accept_encoding: &str) -> bool {
    accept_encoding.split(',').any(|coding| {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or("");
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f64>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        name.eq_ignore_ascii_case("gzip") && !refused
    })
}

/// The body gzipped at a fast level: a scrape should not wait on compression.
fn compress(text: &str) -> Bytes {
    use std::io::Write as _;
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(text.len() / 8),
        flate2::Compression::fast(),
    );
    // Writing into a Vec cannot fail.
    gz.write_all(text.as_bytes()).expect("gzip into memory");
    gz.finish().expect("gzip into memory").into()
}

/// Whether the `Accept` header asks for OpenMetrics (with a non-zero weight).
fn wants_openmetrics(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let kind = parts.next().unwrap_or("");
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f64>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        kind.eq_ignore_ascii_case("application/openmetrics-text") && !refused
    })
}

impl Exporter {
    /// Reads the kernel side, names what it holds and encodes it. A GET (`shows`) then
    /// drops the removed cgroups whose grace period after their first showing is over;
    /// a HEAD changes nothing.
    fn scrape(&self, openmetrics: bool, shows: bool, ttl: Duration) -> Result<String> {
        let mut state = self.state.lock().expect("never poisoned");
        let now = Instant::now();
        let snap = state.collector.cgroup_snapshot()?;
        let (scrape, gone) = self.name(&mut state, &snap, now);
        if shows {
            state.note_scrape(now);
            let grace = state.grace(ttl);
            let mut done = BTreeMap::new();
            for (id, path) in gone {
                let first = *state.first_shown.entry(id).or_insert(now);
                if now.duration_since(first) >= grace {
                    done.insert(id, path);
                }
            }
            state.retire(&done, &snap, now)?;
        }
        // The snapshot goes before the text is made: the two are the largest things a
        // scrape holds. The lock is held while encoding, so that one exposition is
        // made at a time.
        drop(snap);
        Ok(scrape.encode(openmetrics))
    }

    /// The scrape of `snap`, one series per label set: cgroups that share a path (a
    /// removed one and its successor, after `systemctl restart`) are summed, with what
    /// the removed ones of that path counted before they were dropped. Also returns the
    /// removed cgroups shown, with their paths.
    fn name(
        &self,
        state: &mut State,
        snap: &CgroupSnapshot,
        now: Instant,
    ) -> (Scrape, BTreeMap<u64, String>) {
        let mut scrape = Scrape {
            timed: self.timed,
            version: env!("CARGO_PKG_VERSION"),
            kernel: self.kernel.clone(),
            lost: snap.lost.clone(),
            ..Scrape::default()
        };
        // Cgroup id → index into scrape.cgroups; None for one not resolved yet.
        let mut index: HashMap<u64, Option<usize>> = HashMap::new();
        let mut by_path: HashMap<String, usize> = HashMap::new();
        let mut walked = false;
        let mut shown_gone = BTreeMap::new();
        let mut states: BTreeMap<&'static str, u64> =
            [("live", 0), ("gone", 0), ("unresolved", 0)].into();
        let ids = snap
            .counts
            .iter()
            .map(|(k, _)| k.cgroup_id)
            .chain(snap.cgroups.keys().copied());
        for id in ids {
            if index.contains_key(&id) {
                continue;
            }
            let gone = snap.cgroups.get(&id).cloned().flatten();
            let path = path_of(&mut state.paths, id, gone.as_deref(), &mut walked);
            if id != 0 {
                *states
                    .get_mut(match (&gone, &path) {
                        (Some(_), _) => "gone",
                        (None, Some(_)) => "live",
                        (None, None) => "unresolved",
                    })
                    .expect("listed") += 1;
            }
            let Some(path) = path else {
                index.insert(id, None);
                continue;
            };
            if gone.is_some() {
                shown_gone.insert(id, path.clone());
            }
            let i = match by_path.get(&path) {
                Some(&i) => i,
                None => {
                    let unit = (self.by_unit && id != 0).then(|| cgroups::unit_of(&path));
                    scrape.cgroups.push(CgroupLabels::new(path.clone(), unit));
                    by_path.insert(path, scrape.cgroups.len() - 1);
                    scrape.cgroups.len() - 1
                }
            };
            index.insert(id, Some(i));
        }
        scrape.cgroup_states = states;

        let mut counts: BTreeMap<(usize, u32), CgroupSyscallCounts> = BTreeMap::new();
        for (key, c) in &snap.counts {
            if let Some(&Some(i)) = index.get(&key.cgroup_id) {
                *counts.entry((i, key.slot)).or_default() += c;
            }
        }
        let mut errnos: BTreeMap<(usize, u32, u32), u64> = BTreeMap::new();
        for (key, n) in &snap.errnos {
            if let Some(&Some(i)) = index.get(&key.cgroup_id) {
                *errnos.entry((i, key.slot, key.errno)).or_default() += n;
            }
        }
        for (i, labels) in scrape.cgroups.iter().enumerate() {
            let Some(retired) = state.retired.get_mut(&labels.path) else {
                continue;
            };
            retired.seen = now;
            for (slot, c) in &retired.syscalls {
                *counts.entry((i, *slot)).or_default() += c;
            }
            for ((slot, errno), n) in &retired.errnos {
                *errnos.entry((i, *slot, *errno)).or_default() += n;
            }
        }

        let name = |slot: u32| {
            let (abi, nr) = slot_syscall(slot);
            let abi = AbiName::of(wl_common::Abi::from_index(abi).expect("slot within the table"));
            let described = self.knowledge.describe(abi, nr);
            (described.name, abi.as_str(), described.subsystem)
        };
        for ((cgroup, slot), c) in counts {
            let (syscall, abi, subsystem) = name(slot);
            scrape.syscalls.push(SyscallRow {
                cgroup,
                syscall,
                abi,
                subsystem,
                calls: c.counts.calls,
                total_ns: c.counts.total_ns,
                latency_log2: c.latency_log2,
            });
        }
        for ((cgroup, slot, errno), n) in errnos {
            let (syscall, abi, _) = name(slot);
            scrape.errnos.push(ErrnoRow {
                cgroup,
                syscall,
                abi,
                errno: errno_name(errno),
                errors: n,
            });
        }
        // A stable order: by cgroup path, then syscall.
        let cgroups = &scrape.cgroups;
        scrape.syscalls.sort_by(|a, b| {
            (&cgroups[a.cgroup].path, &a.syscall, a.abi).cmp(&(
                &cgroups[b.cgroup].path,
                &b.syscall,
                b.abi,
            ))
        });
        scrape.errnos.sort_by(|a, b| {
            (&cgroups[a.cgroup].path, &a.syscall, a.abi, &a.errno).cmp(&(
                &cgroups[b.cgroup].path,
                &b.syscall,
                b.abi,
                &b.errno,
            ))
        });
        let others = snap.counts.iter().filter(|(k, _)| k.cgroup_id == 0).count();
        scrape.maps = [
            (
                "cgroups",
                (snap.cgroups.len() as u64, u64::from(self.limits.cgroups)),
            ),
            (
                "cgroup_syscalls",
                (
                    (snap.counts.len() - others) as u64,
                    u64::from(self.limits.series),
                ),
            ),
            (
                "cgroup_errnos",
                (
                    snap.errnos.len() as u64,
                    u64::from(self.limits.errno_series),
                ),
            ),
        ]
        .into();
        (scrape, shown_gone)
    }

    /// Drops removed cgroups whose grace period after their first showing is over, or
    /// that no scrape has shown within `ttl`, and the retired counts of paths no cgroup
    /// has had for `ttl`.
    fn expire_gone(&self, ttl: Duration) -> Result<()> {
        let mut state = self.state.lock().expect("never poisoned");
        let state = &mut *state;
        let now = Instant::now();
        let cgroups = state.collector.cgroups()?;
        state
            .gone_since
            .retain(|id, _| cgroups.get(id).is_some_and(Option::is_some));
        state
            .first_shown
            .retain(|id, _| cgroups.get(id).is_some_and(Option::is_some));
        let grace = state.grace(ttl);
        let mut walked = false;
        let mut expired = BTreeMap::new();
        for (&id, gone) in &cgroups {
            let Some(path) = path_of(&mut state.paths, id, gone.as_deref(), &mut walked) else {
                continue;
            };
            if let Some(retired) = state.retired.get_mut(&path) {
                retired.seen = now;
            }
            if gone.is_none() {
                continue;
            }
            let since = *state.gone_since.entry(id).or_insert(now);
            let shown_long_enough = state
                .first_shown
                .get(&id)
                .is_some_and(|&t| now.duration_since(t) >= grace);
            if shown_long_enough || now.duration_since(since) >= ttl {
                expired.insert(id, path);
            }
        }
        if !expired.is_empty() {
            let snap = state.collector.cgroup_snapshot()?;
            state.retire(&expired, &snap, now)?;
        }
        state
            .retired
            .retain(|_, r| now.duration_since(r.seen) < ttl);
        Ok(())
    }
}

/// The `cgroup` label of cgroup `id`: its path; `(others)` for what did not fit; the
/// path the kernel side kept for a removed one never seen, else its id; None for a
/// live one made since the last walk of the hierarchy.
fn path_of(
    paths: &mut CgroupPaths,
    id: u64,
    gone: Option<&str>,
    walked: &mut bool,
) -> Option<String> {
    if id == 0 {
        return Some(OTHERS.to_owned());
    }
    match (paths.path(id, walked), gone) {
        (Some(p), _) => Some(p.to_owned()),
        (None, Some(p)) if !p.is_empty() => Some(p.to_owned()),
        // Removed, and its path could not be read: shown by id rather than
        // dropped unseen.
        (None, Some(_)) => Some(format!("(removed cgroup {id})")),
        (None, None) => None,
    }
}

impl State {
    /// How long a removed cgroup stays after its first showing: two of the longest gap
    /// between the recent scrapes, so that each of two servers scraping the node (an
    /// HA pair) sees its final counts; `ttl` until two scrapes have been seen.
    fn grace(&self, ttl: Duration) -> Duration {
        self.gaps.iter().max().map_or(ttl, |g| (*g * 2).min(ttl))
    }

    fn note_scrape(&mut self, now: Instant) {
        if let Some(last) = self.last_scrape {
            if self.gaps.len() == SCRAPE_GAPS {
                self.gaps.pop_front();
            }
            self.gaps.push_back(now.duration_since(last));
        }
        self.last_scrape = Some(now);
    }

    /// Drops removed cgroups from the maps, keeping what they counted under their
    /// paths: a later cgroup with the same path continues their series.
    fn retire(
        &mut self,
        ids: &BTreeMap<u64, String>,
        snap: &CgroupSnapshot,
        now: Instant,
    ) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        for (key, c) in &snap.counts {
            if let Some(path) = ids.get(&key.cgroup_id) {
                let retired = self
                    .retired
                    .entry(path.clone())
                    .or_insert_with(|| Retired::new(now));
                *retired.syscalls.entry(key.slot).or_default() += c;
            }
        }
        for (key, n) in &snap.errnos {
            if let Some(path) = ids.get(&key.cgroup_id) {
                let retired = self
                    .retired
                    .entry(path.clone())
                    .or_insert_with(|| Retired::new(now));
                *retired.errnos.entry((key.slot, key.errno)).or_default() += n;
            }
        }
        let ids: BTreeSet<u64> = ids.keys().copied().collect();
        self.collector.forget_cgroups(&ids)?;
        for id in ids {
            self.paths.forget(id);
            self.gone_since.remove(&id);
            self.first_shown.remove(&id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_only_when_asked() {
        // Prometheus 2.42's header.
        assert!(wants_openmetrics(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(!wants_openmetrics("*/*"));
        assert!(!wants_openmetrics(""));
        assert!(!wants_openmetrics("application/openmetrics-text;q=0"));
    }

    #[test]
    fn gzip_when_accepted() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, gzip;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip(""));
        let text = "wl_syscalls_total 1\n".repeat(100);
        let mut back = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&compress(&text)[..]),
            &mut back,
        )
        .unwrap();
        assert_eq!(back, text);
    }

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
