//! `cargo xtask bench`: the cost of tracing with wl and with the tools people use today,
//! measured side by side in one run, on two workloads so that nothing is tuned to one
//! syscall: `perf bench syscall basic` (getppid in a loop: the cheapest syscall, where a
//! tracer's own cost shows most) and `perf bench sched pipe` (two processes passing a
//! token through pipes: blocking reads and writes, a context switch per call). Then the
//! kernel work beside the syscalls (wl-testload's loops): writing fresh pages (a page
//! fault each), io_uring NOPs and io_uring reads of a cached file, traced with and
//! without the event programs.
//!
//! Every variant runs once per round and rounds alternate, so that drifts of a shared
//! machine spread over all of them; medians and ranges are reported. The benchmarks
//! report µs per operation, so tools that are too slow for the full loop run a shorter
//! one without changing what is compared. Also measured: the cost wl imposes on
//! processes it does not trace, the cost on every process of the machine while
//! `wl-user serve` runs (which traces them all), its start and end latency, its peak RSS
//! and the kernel memory its maps take on this machine and with 64 and 256 CPUs. Nothing here asserts a
//! time; `--smoke` only checks that every variant runs and that the counts are exact.

use std::{
    fmt::Write as _,
    fs,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context as _, Result, bail, ensure};

pub struct Options {
    pub loops: u64,
    pub rounds: usize,
    pub smoke: bool,
    pub wl_user: PathBuf,
    pub doc: Option<PathBuf>,
}

/// The workloads, each pinned to one CPU so that runs compare like with like.
#[derive(Clone, Copy, PartialEq)]
enum Bench {
    /// `perf bench syscall basic`: `loops` getppid calls.
    SyscallBasic,
    /// `perf bench sched pipe`: `loops` round trips, each a write and a read in each of
    /// two processes.
    SchedPipe,
    /// `wl-testload --bench pages`: `loops` pages of fresh memory written, a fault each.
    PageTouch,
    /// `wl-testload --bench uring-nop`: `loops` io_uring NOPs, 32 per submission.
    UringNop,
    /// `wl-testload --bench uring-read`: `loops` 4 KiB io_uring reads of a cached file.
    UringRead,
}

impl Bench {
    const ALL: [Bench; 5] = [
        Bench::SyscallBasic,
        Bench::SchedPipe,
        Bench::PageTouch,
        Bench::UringNop,
        Bench::UringRead,
    ];

