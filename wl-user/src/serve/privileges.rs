//! After the programs are loaded and attached and the port is bound, the daemon needs
//! almost nothing: reading and deleting map entries goes through the map file
//! descriptors it holds, and the cgroup hierarchy is readable by anyone. So it becomes
//! an unprivileged user (`--user`, 65534 by default: no supplementary groups, real,
//! effective and saved ids all switched), and every capability goes, for good
//! (bounding set, ambient and inheritable sets, and `no_new_privs` so that nothing can
//! gain them back) except, on kernels that ask for it, `CAP_BPF`: before Linux 6.5,
//! with `kernel.unprivileged_bpf_disabled` set (the default of most distributions), the
//! `bpf()` system call checks `CAP_BPF` on every command, map reads included. Whether
//! this kernel does is tried rather than guessed; only then is `PR_SET_KEEPCAPS` used,
//! to carry `CAP_BPF` across the change of user.

use anyhow::{Context as _, Result, bail};
use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid, User};

/// What was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    Nothing,
    Bpf,
}

/// The user the daemon becomes: `--user NAME|UID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    pub uid: Uid,
    pub gid: Gid,
}

impl RunAs {
    /// A user name or a number; a number not in the user database takes the same
    /// number as its group (65534 is nobody and nogroup on most systems, and a
    /// container image may have no /etc/passwd at all).
    ///
    /// Refused: ids that set*id(2) reads as "leave this id as it is" (-1, i.e.
    /// 4294967295), with which the daemon would stay root while it seemed to change.
    pub fn parse(s: &str) -> Result<RunAs> {
        let user = match s.parse::<u32>() {
            Ok(n) => User::from_uid(Uid::from_raw(n)).ok().flatten().map_or(
                RunAs {
                    uid: Uid::from_raw(n),
                    gid: Gid::from_raw(n),
                },
                |u| RunAs {
                    uid: u.uid,
                    gid: u.gid,
                },
            ),
            Err(_) => match User::from_name(s) {
                Ok(Some(u)) => RunAs {
                    uid: u.uid,
                    gid: u.gid,
                },
                _ => bail!("--user '{s}': no such user (give a name or a number)"),
            },
        };
        for (what, id) in [("uid", user.uid.as_raw()), ("gid", user.gid.as_raw())] {
            if id == u32::MAX {
                bail!(
                    "--user '{s}': {what} {id} is -1, which the kernel reads as \"do not change\": give another user (65534 is nobody)"
                );
            }
        }
        Ok(user)
    }
}

