//! Command-line interface.

use std::{ffi::OsString, path::PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::{
    collector::{Filter, Latency, TraceOptions},
    options::{By, Events, Only},
    report::{Format, ObjectsShown, Render, SortKey, Weight},
    seccomp::Denial,
    syscalls::Knowledge,
};

#[derive(Parser)]
#[command(
    name = "wl-user",
    version,
    about = "Which kernel subsystems a workload uses: counts every system call of a workload with eBPF",
    long_about = "Counts every system call a workload makes, and every error and the time spent in \
each, with eBPF programs on the raw_syscalls tracepoints, filtered in the kernel to the workload's \
cgroup or process tree. Needs root (or CAP_BPF and CAP_PERFMON) and a kernel with BTF.\n\n\
Times are wall time in each call, from entry to exit (what strace -c -w measures, not strace -c's \
system CPU time): a call that sleeps or waits counts its waiting. The table marks with ~ the calls \
that mostly wait (wait4, poll, epoll_wait, nanosleep, futex, ...) and says how much of the time \
they took.",
    after_help = "Examples:\n  sudo wl-user run -- perf bench syscall basic\n  sudo wl-user run --format rst -- perf bench all\n  wl-user syscalls openat\n  sudo wl-user attach --pid 1234 --duration 10\n  sudo wl-user attach --cgroup /sys/fs/cgroup/system.slice/nginx.service --format json -o nginx.json\n  sudo wl-user serve --listen 0.0.0.0:9464 --web-config /etc/wl/web.yml   # for Prometheus\n\nExit status: run exits with the command's own status (128+N when signal N killed it); 125 when wl-user itself fails (a bad option, a file it cannot read or write, a kernel that will not let it trace), 126 when the command cannot run, 127 when it is not found. diff exits 0/1/2 like diff(1), check 0 or 1."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a command and count the syscalls of it and of every process it starts.
    ///
    /// The report is printed when the command and all its descendants (even ones that
    /// detached with setsid) have exited. wl-user then exits with the command's status
    /// (128+N if a signal N killed it). SIGINT, SIGTERM and SIGHUP are passed on to the command.
    Run(RunArgs),
    /// Count the syscalls of processes or a cgroup that already run.
    ///
    /// Tracing ends on Ctrl-C (or SIGTERM, SIGHUP), after --duration, or when every traced
    /// process has exited (for --cgroup without --duration: when the cgroup is empty);
    /// the report is printed in every case.
    Attach(AttachArgs),
    /// List the syscalls wl knows, or explain one: its number in each ABI, the kernel
    /// function and source file that implement it, its subsystem and MAINTAINERS entry.
    Syscalls(SyscallsArgs),
    /// Compare two JSON reports: syscalls and subsystems that appeared or vanished, and
    /// syscalls whose calls, errors, errnos or latency changed beyond noise.
    ///
    /// Made for CI: record a baseline once, trace each new build the same way, and gate
    /// on what the workload newly needs from the kernel. Exits 0 when no --fail-on
    /// condition holds, 1 when one does (each named on standard error), 2 on trouble
    /// (a file that is not a report, a bad flag).
    ///
    /// Reports without a "schema" field (older wl-user) are read too; differences that
    /// make numbers incomparable (another architecture, other syscall tables, an untimed
    /// report) are printed as notes.
    #[command(after_long_help = "A CI recipe:
  sudo wl-user run -f json -o base.json -- ./testsuite   # once; keep base.json
  sudo wl-user run -f json -o new.json -- ./testsuite    # on every change
  wl-user diff base.json new.json --fail-on new-syscall,new-subsystem,new-errno,calls:+20%")]
    Diff(DiffArgs),
    /// Write a seccomp profile that allows exactly the syscalls a saved JSON report saw.
    ///
    /// The OCI format is what runc, Docker and Podman take (--security-opt
    /// seccomp=FILE); `wl-user run --seccomp FILE -- CMD` re-runs the workload under it
    /// and reports every call it denies. Example:
    ///   wl-user run -f json -o base.json -- make
    ///   wl-user seccomp base.json -o make.json
    ///   wl-user run --seccomp make.json -- make
    Seccomp(SeccompArgs),
    /// Check whether wl can trace on this machine: kernel, privileges, BTF, the fields and
    /// tracepoints wl uses, task storage, cgroup v2, and a real load of the programs.
    ///
    /// Exits 0 when wl can trace here, 1 when it cannot (the NO lines say why).
    Check,
    /// Serve every cgroup's syscalls to Prometheus: a per-node exporter.
    ///
    /// Counts every system call of every task below the cgroup root (the whole machine
    /// by default) per (cgroup, syscall) in the kernel, and serves /metrics in the
    /// Prometheus text format, or OpenMetrics when the scraper asks for it:
    /// wl_syscalls_total{cgroup,syscall,abi,subsystem}, wl_syscall_errors_total{...,errno},
    /// wl_syscall_duration_seconds (histogram), wl_subsystem_calls_total{cgroup,subsystem},
    /// wl_lost_total{reason}, wl_build_info{version,kernel}, and the fill of the
    /// kernel maps. `cgroup` is the path below the cgroup v2 mount.
    ///
    /// Kernel memory is bounded by --max-cgroups and --max-series and printed at start;
    /// calls past them are counted under cgroup="(others)" and in wl_lost_total. A
    /// removed cgroup's final counts are shown for two scrape intervals, then it is
    /// dropped (or after --gone-ttl without a scrape); a cgroup made again at the same
    /// path continues its series. After loading its programs the daemon drops its
    /// capabilities and becomes an unprivileged user (--user). SIGTERM or SIGINT stops
    /// it. docs/fleet.md has a systemd unit, a Kubernetes DaemonSet, a scrape config and
    /// queries.
    #[command(after_long_help = "Examples:
  sudo wl-user serve                                    # http://127.0.0.1:9464/metrics
  sudo wl-user serve --listen 0.0.0.0:9464 --web-config /etc/wl/web.yml --by-unit
  sudo wl-user serve --cgroup-root /sys/fs/cgroup/system.slice --max-cgroups 200
  curl -s 127.0.0.1:9464/metrics | grep '^wl_subsystem_calls_total'

A web config (the format Prometheus exporters share):
  tls_server_config:
    cert_file: /etc/wl/server.crt
    key_file: /etc/wl/server.key
  basic_auth_users:
    prometheus: $2y$10$...     # htpasswd -nBC 10 \"\" | tr -d ':'")]
    Serve(ServeArgs),
    /// Print a shell completion script for wl-user.
    ///
    /// Packages install it already; by hand, e.g.:
    /// wl-user completions bash > /etc/bash_completion.d/wl-user
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Packaging only: write the manual pages (wl-user.1, one per subcommand) into DIR.
    #[command(hide = true)]
    Man {
        /// Where to write the pages; it must exist.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

/// Where the names of syscalls, objects and commands come from: the subcommands that
/// name what they trace or list take it.
#[derive(Args)]
pub struct TablesArgs {
    /// Name syscalls from this Linux source tree (its syscall tables, SYSCALL_DEFINE sites
    /// and MAINTAINERS) instead of the tables built into wl-user. Takes a few seconds.
    #[arg(long, value_name = "DIR")]
    pub kernel_src: Option<PathBuf>,
}

impl TablesArgs {
    /// The syscall knowledge to name with; a bad --kernel-src fails before anything runs.
    pub fn knowledge(&self) -> anyhow::Result<Knowledge> {
        Knowledge::load(self.kernel_src.as_deref())
    }
}

#[derive(Args)]
pub struct SeccompArgs {
    /// A report written by `wl-user run --format json -o FILE`.
    pub report: PathBuf,
    /// Profile format.
    #[arg(long, short = 'f', value_enum, default_value_t = ProfileFormat::Oci)]
    pub format: ProfileFormat,
    /// What the profile does to other syscalls: errno (EPERM), kill or log.
    #[arg(long, value_enum, default_value_t = Denial::Errno)]
    pub action: Denial,
    /// Write the profile to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProfileFormat {
    /// OCI seccomp JSON (runc, Docker, Podman).
    Oci,
    /// systemd unit settings: SystemCallFilter=, SystemCallArchitectures=.
    Systemd,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Where to serve /metrics: ADDRESS:PORT. Loopback by default; a wildcard address
    /// (0.0.0.0:9464, [::]:9464) serves every network and must be asked for. Port 0
    /// picks a free port (printed at start).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:9464")]
    pub listen: String,
    /// Count the tasks of this cgroup v2 directory and the cgroups below it only (by
    /// default the whole hierarchy).
    #[arg(long, value_name = "PATH")]
    pub cgroup_root: Option<PathBuf>,
    /// Also label each cgroup with its systemd unit, container id and Kubernetes pod
    /// UID (`unit`, `container`, `pod`), read from the layouts systemd, Docker,
    /// containerd, CRI-O, Podman and the kubelet use; empty where they do not match.
    #[arg(long)]
    pub by_unit: bool,
    /// Cgroups counted at once in the kernel. Calls of further cgroups go to
    /// cgroup="(others)" and wl_lost_total{reason="cgroup_map_full"} until removed
    /// cgroups make room.
    #[arg(long, value_name = "N", default_value_t = wl_common::DEFAULT_MAX_CGROUPS,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_cgroups: u32,
    /// (cgroup, syscall) pairs counted at once in the kernel: each is one
    /// wl_syscalls_total series and one histogram (344 bytes of kernel memory). Calls
    /// of further pairs go to cgroup="(others)" and reason="cgroup_series_full".
    #[arg(long, value_name = "N", default_value_t = wl_common::DEFAULT_MAX_SERIES,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_series: u32,
    /// (cgroup, syscall, errno) triples counted at once; default a quarter of
    /// --max-series, at least 1024.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_errno_series: Option<u32>,
    /// TLS and basic auth, in the web config format of Prometheus exporters
    /// (tls_server_config: cert_file, key_file, client_auth_type, client_ca_file,
    /// min_version; basic_auth_users: name: bcrypt hash). Unknown fields, and a file
    /// or key that asks for nothing (basic_auth_users: {}), are refused at start.
    #[arg(long, value_name = "FILE")]
    pub web_config: Option<PathBuf>,
    /// A removed cgroup is dropped two scrape intervals after a scrape first showed
    /// its final counts (at most SECONDS), or after SECONDS if none has; what it
    /// counted stays in the series of its path for SECONDS more.
    #[arg(long, value_name = "SECONDS", default_value = "300", value_parser = parse_duration)]
    pub gone_ttl: std::time::Duration,
    /// The user to run as once the programs are attached and the port is bound: a
    /// name or a number (65534, nobody, by default). Its cgroup hierarchy must be
    /// readable to it; `--user 0` stays root (capabilities are dropped all the same).
    #[arg(long, value_name = "NAME|UID", default_value = "65534")]
    pub user: String,
    /// Count calls and errors only, without timing each call: no duration histogram,
    /// and the cheapest way to serve.
    #[arg(long)]
    pub no_latency: bool,
    /// The kernel work beside the syscalls, per cgroup: wl_events_total (page faults
    /// by outcome, signals by name for the cgroup of the task they were sent to,
    /// context switches, block I/O bios by operation) and wl_io_uring_ops_total (by
    /// operation and the subsystem that served it, for the cgroup of the ring's
    /// owner). `none` leaves their programs unattached: every page fault and context
    /// switch of the machine then pays nothing.
    #[arg(long, value_enum, value_name = "WHICH", default_value_t = Events::All)]
    pub events: Events,
    #[command(flatten)]
    pub tables: TablesArgs,
}

#[derive(Args)]
pub struct SyscallsArgs {
    /// A syscall name (`openat`), to explain it; without one, list them all.
    pub name: Option<String>,
    /// The ABI to list (the machine's own by default).
    #[arg(long, value_enum)]
    pub arch: Option<crate::syscalls::AbiName>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    #[command(flatten)]
    pub tables: TablesArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
    Csv,
}

#[derive(Args)]
pub struct OutputArgs {
    /// Report format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report to FILE instead ('-' for standard output). The file is created
    /// before tracing starts, so a bad path fails at once.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Under the table, each syscall's latency histogram as text bars: calls per
    /// power-of-two range of nanoseconds, busiest syscall first.
    #[arg(long)]
    pub histogram: bool,
    /// Show the first N syscalls (in --sort order) and one line for the rest; with
    /// --by, the N busiest processes (threads, commands) instead. In the table, md and
    /// rst; JSON and CSV always list them all.
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub top: Option<u64>,
    /// The order of syscall rows in every format: time (wall time in the call, the
    /// default), calls, errors or name.
    #[arg(long, short = 'S', value_enum, value_name = "KEY", default_value_t = SortKey::Time)]
    pub sort: SortKey,
    /// With --format svg: what the boxes' widths measure, time spent in each syscall
    /// (the default) or its calls. An untimed report (--no-latency) is drawn by calls.
    #[arg(long, value_enum)]
    pub weight: Option<Weight>,
}

impl OutputArgs {
    /// How to write the report; checked before anything runs.
    pub fn render(&self) -> anyhow::Result<Render> {
        if self.histogram && self.format != Format::Table {
            anyhow::bail!(
                "--histogram draws text bars under the table; with --format {} the histograms are in the report's data (latency_log2 in JSON)",
                clap::ValueEnum::to_possible_value(&self.format)
                    .map_or_else(String::new, |v| v.get_name().to_owned())
            );
        }
        if self.weight.is_some() && self.format != Format::Svg {
            anyhow::bail!(
                "--weight sets the widths of the SVG picture's boxes; it needs --format svg"
            );
        }
        Ok(Render {
            format: self.format,
            histograms: self.histogram,
            weight: self.weight.unwrap_or(Weight::Time),
            one_line: false,
            top: self.top.map(|n| n as usize),
            sort: self.sort,
            // Output::write sets it, knowing where the report goes.
            width: None,
            // `run` and `attach` set it from --objects, a tracing option.
            objects: ObjectsShown::Auto,
        })
    }
}

/// What to measure: the options `run` and `attach` share.
#[derive(Args)]
pub struct TraceArgs {
    /// Count calls and errors only, without timing each call: no clock reads and no
    /// per-task state, the cheapest way to trace. Time columns are then empty.
    #[arg(long, conflicts_with = "latency_sample")]
    pub no_latency: bool,
    /// Time one call in N of each thread instead of every call, for less overhead on
    /// syscall-heavy workloads. Every call is still counted, with its errors; a syscall
    /// called fewer than 64 times on a CPU is timed on every call. Times and shares are
    /// then estimated from the timed calls (the report says so).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub latency_sample: Option<u32>,
    /// Benchmarks only: attach programs that return at once and count nothing.
    #[arg(long, hide = true)]
    pub noop: bool,
    /// While tracing, report every SECONDS (fractions allowed) what happened since the
    /// last report, then the usual final report. With --format json: JSON Lines, one
    /// object per interval and the final report last; with the table on a terminal: a
    /// view redrawn in place (calls/s, errors/s, share of time); elsewhere a table block
    /// per interval. Other formats are refused.
    #[arg(long, short = 'i', value_name = "SECONDS", value_parser = parse_duration)]
    pub interval: Option<std::time::Duration>,
    /// Also split the counts by process (its threads summed), by thread, or by command
    /// name. JSON gains `processes`, `threads` or `commands`; the table a block per
    /// process, busiest first (see --top). A run that starts more processes than the
    /// kernel side can hold counts the rest under "others" and says how many calls.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub by: Option<By>,
    /// What each call on an fd worked on, and each multiplexed call's command: a `write`
    /// to a pipe, a TCP socket or an ext4 file, an `ioctl` SIOCGIFCONF on a socket, a
    /// futex FUTEX_WAKE. `auto` shows a syscall's objects under it where it reached
    /// more than one, or one served outside the syscall's own subsystem, and counts the
    /// subsystem summary by what served each call; `all` shows every object; `none`
    /// resolves nothing (the kernel side does not look). JSON always has every object
    /// resolved.
    #[arg(long, value_enum, value_name = "WHICH", default_value_t = ObjectsShown::Auto)]
    pub objects: ObjectsShown,
    /// Count only these syscalls: names and classes, comma-separated or repeated
    /// (`-s openat,read -s %network`). Classes: %file, %network, %process, %memory,
    /// %signal, %ipc, %time, %sched, %futex, or any subsystem's name (%io_uring). A
    /// name counts in every ABI that has it. The kernel side lets the other calls go at
    /// their entry, untimed and unresolved; the report says what it counted.
    #[arg(long, short = 's', value_name = "NAMES", value_delimiter = ',')]
    pub syscall: Vec<String>,
    /// The kernel work no syscall row shows: the traced tasks' page faults (by memory
    /// and outcome), signals, context switches and block I/O (the `events` of
    /// reports), and their io_uring operations (`io_uring`). `none` leaves their
    /// programs unattached: the machine's faults and context switches then pay nothing.
    #[arg(long, value_enum, value_name = "WHICH", default_value_t = Events::All)]
    pub events: Events,
    /// The same as --events none.
    #[arg(long, hide = true)]
    pub no_events: bool,
    /// Where the kernel's time goes: sample the traced tasks' kernel stacks HZ times a
    /// second on each CPU (default 99; the PMU's cycle counter, or cpu-clock where there
    /// is none) and credit each sample to the subsystem doing the work, through the
    /// source file of each function (shared helpers such as copy routines, locking and
    /// entry code count for their caller). The table gains "kernel time by subsystem"
    /// with its top files and functions; JSON `profile`; `--format folded` writes the
    /// stacks for flame-graph tools; the SVG a flame graph. Costs about 16 MiB of
    /// kernel memory while tracing.
    #[arg(
        long,
        value_name = "HZ",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "99"
    )]
    pub profile: Option<u64>,
    /// Count only calls that failed (returned an error number), with their errnos,
    /// time and objects; like strace -Z.
    #[arg(long)]
    pub failed: bool,
    /// Count only calls that failed with one of these errnos: names or numbers,
    /// comma-separated (`-e ENOENT,EAGAIN`). Implies --failed.
    #[arg(long, short = 'e', value_name = "ERRNOS", value_delimiter = ',')]
    pub errno: Vec<String>,
    #[command(flatten)]
    pub tables: TablesArgs,
}