    fn title(self) -> &'static str {
        match self {
            Bench::SyscallBasic => "perf bench syscall basic (getppid in a loop)",
            Bench::SchedPipe => "perf bench sched pipe (two processes, a token through pipes)",
            Bench::PageTouch => "page faults: fresh anonymous pages written, 16 MiB at a time",
            Bench::UringNop => "io_uring NOPs, 32 per submission",
            Bench::UringRead => "io_uring reads of 4 KiB from a cached file, 32 per submission",
        }
    }

    /// A word for the progress line.
    fn short(self) -> &'static str {
        match self {
            Bench::SyscallBasic => "basic",
            Bench::SchedPipe => "pipe",
            Bench::PageTouch => "pages",
            Bench::UringNop => "uring-nop",
            Bench::UringRead => "uring-read",
        }
    }

    /// Whether the tracers besides wl run it: they count syscalls, and the other
    /// benchmarks are about the work no syscall row shows.
    fn is_syscall_bench(self) -> bool {
        matches!(self, Bench::SyscallBasic | Bench::SchedPipe)
    }

    fn variants(self) -> &'static [Variant] {
        if self.is_syscall_bench() {
            &Variant::ALL
        } else {
            &Variant::EVENTS
        }
    }

    /// The loop of this benchmark for `--loops` (given in getppid calls), each about
    /// the same time: a pipe round trip costs about fifty getppid calls, a page fault
    /// about twenty, an io_uring read (32 per io_uring_enter) about four, a NOP about
    /// one.
    fn loops(self, getppid_loops: u64) -> u64 {
        let divisor = match self {
            Bench::SyscallBasic | Bench::UringNop => return getppid_loops.max(1000),
            Bench::SchedPipe => 50,
            Bench::PageTouch => 20,
            Bench::UringRead => 4,
        };
        (getppid_loops / divisor).max(1000)
    }

    fn argv(self, loops: u64, setup: &Setup) -> Vec<String> {
        match self {
            Bench::SyscallBasic => perf_bench(&["syscall", "basic"], loops),
            Bench::SchedPipe => perf_bench(&["sched", "pipe"], loops),
            Bench::PageTouch | Bench::UringNop | Bench::UringRead => {
                let testload = setup.testload.display().to_string();
                let file = setup.scratch.join("uring-read").display().to_string();
                let what = [testload, "--bench".into(), self.short().into()];
                PINNED
                    .map(String::from)
                    .into_iter()
                    .chain(what)
                    .chain([loops.to_string(), file])
                    .collect()
            }
        }
    }

    /// What is counted: the syscall checked and its x86_64 number (bpftrace keys by
    /// it), or what the event benchmarks check.
    fn counted_syscall(self) -> (&'static str, u64) {
        match self {
            Bench::SyscallBasic => ("getppid", 110),
            Bench::SchedPipe => ("read", 0),
            Bench::PageTouch => ("anon minor faults", 0),
            Bench::UringNop => ("NOP ops", 0),
            Bench::UringRead => ("READ ops", 0),
        }
    }

    /// What wl counted of it in `report`.
    fn counted(self, report: &Path) -> Result<u64> {
        let v = last_json(report)?;
        let sum = |list: &str, pick: &dyn Fn(&serde_json::Value) -> bool| {
            v[list]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| pick(r))
                .filter_map(|r| r["calls"].as_u64())
                .sum::<u64>()
        };
        Ok(match self {
            Bench::SyscallBasic | Bench::SchedPipe => {
                let (name, _) = self.counted_syscall();
                sum("syscalls", &|s| s["name"] == name && s["abi"] == "x86_64")
            }
            Bench::PageTouch => sum("events", &|e| {
                e["event"] == "page fault" && e["detail"] == "anon minor"
            }),
            Bench::UringNop => sum("io_uring", &|o| o["op"] == "NOP"),
            Bench::UringRead => sum("io_uring", &|o| o["op"] == "READ"),
        })
    }

    /// How many of what is counted a run of `loops` makes: one getppid per loop; two
    /// pipe reads per round trip, plus the `base` reads perf makes anyway (measured by
    /// strace in [`calibrate`]); one operation per loop of io_uring; at least one fault
    /// per page written (the process takes others as it starts).
    fn expected(self, loops: u64, base: u64) -> u64 {
        match self {
            Bench::SchedPipe => 2 * loops + base,
            _ => loops,
        }
    }

    /// Whether exactly [`Bench::expected`] must be counted, or at least as many.
    fn exact(self) -> bool {
        self != Bench::PageTouch
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Variant {
    Untraced,
    Wl,
    WlSampled,
    WlCounts,
    WlFloor,
    WlInterval,
    WlByProcess,
    WlNoObjects,
    WlNoEvents,
    WlProfile,
    Serve,
    ServeCounts,
    OutsideCgroup,
    OutsidePids,
    Strace,
    PerfTrace,
    BpftraceCount,
    BpftraceLatency,
}

impl Variant {
    /// What the benchmarks of the work beside syscalls compare.
    const EVENTS: [Variant; 5] = [
        Variant::Untraced,
        Variant::Wl,
        Variant::WlFloor,
        Variant::WlNoEvents,
        Variant::OutsideCgroup,
    ];

    const ALL: [Variant; 18] = [
        Variant::Untraced,
        Variant::Wl,
        Variant::WlSampled,
        Variant::WlCounts,
        Variant::WlFloor,
        Variant::WlInterval,
        Variant::WlByProcess,
        Variant::WlNoObjects,
        Variant::WlNoEvents,
        Variant::WlProfile,
        Variant::Serve,
        Variant::ServeCounts,
        Variant::OutsideCgroup,
        Variant::OutsidePids,
        Variant::Strace,
        Variant::PerfTrace,
        Variant::BpftraceCount,
        Variant::BpftraceLatency,
    ];

    fn label(self) -> &'static str {
        match self {
            Variant::Untraced => "untraced",
            Variant::Wl => "wl-user run (counts, errors, latency)",
            Variant::WlSampled => "wl-user run --latency-sample 16 (latency of a sample)",
            Variant::WlCounts => "wl-user run --no-latency (counts, errors)",
            Variant::WlFloor => "floor: wl's programs attached, returning at once",
            Variant::WlInterval => "wl-user run --interval 1 (a JSON line every second)",
            Variant::WlByProcess => "wl-user run --by process (counts per process too)",
            Variant::WlNoObjects => "wl-user run --objects none (no fd/command resolution)",
            Variant::WlNoEvents => "wl-user run --events none (syscalls only)",
            Variant::WlProfile => "wl-user run --profile (kernel stacks sampled at 99 Hz too)",
            Variant::Serve => "wl-user serve (every task of the machine, per cgroup)",
            Variant::ServeCounts => "wl-user serve --no-latency (every task, per cgroup)",
            Variant::OutsideCgroup => "not traced, while wl-user run traces another cgroup",
            Variant::OutsidePids => "not traced, while wl-user attach --pid traces another process",
            Variant::Strace => "strace -f -c",
            Variant::PerfTrace => "perf trace -s",
            Variant::BpftraceCount => "bpftrace: count raw_syscalls of the workload",
            Variant::BpftraceLatency => "bpftrace: count + latency (tid-keyed start map)",
        }
    }

    /// Slow tracers run a shorter loop; µs per call does not depend on its length.
    fn loop_divisor(self) -> u64 {
        match self {
            Variant::Strace | Variant::PerfTrace => 20,
            _ => 1,
        }
    }
}