/// Becomes `run_as` and drops every capability but, if `reads_maps` fails without
/// it, `CAP_BPF`. Must run while the process has a single thread: capabilities and
/// ids belong to threads, and threads started later inherit the caller's.
pub fn drop_privileges(run_as: RunAs, reads_maps: impl Fn() -> bool) -> Result<Kept> {
    let count = || {
        std::fs::read_dir("/proc/self/task")
            .map(|d| d.count())
            .unwrap_or(1)
    };
    // The threads that verified the programs have been joined, but a joined thread
    // leaves /proc/self/task a moment after: wait for that, briefly.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    let mut threads = count();
    while threads != 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
        threads = count();
    }
    if threads != 1 {
        bail!("cannot drop privileges: {threads} threads run already");
    }
    let err = |e: caps::errors::CapsError| anyhow::anyhow!("cannot drop capabilities: {e}");
    let set = |caps: &[Capability]| caps.iter().copied().collect::<CapsHashSet>();
    let permitted = caps::read(None, CapSet::Permitted).map_err(err)?;
    let ids = nix::unistd::getresuid().context("cannot read the user ids")?;
    let gids = nix::unistd::getresgid().context("cannot read the group ids")?;
    let switching = [ids.real, ids.effective, ids.saved]
        .iter()
        .any(|&id| id != run_as.uid)
        || [gids.real, gids.effective, gids.saved]
            .iter()
            .any(|&id| id != run_as.gid);
    let switch_caps = set(&[Capability::CAP_SETUID, Capability::CAP_SETGID]);
    if switching && !switch_caps.is_subset(&permitted) {
        bail!(
            "cannot become --user {}: that takes CAP_SETUID and CAP_SETGID (add them to the service's bounding set), or run as that user already",
            run_as.uid
        );
    }
    // Try the maps with neither CAP_BPF nor CAP_SYS_ADMIN (which the kernel takes for
    // it), keeping CAP_SETPCAP for the bounding set below where there is one (a
    // service manager may have left it out of the bounding set already).
    let setpcap = permitted.contains(&Capability::CAP_SETPCAP);
    let probe = if setpcap {
        set(&[Capability::CAP_SETPCAP])
    } else {
        CapsHashSet::new()
    };
    caps::set(None, CapSet::Effective, &probe).map_err(err)?;
    let keep = if permitted.contains(&Capability::CAP_BPF) && !reads_maps() {
        set(&[Capability::CAP_BPF])
    } else {
        CapsHashSet::new()
    };
    if setpcap {
        for cap in caps::read(None, CapSet::Bounding).map_err(err)? {
            if !keep.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(err)?;
            }
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(err)?;
    caps::clear(None, CapSet::Inheritable).map_err(err)?;
    if switching {
        // Leaving uid 0 clears the permitted set, unless told to keep it: only when
        // CAP_BPF must stay.
        if !keep.is_empty() {
            nix::sys::prctl::set_keepcaps(true).context("cannot set PR_SET_KEEPCAPS")?;
        }
        caps::set(None, CapSet::Effective, &switch_caps).map_err(err)?;
        let user = run_as.uid;
        nix::unistd::setgroups(&[])
            .with_context(|| format!("cannot become --user {user}: setgroups"))?;
        nix::unistd::setresgid(run_as.gid, run_as.gid, run_as.gid)
            .with_context(|| format!("cannot become --user {user}: setresgid"))?;
        nix::unistd::setresuid(run_as.uid, run_as.uid, run_as.uid)
            .with_context(|| format!("cannot become --user {user}: setresuid"))?;
        if !keep.is_empty() {
            nix::sys::prctl::set_keepcaps(false).context("cannot clear PR_SET_KEEPCAPS")?;
        }
        // Checked, not assumed: every id is the one asked for.
        let (u, g) = (nix::unistd::getresuid()?, nix::unistd::getresgid()?);
        if [u.real, u.effective, u.saved] != [run_as.uid; 3]
            || [g.real, g.effective, g.saved] != [run_as.gid; 3]
        {
            bail!("cannot become --user {user}: the ids did not change");
        }
    }
    caps::set(None, CapSet::Effective, &keep).map_err(err)?;
    caps::set(None, CapSet::Permitted, &keep).map_err(err)?;
    nix::sys::prctl::set_no_new_privs().context("cannot set no_new_privs")?;
    if !reads_maps() {
        bail!(
            "cannot read the kernel maps as --user {} after dropping privileges",
            run_as.uid
        );
    }
    Ok(if keep.is_empty() {
        Kept::Nothing
    } else {
        Kept::Bpf
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_by_number_and_by_name() {
        let root = RunAs::parse("root").unwrap();
        assert_eq!((root.uid.as_raw(), root.gid.as_raw()), (0, 0));
        // A number nobody has: its own number as its group.
        let free = RunAs::parse("4000000000").unwrap();
        assert_eq!(
            (free.uid.as_raw(), free.gid.as_raw()),
            (4000000000, 4000000000)
        );
        // (uid_t)-1 means "unchanged" to setresuid: that would keep root.
        let e = RunAs::parse("4294967295").unwrap_err().to_string();
        assert!(
            e.starts_with("--user '4294967295': uid 4294967295 is -1, which the kernel reads as \"do not change\""),
            "{e}"
        );
        let e = RunAs::parse("no-such-user-wl").unwrap_err().to_string();
        assert_eq!(
            e,
            "--user 'no-such-user-wl': no such user (give a name or a number)"
        );
    }
}
