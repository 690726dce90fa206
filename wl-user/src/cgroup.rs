//! cgroup v2: finding the hierarchy, making a cgroup for a workload, and telling when
//! it has emptied. wl only ever touches cgroup v2; v1 hierarchies belong to the machine.

use std::{
    fs,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};

const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;

/// A cgroup path as text that names it alone, for a label. Directory names are bytes;
/// a byte that is not UTF-8 becomes U+FFFD and its two hex digits, and a U+FFFD of the
/// name is doubled, so that two names never share a label (a lossy conversion would
/// make `a\x80` and `a\x81` both `a�`). Valid names are as they are.
pub fn path_label(path: &[u8]) -> String {
    const MARK: char = '\u{FFFD}';
    let mut out = String::with_capacity(path.len());
    for chunk in path.utf8_chunks() {
        for c in chunk.valid().chars() {
            out.push(c);
            if c == MARK {
                out.push(MARK);
            }
        }
        for b in chunk.invalid() {
            out.push(MARK);
            out.push_str(&format!("{b:02X}"));
        }
    }
    out
}

/// Where cgroup v2 is mounted, from `/proc/self/mounts` (`/sys/fs/cgroup` on most
/// systems, `/sys/fs/cgroup/unified` on hybrid ones).
pub fn mount_point() -> Option<PathBuf> {
    let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let (_dev, dir, fstype) = (f.next()?, f.next()?, f.next()?);
        (fstype == "cgroup2").then(|| PathBuf::from(dir.replace("\\040", " ")))
    })
}

/// A cgroup v2 directory as the kernel side filters on it.
#[derive(Debug, Clone)]
pub struct Cgroup {
    pub path: PathBuf,
    /// The kernfs id `bpf_get_current_cgroup_id()` reports: the directory's inode.
    pub id: u64,
    /// Depth below the hierarchy's root (the root is 0).
    pub level: u32,
}

impl Cgroup {
    /// Checks that `path` is a cgroup v2 directory and describes it.
    pub fn open(path: &Path) -> Result<Cgroup> {
        Cgroup::open_as(path, "--cgroup")
    }

    /// As [`Cgroup::open`], for a path given with the option `flag`.
    pub fn open_as(path: &Path, flag: &str) -> Result<Cgroup> {
        let shown = path.display();
        let meta = fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => anyhow::anyhow!(
                "{flag} {shown}: no such directory (cgroup v2 is mounted at {})",
                mount_point().map_or_else(
                    || "no place on this machine".into(),
                    |p| p.display().to_string()
                )
            ),
            _ => anyhow::anyhow!("{flag} {shown}: {e}"),
        })?;
        let fs = nix::sys::statfs::statfs(path)
            .with_context(|| format!("{flag} {}: cannot statfs", path.display()))?;
        if !meta.is_dir() || fs.filesystem_type().0 as i64 != CGROUP2_SUPER_MAGIC {
            bail!(
                "{flag} {}: not a cgroup v2 directory (cgroup v2 is mounted at {})",
                path.display(),
                mount_point().map_or_else(
                    || "no place on this machine".into(),
                    |p| p.display().to_string()
                )
            );
        }
        let path = path.canonicalize()?;
        let root = mount_point().context("cgroup v2 is not mounted")?;
        let rel = path
            .strip_prefix(&root)
            .with_context(|| format!("{} is not below {}", path.display(), root.display()))?;
        Ok(Cgroup {
            id: meta.ino(),
            level: rel.components().count() as u32,
            path,
        })
    }

    /// Whether any process is in this cgroup or below it (`cgroup.events`). The root
    /// has no `cgroup.events`: it holds every process, wl-user's too, and never empties.
    pub fn populated(&self) -> Result<bool> {
        if self.level == 0 {
            return Ok(true);
        }
        let events = fs::read_to_string(self.path.join("cgroup.events"))
            .with_context(|| format!("cannot read {}/cgroup.events", self.path.display()))?;
        Ok(events.lines().any(|l| l == "populated 1"))
    }

    /// Moves process `pid` into this cgroup.
    pub fn add(&self, pid: i32) -> Result<()> {
        let procs = self.path.join("cgroup.procs");
        fs::write(&procs, pid.to_string())
            .with_context(|| format!("cannot move pid {pid} into {}", procs.display()))
    }
}

/// A cgroup wl made for one workload; removed when dropped.
pub struct OwnCgroup(pub Cgroup);

impl OwnCgroup {
    /// Makes a fresh cgroup next to the one wl-user runs in (so the workload stays in the
    /// same slice), or below the root if that is not allowed.
    pub fn create() -> Result<OwnCgroup> {
        let root = mount_point().context("cgroup v2 is not mounted")?;
        let own = fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| {
                    l.strip_prefix("0::")
                        .map(|p| p.trim_start_matches('/').to_owned())
                })
            })
            .unwrap_or_default();
        let name = format!("{OWN_PREFIX}{}", std::process::id());
        let mut last_err = None;
        for parent in [root.join(&own), root.clone()] {
            remove_stale(&parent);
            let dir = parent.join(&name);
            match fs::create_dir(&dir) {
                Ok(()) => return Ok(OwnCgroup(Cgroup::open(&dir)?)),
                Err(e) => last_err = Some((dir, e)),
            }
        }
        let (dir, e) = last_err.expect("tried at least once");
        Err(e).with_context(|| format!("cannot create cgroup {}", dir.display()))
    }
}

/// The name of a cgroup wl-user made for a workload: this prefix and wl-user's pid.
const OWN_PREFIX: &str = "wl-";

/// Removes the cgroups in `parent` that a wl-user left behind (one killed with SIGKILL
/// cannot clean up): those whose owner pid is no wl-user any more. A cgroup that still
/// holds processes (a workload that outlived its wl-user) cannot be removed and is left
/// for a later run.
fn remove_stale(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(OWN_PREFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !is_wl_user(pid) {
            // Fails with EBUSY while populated, which is what should happen.
            let _ = fs::remove_dir(entry.path());
        }
    }
}

/// Whether process `pid` runs wl-user (pids are reused): its name, or this binary.
fn is_wl_user(pid: u32) -> bool {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim_end() == "wl-user" {
        return true;
    }
    let exe = fs::read_link(format!("/proc/{pid}/exe")).ok();
    exe.is_some() && exe == fs::read_link("/proc/self/exe").ok()
}

impl Drop for OwnCgroup {
    fn drop(&mut self) {
        // The last reaped process may still be leaving the cgroup for a moment.
        for _ in 0..50 {
            match fs::remove_dir(&self.0.path) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => return,
            }
        }
        eprintln!(
            "wl: warning: could not remove cgroup {}",
            self.0.path.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_labels_keep_non_utf8_names_apart() {
        assert_eq!(
            path_label(b"/system.slice/ssh.service"),
            "/system.slice/ssh.service"
        );
        assert_eq!(path_label(b"/a\x80"), "/a\u{FFFD}80");
        assert_ne!(path_label(b"/a\x80"), path_label(b"/a\x81"));
        // A name with U+FFFD and "80" in it is not the invalid byte 0x80.
        assert_ne!(path_label("/a\u{FFFD}80".as_bytes()), path_label(b"/a\x80"));
    }
}