/// One measurement: µs per getppid call, and how many getppid calls the tool counted
/// (when it reports counts) against how many were made.
struct Sample {
    us_per_call: f64,
    counted: Option<u64>,
}

fn us_per_op(stdout: &str) -> Result<f64> {
    stdout
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_suffix("usecs/op")
                .and_then(|v| v.trim().parse().ok())
        })
        .with_context(|| format!("no 'usecs/op' in the benchmark's output: {stdout}"))
}

fn run_capture(cmd: &mut Command) -> Result<(String, String)> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure!(
        out.status.success(),
        "{cmd:?} failed ({}): {stderr}",
        out.status
    );
    Ok((stdout, stderr))
}

/// A wl-user JSON report: with --interval the file is JSON Lines ending with the report.
fn last_json(report: &Path) -> Result<serde_json::Value> {
    let text = fs::read_to_string(report)?;
    let v: serde_json::Value = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .last()
        .context("an empty JSON report")?
        .context("wl-user's JSON report")?;
    ensure!(v["syscalls"].is_array(), "no syscalls in the report");
    Ok(v)
}

/// The `calls` column of strace -c or perf trace -s for syscall `name`.
fn table_calls(text: &str, name: &str, calls_col_from_name: bool) -> Option<u64> {
    text.lines().find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        if calls_col_from_name {
            // perf trace: "read  calls errors total ..."
            (cols.first() == Some(&name))
                .then(|| cols.get(1)?.parse().ok())
                .flatten()
        } else {
            // strace: "% time seconds usecs/call calls [errors] syscall"
            (cols.last() == Some(&name))
                .then(|| cols.get(3)?.parse().ok())
                .flatten()
        }
    })
}

/// Every workload runs on CPU 1.
const PINNED: [&str; 3] = ["/usr/bin/taskset", "-c", "1"];

/// `perf bench WHAT -l LOOPS`, pinned.
fn perf_bench(what: &[&str], loops: u64) -> Vec<String> {
    PINNED
        .iter()
        .chain(&["/usr/bin/perf", "bench"])
        .chain(what)
        .map(|s| s.to_string())
        .chain(["-l".to_owned(), loops.to_string()])
        .collect()
}

/// The reads `perf bench sched pipe` makes besides its loop (it reads its own files at
/// start), counted by strace: the known part of [`Bench::expected`].
fn calibrate(scratch: &Path) -> Result<u64> {
    let loops = 1000;
    let table = scratch.join("calibrate.txt");
    run_capture(
        Command::new("strace")
            .args(["-f", "-c", "-o"])
            .arg(&table)
            .args(perf_bench(&["sched", "pipe"], loops)),
    )?;
    let reads = table_calls(&fs::read_to_string(&table)?, "read", false)
        .context("no read row in strace's table")?;
    reads
        .checked_sub(2 * loops)
        .with_context(|| format!("strace counted {reads} reads, fewer than the loop's"))
}

/// A wl-user tracing something else in the background, to measure what it costs
/// processes it does not trace.
struct Background {
    child: Child,
    sleeper: Option<Child>,
    /// `serve`: the port it serves /metrics on.
    port: u16,
}

impl Background {
    fn cgroup(wl_user: &Path) -> Result<Background> {
        Background::cgroup_with(wl_user, &[])
    }

    /// `cgroup` with `--by process`: its per-task maps.
    fn cgroup_by_process(wl_user: &Path) -> Result<Background> {
        Background::cgroup_with(wl_user, &["--by", "process"])
    }