impl TraceArgs {
    /// Refuses a format that needs what these options do not gather.
    pub fn check(&self, render: &Render) -> anyhow::Result<()> {
        if render.format == Format::Folded && self.profile.is_none() {
            anyhow::bail!(
                "--format folded writes the kernel stacks that --profile samples: add --profile"
            );
        }
        Ok(())
    }

    /// Which calls count, with every name resolved; an unknown one is refused with the
    /// nearest names.
    pub fn only(&self, knowledge: &Knowledge) -> anyhow::Result<Only> {
        use crate::syscalls::{AbiName, select};
        use wl_common::Abi;
        let abis = [Abi::Native, Abi::Compat];
        let names = abis.map(AbiName::of);
        let slots = select::syscalls(knowledge, &names, &self.syscall)
            .map_err(|e| anyhow::anyhow!("--syscall: {e}; `wl-user syscalls` lists them"))?
            .into_iter()
            .map(|(name, nr)| (if name == names[0] { abis[0] } else { abis[1] }, nr))
            .collect();
        let errno_numbers = select::errnos(&self.errno, wl_common::FILTER_ERRNOS)
            .map_err(|e| anyhow::anyhow!("--errno: {e}"))?;
        Ok(Only {
            syscalls: self.syscall.iter().map(|s| s.trim().to_owned()).collect(),
            failed: self.failed || !self.errno.is_empty(),
            errnos: self.errno.iter().map(|s| s.trim().to_owned()).collect(),
            slots,
            errno_numbers,
        })
    }

