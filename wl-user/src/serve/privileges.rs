//! After the programs are loaded and attached and the port is bound, the daemon needs
//! almost nothing: reading and deleting map entries goes through the map file
//! descriptors it holds, and the cgroup hierarchy is readable by its owner, root. So
//! every capability goes, for good (bounding set, ambient and inheritable sets, and
//! `no_new_privs` so that nothing can gain them back) except, on kernels that ask for
//! it, `CAP_BPF`: before Linux 6.5, with `kernel.unprivileged_bpf_disabled` set (the
//! default of most distributions), the `bpf()` system call checks `CAP_BPF` on every
//! command, map reads included. Whether this kernel does is tried rather than guessed.

use anyhow::{Context as _, Result, bail};
use caps::{CapSet, Capability, CapsHashSet};

/// What was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    Nothing,
    Bpf,
}

/// Drops every capability but, if `reads_maps` fails without it, `CAP_BPF`. Must run
/// while the process has a single thread: capabilities belong to threads, and threads
/// started later inherit the caller's.
pub fn drop_capabilities(reads_maps: impl Fn() -> bool) -> Result<Kept> {
    let threads = std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1);
    if threads != 1 {
        bail!("cannot drop capabilities: {threads} threads run already");
    }
    let err = |e: caps::errors::CapsError| anyhow::anyhow!("cannot drop capabilities: {e}");
    let set = |caps: &[Capability]| caps.iter().copied().collect::<CapsHashSet>();
    let permitted = caps::read(None, CapSet::Permitted).map_err(err)?;
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
    caps::set(None, CapSet::Effective, &keep).map_err(err)?;
    caps::set(None, CapSet::Permitted, &keep).map_err(err)?;
    nix::sys::prctl::set_no_new_privs().context("cannot set no_new_privs")?;
    Ok(if keep.is_empty() {
        Kept::Nothing
    } else {
        Kept::Bpf
    })
}