    fn cgroup_with(wl_user: &Path, extra: &[&str]) -> Result<Background> {
        let child = Command::new(wl_user)
            .args(["run", "-o", "/dev/null"])
            .args(extra)
            .args(["--", "sleep", "3600"])
            .spawn()
            .context("cannot start wl-user")?;
        // wl-user forks the workload only after its programs are attached; wait until the
        // child has become `sleep`.
        let children = format!("/proc/{0}/task/{0}/children", child.id());
        let deadline = Instant::now() + Duration::from_secs(20);
        let started = || -> Option<()> {
            let kids = fs::read_to_string(&children).ok()?;
            let kid = kids.split_whitespace().next()?;
            (fs::read_to_string(format!("/proc/{kid}/comm")).ok()?.trim() == "sleep").then_some(())
        };
        while started().is_none() {
            ensure!(
                Instant::now() < deadline,
                "wl-user run did not start its workload"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(Background {
            child,
            sleeper: None,
            port: 0,
        })
    }

    /// `wl-user serve` at its defaults: every task of the machine traced.
    fn serve(wl_user: &Path) -> Result<Background> {
        Background::serve_with(wl_user, &[])
    }

    fn serve_with(wl_user: &Path, extra: &[&str]) -> Result<Background> {
        let mut child = Command::new(wl_user)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start wl-user serve")?;
        let mut line = String::new();
        let mut stderr = BufReader::new(child.stderr.take().expect("piped"));
        stderr.read_line(&mut line)?;
        // Its last words, on SIGTERM, go nowhere.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let port = line
            .split("://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("wl-user serve did not start: {line}"))?;
        Ok(Background {
            child,
            sleeper: None,
            port,
        })
    }

    /// The calls of `syscall` (x86_64) in cgroup `label`, from a scrape.
    fn served_calls(&self, label: &str, syscall: &str) -> Result<u64> {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )?;
        let mut text = String::new();
        s.read_to_string(&mut text)?;
        let series =
            format!("wl_syscalls_total{{cgroup=\"{label}\",syscall=\"{syscall}\",abi=\"x86_64\",");
        Ok(text
            .lines()
            .find(|l| l.starts_with(&series))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0))
    }

    fn pids(wl_user: &Path) -> Result<Background> {
        let sleeper = Command::new("sleep").arg("3600").spawn()?;
        let mut child = Command::new(wl_user)
            .args([
                "attach",
                "-o",
                "/dev/null",
                "--pid",
                &sleeper.id().to_string(),
            ])
            .stderr(Stdio::piped())
            .spawn()
            .context("cannot start wl-user")?;
        let mut lines = BufReader::new(child.stderr.take().expect("piped")).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("wl: tracing") => break,
                Some(_) => {}
                None => bail!("wl-user attach ended before tracing"),
            }
        }
        Ok(Background {
            child,
            sleeper: Some(sleeper),
            port: 0,
        })
    }

    fn stop(mut self) -> Result<()> {
        // SAFETY: signalling a child we started.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let st = self.child.wait()?;
        if let Some(mut s) = self.sleeper.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        // run forwards SIGTERM to sleep: 128+15.
        ensure!(
            st.success() || st.code() == Some(143),
            "background wl-user failed: {st}"
        );
        Ok(())
    }
}

/// What one variant of one benchmark is measured with.
struct Setup<'a> {
    bench: Bench,
    /// The benchmark's loop for the fast tools.
    loops: u64,
    /// See [`Bench::expected`].
    base: u64,
    wl_user: &'a Path,
    /// wl-testload, beside wl-user: the workload of the event benchmarks.
    testload: PathBuf,
    scratch: &'a Path,
}