    /// The collector's settings, with the filter the subcommand chose and the calls
    /// [`TraceArgs::only`] resolved.
    pub fn options<'k>(
        &self,
        filter: Filter,
        knowledge: &'k Knowledge,
        only: Only,
    ) -> TraceOptions<'k> {
        let latency = match (self.no_latency, self.latency_sample) {
            (true, _) => Latency::Off,
            (false, None | Some(1)) => Latency::EveryCall,
            (false, Some(n)) => Latency::Sampled { one_in: n },
        };
        TraceOptions {
            filter,
            latency,
            count_denied: false,
            by: self.by,
            noop: self.noop,
            objects: (self.objects != ObjectsShown::None).then_some(knowledge),
            per_cgroup: None,
            only,
            events: self.events == Events::All && !self.no_events,
            profile: self.profile,
        }
    }
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub trace: TraceArgs,
    /// Follow the process tree instead of putting the command into a new cgroup v2.
    /// (Used anyway where cgroup v2 is not available.)
    #[arg(long)]
    pub no_cgroup: bool,
    /// Run the command under this seccomp profile (OCI JSON, as `--seccomp-out` or
    /// `wl-user seccomp` write it, or as Docker and Podman read it, without argument
    /// conditions), applied as written: its defaultAction and each rule's action
    /// (ALLOW, ERRNO with its errnoRet, KILL_PROCESS, KILL_THREAD/KILL, TRAP, LOG,
    /// TRACE). Every call it stops is counted and reported by name with what it got;
    /// calls it logs are reported too.
    #[arg(long, value_name = "PROFILE", conflicts_with_all = ["no_latency", "syscall", "failed", "errno"])]
    pub seccomp: Option<PathBuf>,
    /// Put this in place of every action of the profile that stops a call (its
    /// defaultAction if it does, and the rules' ERRNO, KILL, TRAP, TRACE): errno (fails
    /// with EPERM), kill (the process, by SIGSYS) or log (runs, logged by the kernel),
    /// e.g. log to see what a strict profile would stop without stopping it.
    #[arg(long, value_enum, value_name = "ACTION", requires = "seccomp")]
    pub seccomp_action: Option<Denial>,
    /// Write a seccomp profile that allows exactly the syscalls this run made (OCI
    /// JSON); `wl-user seccomp REPORT.json` does the same from a saved report.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["syscall", "failed", "errno"])]
    pub seccomp_out: Option<PathBuf>,
    /// The command and its arguments. The report goes to standard error unless
    /// --output says otherwise, so the command's own output stays apart.
    #[arg(required = true, trailing_var_arg = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

