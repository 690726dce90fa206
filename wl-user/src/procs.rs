//! Reading `/proc`: a pid's process, and the processes below it; and `/sys`'s name of
//! a block device.

use std::{collections::BTreeMap, fs};

use anyhow::{Context as _, Result, bail};

/// The tgid (process id) of thread or process `pid`, or an error naming the pid when
/// there is no such process.
///
/// A kernel thread is refused: it makes no system calls, so tracing it would report
/// nothing, as if it were idle.
pub fn tgid_of(pid: u32) -> Result<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => anyhow::anyhow!("--pid {pid}: no such process"),
        _ => anyhow::anyhow!("--pid {pid}: cannot read /proc/{pid}/status: {e}"),
    })?;
    if stat_fields(pid)
        .and_then(|f| f.get(6)?.parse::<u64>().ok())
        .is_some_and(|flags| flags & PF_KTHREAD != 0)
    {
        let name = status
            .lines()
            .find_map(|l| l.strip_prefix("Name:"))
            .unwrap_or("")
            .trim();
        bail!(
            "--pid {pid} is a kernel thread ({name}): kernel threads make no system calls; give a user process"
        );
    }
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("--pid {pid}: cannot read its tgid"))
}

/// `task_struct.flags` of a kernel thread (include/linux/sched.h).
const PF_KTHREAD: u64 = 0x0020_0000;

/// The fields of /proc/PID/stat after the command name: state first, then ppid, ...
/// (proc_pid_stat(5) numbers them from 3).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; fields resume after the last ')'.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// Whether process `tgid` still exists (a zombie counts until it is reaped).
pub fn exists(tgid: u32) -> bool {
    fs::metadata(format!("/proc/{tgid}")).is_ok()
}

/// Every process whose ancestry leads to one of `roots`, not counting the roots.
pub fn descendants(roots: &[u32]) -> Vec<u32> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = parent_of(pid) {
            children.entry(ppid).or_default().push(pid);
        }
    }
    let mut out = Vec::new();
    let mut todo: Vec<u32> = roots.to_vec();
    while let Some(p) = todo.pop() {
        for &c in children.get(&p).map(Vec::as_slice).unwrap_or_default() {
            if !out.contains(&c) && !roots.contains(&c) {
                out.push(c);
                todo.push(c);
            }
        }
    }
    out
}

/// What /proc says of a task that still runs: what a `--by` report shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// Its process.
    pub tgid: u32,
    pub ppid: u32,
    pub comm: String,
    /// When it started, in ns since boot (CLOCK_MONOTONIC, as the kernel side's exits).
    pub start_ns: u64,
    /// Its process's executable, where readable.
    pub exe: Option<String>,
}

/// Task `id` if it still runs.
pub fn running(id: u32) -> Option<Running> {
    let stat = fs::read_to_string(format!("/proc/{id}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_owned();
    let rest: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the comm: state, ppid, ... starttime is field 22 of stat, 20th after it.
    let ppid = rest.get(1)?.parse().ok()?;
    let ticks: u64 = rest.get(19)?.parse().ok()?;
    // SAFETY: sysconf has no memory preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|&h| h > 0)?;
    let tgid = tgid_of(id).ok()?;
    let exe = fs::read_link(format!("/proc/{tgid}/exe"))
        .ok()
        .map(|p| p.display().to_string());
    Some(Running {
        tgid,
        ppid,
        comm,
        start_ns: ticks * 1_000_000_000 / hz,
        exe,
    })
}

fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// The name of block device `major:minor` (`vda`, `nvme0n1p2`), from its uevent in
/// /sys/dev/block; None when there is no such device (any more).
pub fn block_device(major: u32, minor: u32) -> Option<String> {
    let uevent = fs::read_to_string(format!("/sys/dev/block/{major}:{minor}/uevent")).ok()?;
    uevent
        .lines()
        .find_map(|l| l.strip_prefix("DEVNAME="))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process() {
        let me = std::process::id();
        assert_eq!(tgid_of(me).unwrap(), me);
        assert!(exists(me));
        assert_eq!(parent_of(me), Some(nix::unistd::getppid().as_raw() as u32));
        assert!(
            tgid_of(u32::MAX)
                .unwrap_err()
                .to_string()
                .contains("no such process")
        );
    }

    #[test]
    fn a_running_task_as_reports_show_it() {
        let me = running(std::process::id()).unwrap();
        assert_eq!(me.tgid, std::process::id());
        assert_eq!(me.ppid, nix::unistd::getppid().as_raw() as u32);
        assert!(me.start_ns > 0);
        assert_eq!(
            me.exe.as_deref(),
            std::env::current_exe()
                .ok()
                .as_deref()
                .and_then(|p| p.to_str())
        );
        assert_eq!(running(u32::MAX), None);
    }

    #[test]
    fn kernel_threads_are_refused() {
        // kthreadd, the parent of every kernel thread, is pid 2 (in the initial pid
        // namespace, where wl runs).
        let e = tgid_of(2).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "--pid 2 is a kernel thread (kthreadd): kernel threads make no system calls"
            ),
            "{e}"
        );
    }

    #[test]
    fn finds_a_child() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let found = descendants(&[std::process::id()]);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found.contains(&child.id()), "{found:?}");
    }
}