fn measure(v: Variant, setup: &Setup) -> Result<Sample> {
    let loops = (setup.loops / v.loop_divisor()).max(1000);
    let w = setup.bench.argv(loops, setup);
    let (name, nr) = setup.bench.counted_syscall();
    let expected = setup.bench.expected(loops, setup.base);
    let report = setup.scratch.join("report.json");
    let table = setup.scratch.join("table.txt");
    let sample = match v {
        Variant::Untraced => Sample {
            us_per_call: us_per_op(&run_capture(Command::new(&w[0]).args(&w[1..]))?.0)?,
            counted: None,
        },
        Variant::Wl
        | Variant::WlSampled
        | Variant::WlCounts
        | Variant::WlFloor
        | Variant::WlInterval
        | Variant::WlByProcess
        | Variant::WlNoObjects
        | Variant::WlNoEvents
        | Variant::WlProfile => {
            let mut c = Command::new(setup.wl_user);
            c.args(["run", "--format", "json", "-o"]).arg(&report);
            match v {
                Variant::WlFloor => c.arg("--noop"),
                Variant::WlCounts => c.arg("--no-latency"),
                Variant::WlSampled => c.args(["--latency-sample", "16"]),
                Variant::WlInterval => c.args(["--interval", "1"]),
                Variant::WlByProcess => c.args(["--by", "process"]),
                Variant::WlNoObjects => c.args(["--objects", "none"]),
                Variant::WlNoEvents => c.args(["--events", "none"]),
                Variant::WlProfile => c.arg("--profile"),
                _ => &mut c,
            };
            let (out, _) = run_capture(c.arg("--").args(&w))?;
            let counted = setup.bench.counted(&report)?;
            // Without the event programs, the event benchmarks count nothing to check.
            let checked = v != Variant::WlFloor
                && (setup.bench.is_syscall_bench() || v != Variant::WlNoEvents);
            if !checked {
                ensure!(counted == 0, "{} counted {counted} {name}", v.label());
            } else if setup.bench.exact() {
                ensure!(
                    counted == expected,
                    "wl counted {counted} {name} of {expected}"
                );
            } else {
                ensure!(
                    counted >= expected,
                    "wl counted {counted} {name}, fewer than the {expected} made"
                );
            }
            Sample {
                us_per_call: us_per_op(&out)?,
                counted: checked.then_some(counted),
            }
        }
        Variant::Serve | Variant::ServeCounts => {
            let bg = if v == Variant::Serve {
                Background::serve(setup.wl_user)?
            } else {
                Background::serve_with(setup.wl_user, &["--no-latency"])?
            };
            // The workload runs in a cgroup of its own, joined before its execve, so
            // that its count is exact; every other task is traced all the same.
            let name_cg = format!("wl-bench-serve-{}", std::process::id());
            let result = (|| -> Result<(f64, u64)> {
                let root = cgroup2_mount().context("serve needs cgroup v2")?;
                let dir = root.join(&name_cg);
                let _ = fs::remove_dir(&dir);
                fs::create_dir(&dir)?;
                let out = run_capture(
                    Command::new("sh")
                        .arg("-c")
                        .arg(format!(
                            "echo $$ > {}/cgroup.procs && exec \"$@\"",
                            dir.display()
                        ))
                        .arg("sh")
                        .args(&w),
                );
                let counted = bg.served_calls(&format!("/{name_cg}"), name);
                // The workload has exited; its cgroup empties at once.
                for _ in 0..100 {
                    if fs::remove_dir(&dir).is_ok() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Ok((us_per_op(&out?.0)?, counted?))
            })();
            bg.stop()?;
            let (us_per_call, counted) = result?;
            Sample {
                us_per_call,
                counted: Some(counted),
            }
        }
        Variant::OutsideCgroup | Variant::OutsidePids => {
            let bg = if v == Variant::OutsideCgroup {
                Background::cgroup(setup.wl_user)?
            } else {
                Background::pids(setup.wl_user)?
            };
            let result = run_capture(Command::new(&w[0]).args(&w[1..]));
            bg.stop()?;
            Sample {
                us_per_call: us_per_op(&result?.0)?,
                counted: None,
            }
        }
        Variant::Strace => {
            let (out, _) = run_capture(
                Command::new("strace")
                    .args(["-f", "-c", "-o"])
                    .arg(&table)
                    .args(&w),
            )?;
            Sample {
                us_per_call: us_per_op(&out)?,
                counted: table_calls(&fs::read_to_string(&table)?, name, false),
            }
        }
        Variant::PerfTrace => {
            let (out, _) = run_capture(
                Command::new("perf")
                    .args(["trace", "-s", "-o"])
                    .arg(&table)
                    .arg("--")
                    .args(&w),
            )?;
            Sample {
                us_per_call: us_per_op(&out)?,
                // perf trace -s sums per thread; the table has one block per thread.
                counted: Some(
                    fs::read_to_string(&table)?
                        .split("\n\n")
                        .filter_map(|block| table_calls(block, name, true))
                        .sum(),
                ),
            }
        }
        Variant::BpftraceCount | Variant::BpftraceLatency => {
            let script = if v == Variant::BpftraceCount {
                "tracepoint:raw_syscalls:sys_enter /pid == cpid || curtask->real_parent->tgid == cpid/ { @calls[args->id] = count(); }"
            } else {
                "tracepoint:raw_syscalls:sys_enter /pid == cpid || curtask->real_parent->tgid == cpid/ { @start[tid] = nsecs; } \
                 tracepoint:raw_syscalls:sys_exit /@start[tid]/ { @ns[args->id] = stats(nsecs - @start[tid]); delete(@start[tid]); }"
            };
            let (out, _) =
                run_capture(Command::new("bpftrace").args(["-e", script, "-c", &w.join(" ")]))?;
            let counted = out.lines().find_map(|l| {
                let rest = l
                    .strip_prefix(&format!("@calls[{nr}]: "))
                    .or_else(|| l.strip_prefix(&format!("@ns[{nr}]: count ")))?;
                rest.split(',').next()?.trim().parse().ok()
            });
            Sample {
                us_per_call: us_per_op(&out)?,
                counted,
            }
        }
    };
    let right = |c: u64| {
        if setup.bench.exact() {
            c == expected
        } else {
            c >= expected
        }
    };
    if let Some(c) = sample.counted
        && !right(c)
    {
        eprintln!("bench: {} counted {c} of {expected} {name}", v.label());
    }
    Ok(Sample {
        counted: sample.counted.map(|c| if right(c) { u64::MAX } else { c }),
        ..sample
    })
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos()
}

/// (start to exec, exit to report) in ms, medians over `n` runs, each net of the same
/// measurement without wl (the probe program's own start-up and exit).
fn latencies(wl_user: &Path, n: usize) -> Result<(f64, f64)> {
    let probe = ["/bin/date", "+%s%N"];
    let once = |traced: bool| -> Result<(f64, f64)> {
        let mut c = if traced {
            let mut c = Command::new(wl_user);
            c.args(["run", "-o", "/dev/null", "--"]).args(probe);
            c
        } else {
            let mut c = Command::new(probe[0]);
            c.arg(probe[1]);
            c
        };
        let t0 = now_ns();
        let out = c.output()?;
        let t1 = now_ns();
        let printed: u128 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("date's output")?;
        Ok(((printed - t0) as f64 / 1e6, (t1 - printed) as f64 / 1e6))
    };
    let (mut start, mut end) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let (s_plain, e_plain) = once(false)?;
        let (s_wl, e_wl) = once(true)?;
        start.push(s_wl - s_plain);
        end.push(e_wl - e_plain);
    }
    Ok((median(&mut start), median(&mut end)))
}