#[derive(Args)]
#[group(id = "target", required = true, multiple = false, args = ["pid", "cgroup"])]
pub struct AttachArgs {
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub trace: TraceArgs,
    /// A process to trace, with its threads; repeat for more. Its descendants are traced
    /// too, those that exist now and those it starts, unless --no-children.
    #[arg(long, short = 'p', value_name = "PID")]
    pub pid: Vec<u32>,
    /// A cgroup v2 directory to trace, with every cgroup below it.
    #[arg(long, short = 'c', value_name = "PATH")]
    pub cgroup: Option<PathBuf>,
    /// Trace only the given processes, not their children.
    #[arg(long, requires = "pid")]
    pub no_children: bool,
    /// Stop after SECONDS (fractions allowed). A --cgroup is traced for all of it, empty
    /// or not, since processes may enter it meanwhile.
    #[arg(long, short = 'd', value_name = "SECONDS", value_parser = parse_duration)]
    pub duration: Option<std::time::Duration>,
}

/// `--duration`, `--interval`, `--gone-ttl`: seconds, fractions allowed, more than
/// nothing (a report every 0 s never ends; tracing for 0 s sees nothing), and no more
/// than a year, which is longer than anyone means.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    const YEAR: f64 = 365.0 * 24.0 * 3600.0;
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if secs.is_nan() || secs <= 0.0 {
        return Err(format!("'{s}' is not a positive number of seconds"));
    }
    if secs > YEAR {
        return Err(format!(
            "'{s}' seconds is more than a year ({YEAR} s); give a shorter time"
        ));
    }
    match std::time::Duration::from_secs_f64(secs) {
        d if d.is_zero() => Err(format!("'{s}' is less than a nanosecond")),
        d => Ok(d),
    }
}