/// Peak RSS of `wl-user run -- true`, in KiB.
fn peak_rss_kib(wl_user: &Path) -> Result<i64> {
    let child = Command::new(wl_user)
        .args(["run", "-o", "/dev/null", "--", "true"])
        .spawn()?;
    let mut status = 0;
    // SAFETY: rusage is plain data filled in by the kernel; the pid is our child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    ensure!(r > 0, "wait4 failed");
    Ok(usage.ru_maxrss)
}

/// Where cgroup v2 is mounted, if it is.
fn cgroup2_mount() -> Option<PathBuf> {
    fs::read_to_string("/proc/self/mounts")
        .ok()?
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&"cgroup2")).then(|| f[1].into())
        })
}

fn possible_cpus() -> u64 {
    fs::read_to_string("/sys/devices/system/cpu/possible")
        .ok()
        .and_then(|s| s.trim().rsplit(['-', ',']).next()?.parse::<u64>().ok())
        .map_or(1, |last| last + 1)
}

type BackgroundFn = fn(&Path) -> Result<Background>;

/// The kernel memory of a running wl-user's maps (`memlock` in fdinfo).
struct MapMemory {
    /// On this machine.
    here: u64,
    /// The part that per-CPU maps replicate for each possible CPU.
    per_cpu: u64,
}

impl MapMemory {
    /// What the same maps would take with `cpus` possible CPUs.
    fn at(&self, cpus: u64) -> u64 {
        self.here - self.per_cpu * possible_cpus() + self.per_cpu * cpus
    }
}

fn map_memory(bg: Background) -> Result<MapMemory> {
    let pid = bg.child.id();
    let mut m = MapMemory {
        here: 0,
        per_cpu: 0,
    };
    for fd in fs::read_dir(format!("/proc/{pid}/fdinfo"))? {
        let info = fs::read_to_string(fd?.path()).unwrap_or_default();
        let field = |k: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(k)?.trim().parse::<u64>().ok())
        };
        let (Some(kind), Some(memlock)) = (field("map_type:"), field("memlock:")) else {
            continue;
        };
        m.here += memlock;
        // BPF_MAP_TYPE_PERCPU_HASH = 5, BPF_MAP_TYPE_PERCPU_ARRAY = 6: their values
        // are replicated per possible CPU; the rest does not grow with CPUs.
        if kind == 5 || kind == 6 {
            m.per_cpu += field("max_entries:").unwrap_or(0)
                * field("value_size:").unwrap_or(0).next_multiple_of(8);
        }
    }
    bg.stop()?;
    Ok(m)
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split(':')
                    .nth(1)
                    .map(|m| m.trim().to_owned())
            })
        })
        .unwrap_or_default();
    let out = |c: &str, a: &[&str]| {
        Command::new(c)
            .args(a)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    format!(
        "{} CPUs ({cpu}), Linux {}, {}, {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        out("uname", &["-r"]),
        out("perf", &["--version"]),
        out("strace", &["-V"]).lines().next().unwrap_or_default(),
    )
}

pub fn run(opts: Options) -> Result<()> {
    if !Path::new("/sys/kernel/tracing/events").exists() {
        // bpftrace attaches classic tracepoints, which need tracefs.
        fs::create_dir_all("/sys/kernel/tracing").ok();
        let st = Command::new("mount")
            .args(["-t", "tracefs", "nodev", "/sys/kernel/tracing"])
            .status()?;
        ensure!(
            st.success(),
            "cannot mount tracefs at /sys/kernel/tracing (bpftrace needs it)"
        );
        eprintln!("bench: mounted tracefs at /sys/kernel/tracing for bpftrace");
    }
    let scratch = std::env::temp_dir().join(format!("wl-bench-{}", std::process::id()));
    fs::create_dir_all(&scratch)?;
    let result = run_in(&opts, &scratch);
    let _ = fs::remove_dir_all(&scratch);
    result
}

fn run_in(opts: &Options, scratch: &Path) -> Result<()> {
    let base = calibrate(scratch)?;
    let mut sections = String::new();
    for bench in Bench::ALL {
        let setup = Setup {
            bench,
            loops: bench.loops(opts.loops),
            base,
            wl_user: &opts.wl_user,
            testload: opts.wl_user.with_file_name("wl-testload"),
            scratch,
        };
        sections.push_str(&run_bench(opts, &setup)?);
    }
    let (start_ms, end_ms) = latencies(&opts.wl_user, if opts.smoke { 1 } else { 9 })?;
    let rss = peak_rss_kib(&opts.wl_user)?;
    let mut memory = String::new();
    writeln!(
        memory,
        "| kernel memory of wl's maps | here ({} CPUs) | 64 CPUs | 256 CPUs |",
        possible_cpus()
    )?;
    writeln!(memory, "|---|---:|---:|---:|")?;
    for (filter, bg) in [
        (
            "cgroup filter (`run`, `attach --cgroup`)",
            Background::cgroup as BackgroundFn,
        ),
        (
            "pid-tree filter (`run --no-cgroup`, `attach --pid`)",
            Background::pids,
        ),
        (
            "cgroup filter with `--by process`",
            Background::cgroup_by_process,
        ),
        (
            "`serve` at its defaults (1,000 cgroups, 100,000 (cgroup, syscall) pairs)",
            Background::serve,
        ),
    ] {
        let m = map_memory(bg(&opts.wl_user)?)?;
        let mib = |b: u64| b as f64 / (1 << 20) as f64;
        writeln!(
            memory,
            "| {filter} | {:.2} MiB | {:.2} MiB | {:.2} MiB |",
            mib(m.here),
            mib(m.at(64)),
            mib(m.at(256))
        )?;
    }
    let summary = format!(
        "- start to exec: {start_ms:.1} ms; workload exit to report written: {end_ms:.1} ms (net of the probe's own start and exit)\n\
         - wl-user peak RSS: {:.1} MiB\n",
        rss as f64 / 1024.0,
    );
    let text = format!("{sections}{memory}\n{summary}");
    println!("{text}");
    if let Some(doc) = &opts.doc {
        write_doc(doc, opts, &text)?;
        println!("bench: wrote {}", doc.display());
    }
    Ok(())
}