#[derive(Args)]
pub struct DiffArgs {
    /// The baseline: a report written by `wl-user run/attach --format json -o FILE`.
    #[arg(value_name = "BASE.json")]
    pub base: PathBuf,
    /// The report to compare with it.
    #[arg(value_name = "NEW.json")]
    pub new: PathBuf,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = crate::report::diff::render::DiffFormat::Table)]
    pub format: crate::report::diff::render::DiffFormat,
    /// Write the comparison to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Show every syscall both reports have, not only those that changed.
    #[arg(long)]
    pub all: bool,
    /// Exit 1 when any of the comma-separated CONDITIONS holds.
    ///
    /// Conditions:
    ///   new-syscall     NEW makes a syscall (name and ABI) that BASE does not
    ///   gone-syscall    BASE makes a syscall that NEW does not
    ///   new-subsystem   NEW uses a subsystem that BASE does not (gone-subsystem: the reverse)
    ///   new-errno       a syscall fails with an errno it did not fail with in BASE
    ///   new-event       NEW has an event BASE does not (a signal, a fault's kind, block I/O)
    ///   new-function    --profile: a kernel function credited 1% or more of NEW's samples
    ///                   and none of BASE's (a new kernel path)
    ///   METRIC:+N%      a syscall both made rose by more than N percent (METRIC:-N%: fell),
    ///                   with METRIC one of calls, errors, p50, p99
    ///   subsystem-share:+N%  --profile: a subsystem's share of the kernel samples rose by
    ///                   more than N points (-N%: fell); profile conditions need 100
    ///                   kernel samples in each report
    /// Count conditions also need a move of more than --count-min; latency ones need both
    /// reports timed and enough timed calls (see --count-min). Percentiles are estimated
    /// within a factor of 2, so a latency condition under +100% trips on noise too.
    /// Example: new-syscall,new-subsystem,new-errno,calls:+20%,errors:+5%,p99:+100%
    #[arg(long, value_name = "CONDITIONS", verbatim_doc_comment)]
    pub fail_on: Option<String>,
    /// A count (calls, errors, one errno) shows as changed when it moves by more than
    /// PCT percent ...
    #[arg(long, value_name = "PCT", default_value_t = 5.0)]
    pub count_threshold: f64,
    /// ... and by more than N. Latency is compared only for syscalls timed at least N
    /// times in both reports (and 100 times for p99, which else is the slowest call).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub count_min: u64,
    /// A latency percentile (p50, p99) shows as changed when the larger is more than PCT
    /// percent above the smaller. The default, 100 (twice), is the width of one log2
    /// histogram bucket, within which percentiles are estimated.
    #[arg(long, value_name = "PCT", default_value_t = 100.0)]
    pub latency_threshold: f64,
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    /// `--profile` alone samples at the documented default; `--profile=HZ` at HZ; the
    /// command after `--` is never taken for a rate.
    #[test]
    fn profile_takes_an_optional_rate() {
        let rate = |args: &[&str]| match Cli::try_parse_from(args).expect("parses").command {
            Command::Run(r) => (r.trace.profile, r.command),
            _ => panic!("not run"),
        };
        let true_ = vec![OsString::from("true")];
        assert_eq!(
            rate(&["wl-user", "run", "--profile", "--", "true"]),
            (Some(crate::collector::profile::DEFAULT_HZ), true_.clone())
        );
        assert_eq!(
            rate(&["wl-user", "run", "--profile=499", "--", "true"]),
            (Some(499), true_.clone())
        );
        assert_eq!(rate(&["wl-user", "run", "--", "true"]), (None, true_));
    }
}