/// The rounds of one benchmark: its table and the ratios that matter, as Markdown.
fn run_bench(opts: &Options, setup: &Setup) -> Result<String> {
    let variants = setup.bench.variants();
    let mut samples: Vec<Vec<Sample>> = variants.iter().map(|_| Vec::new()).collect();
    for round in 0..opts.rounds {
        for (i, &v) in variants.iter().enumerate() {
            eprint!(
                "\rbench: {}: round {}/{}: {:<64}",
                setup.bench.short(),
                round + 1,
                opts.rounds,
                v.label()
            );
            samples[i].push(measure(v, setup).with_context(|| v.label())?);
        }
    }
    eprintln!();
    let median_of =
        |i: usize| median(&mut samples[i].iter().map(|s| s.us_per_call).collect::<Vec<_>>());
    let untraced = median_of(0);
    let (name, _) = setup.bench.counted_syscall();
    let mut table = format!("### {}\n\n", setup.bench.title());
    writeln!(
        table,
        "| variant | µs per op (median) | range | × untraced | {name} counted |"
    )?;
    writeln!(table, "|---|---:|---:|---:|---|")?;
    for (i, &v) in variants.iter().enumerate() {
        let us: Vec<f64> = samples[i].iter().map(|s| s.us_per_call).collect();
        let (lo, hi) = us
            .iter()
            .fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
        let m = median_of(i);
        let counted = match samples[i]
            .iter()
            .map(|s| s.counted)
            .collect::<Vec<_>>()
            .as_slice()
        {
            all if all.iter().all(|c| *c == Some(u64::MAX)) => if setup.bench.exact() {
                "exact"
            } else {
                "each of the loop's"
            }
            .to_owned(),
            all if all.iter().all(Option::is_none) => "-".to_owned(),
            all => format!(
                "off: {}",
                all.iter()
                    .flatten()
                    .filter(|c| **c != u64::MAX)
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let loops = (setup.loops / v.loop_divisor()).max(1000);
        writeln!(
            table,
            "| {} ({loops} loops) | {m:.3} | {lo:.3}–{hi:.3} | {:.2} | {counted} |",
            v.label(),
            m / untraced
        )?;
    }
    let ratio =
        |v: Variant| median_of(variants.iter().position(|&x| x == v).expect("listed")) / untraced;
    let floor = ratio(Variant::WlFloor);
    if !setup.bench.is_syscall_bench() {
        writeln!(
            table,
            "\n- wl traced: {:.2}× untraced, {:+.1}% over --events none (which does not count this work); the floor {floor:.2}×\n\
             - a process wl does not trace, while it traces another cgroup: {:.2}× untraced\n",
            ratio(Variant::Wl),
            100.0 * (ratio(Variant::Wl) / ratio(Variant::WlNoEvents) - 1.0),
            ratio(Variant::OutsideCgroup),
        )?;
        return Ok(table);
    }
    writeln!(
        table,
        "\n- wl traced: {:.2}× untraced, {:.2}× the floor ({floor:.2}× untraced); with --latency-sample 16 {:.2}×, {:.2}× the floor; with --no-latency {:.2}×, {:.2}× the floor\n\
         - processes wl does not trace: {:.2}× the floor with a cgroup filter, {:.2}× with a pid filter ({:+.2} / {:+.2} over it, in units of the untraced cost)\n\
         - object and command resolution (the default) costs {:+.1}% over --objects none\n\
         - counting the events (signals, context switches, page faults, block I/O, io_uring; the default) costs {:+.1}% over --events none\n\
         - sampling the kernel stacks (--profile, 99 Hz) costs {:+.1}% over the same run without\n\
         - every process of the machine while `wl-user serve` runs: {:.2}× untraced ({:.2}× `wl-user run`); with --no-latency {:.2}× ({:.2}× `wl-user run --no-latency`)\n",
        ratio(Variant::Wl),
        ratio(Variant::Wl) / floor,
        ratio(Variant::WlSampled),
        ratio(Variant::WlSampled) / floor,
        ratio(Variant::WlCounts),
        ratio(Variant::WlCounts) / floor,
        ratio(Variant::OutsideCgroup) / floor,
        ratio(Variant::OutsidePids) / floor,
        ratio(Variant::OutsideCgroup) - floor,
        ratio(Variant::OutsidePids) - floor,
        100.0 * (ratio(Variant::Wl) / ratio(Variant::WlNoObjects) - 1.0),
        100.0 * (ratio(Variant::Wl) / ratio(Variant::WlNoEvents) - 1.0),
        100.0 * (ratio(Variant::WlProfile) / ratio(Variant::Wl) - 1.0),
        ratio(Variant::Serve),
        ratio(Variant::Serve) / ratio(Variant::Wl),
        ratio(Variant::ServeCounts),
        ratio(Variant::ServeCounts) / ratio(Variant::WlCounts),
    )?;
    Ok(table)
}

fn write_doc(doc: &Path, opts: &Options, text: &str) -> Result<()> {
    let date = Command::new("date").arg("-u").arg("+%Y-%m-%d").output()?;
    let mut doc_text = fs::read_to_string(doc).unwrap_or_default();
    let generated = format!(
        "<!-- generated by `cargo xtask bench`: {} rounds, {} getppid calls -->\n\
         Measured {} on {}.\n\n{text}<!-- end generated -->",
        opts.rounds,
        opts.loops,
        String::from_utf8_lossy(&date.stdout).trim(),
        machine()
    );
    match (
        doc_text.find("<!-- generated by"),
        doc_text.find("<!-- end generated -->"),
    ) {
        (Some(a), Some(b)) => {
            doc_text.replace_range(a..b + "<!-- end generated -->".len(), &generated)
        }
        _ => doc_text.push_str(&generated),
    }
    fs::write(doc, doc_text)?;
    Ok(())
}
