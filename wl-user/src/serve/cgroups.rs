//! Names for the cgroups the kernel side counts by id: their paths below the cgroup v2
//! mount, found by walking the hierarchy (a cgroup's id is its directory's inode), and
//! with `--by-unit` the systemd unit, container and pod a path belongs to.

use std::{
    collections::HashMap,
    fs,
    os::unix::{ffi::OsStrExt as _, fs::MetadataExt},
    path::{Path, PathBuf},
};

/// Paths of cgroup v2 directories by id, from the last walk of the hierarchy.
pub struct CgroupPaths {
    mount: PathBuf,
    by_id: HashMap<u64, String>,
}

impl CgroupPaths {
    pub fn new(mount: PathBuf) -> CgroupPaths {
        let mut paths = CgroupPaths {
            mount,
            by_id: HashMap::new(),
        };
        paths.walk();
        paths
    }

    /// The path of cgroup `id` (`/system.slice/ssh.service`; `/` for the root), walking
    /// the hierarchy again if `id` is new. A cgroup made since the walk is found by the
    /// next one; one removed before it was ever seen is named by the kernel side.
    pub fn path(&mut self, id: u64, walked: &mut bool) -> Option<&str> {
        if !self.by_id.contains_key(&id) && !*walked {
            self.walk();
            *walked = true;
        }
        self.by_id.get(&id).map(String::as_str)
    }

    /// Forgets removed cgroups.
    pub fn forget(&mut self, id: u64) {
        self.by_id.remove(&id);
    }

    /// Reads every directory of the hierarchy. What vanishes meanwhile is skipped.
    fn walk(&mut self) {
        self.by_id.clear();
        let mut stack = vec![PathBuf::from("/")];
        while let Some(rel) = stack.pop() {
            let dir = self.mount.join(rel.strip_prefix("/").unwrap_or(&rel));
            let Ok(meta) = fs::metadata(&dir) else {
                continue;
            };
            self.by_id.insert(
                meta.ino(),
                crate::cgroup::path_label(rel.as_os_str().as_bytes()),
            );
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(rel.join(entry.file_name()));
                }
            }
        }
    }
}

/// What `--by-unit` labels a cgroup with; empty where the path says nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unit {
    /// The deepest systemd service or scope (`ssh.service`,
    /// `docker-<id>.scope`), else the deepest slice.
    pub unit: String,
    /// A container id: Docker, containerd, CRI-O or Podman.
    pub container: String,
    /// A Kubernetes pod's UID.
    pub pod: String,
}

/// Reads the unit, container and pod from the cgroup layouts of systemd, Docker,
/// containerd, CRI-O, Podman and the kubelet (its systemd and cgroupfs drivers).
pub fn unit_of(path: &str) -> Unit {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let mut unit = Unit::default();
    let mut slice = "";
    for (i, part) in parts.iter().enumerate() {
        if part.ends_with(".service") || part.ends_with(".scope") {
            unit.unit = (*part).to_owned();
        } else if part.ends_with(".slice") {
            slice = part;
        }
        if let Some(id) = container_id(part) {
            unit.container = id.to_owned();
        } else if i > 0 && is_container_id(part) {
            // cgroupfs drivers name the container's directory by its bare id:
            // /docker/<id>, /kubepods/burstable/pod<uid>/<id>, /<namespace>/<id>.
            unit.container = (*part).to_owned();
        }
        if let Some(uid) = pod_uid(part) {
            unit.pod = uid;
        }
    }
    if unit.unit.is_empty() {
        unit.unit = slice.to_owned();
    }
    unit
}

/// `docker-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`,
/// `libpod-<id>.scope`, `containerd-<id>.scope`: the id.
fn container_id(part: &str) -> Option<&str> {
    let stem = part.strip_suffix(".scope")?;
    let id = [
        "docker-",
        "cri-containerd-",
        "crio-",
        "libpod-",
        "containerd-",
    ]
    .iter()
    .find_map(|p| stem.strip_prefix(p))?;
    is_container_id(id).then_some(id)
}

/// Container runtimes name containers by 64 hex digits.
fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `kubepods-burstable-pod<uid>.slice` (systemd driver, `_` for `-` in the UID) or
/// `pod<uid>` (cgroupfs driver): the pod's UID.
fn pod_uid(part: &str) -> Option<String> {
    let raw = match part.strip_suffix(".slice") {
        Some(stem) if stem.starts_with("kubepods") => &stem[stem.rfind("-pod")? + 4..],
        Some(_) => return None,
        None => part.strip_prefix("pod")?,
    };
    let uid = raw.replace('_', "-");
    let hex = uid.bytes().filter(u8::is_ascii_hexdigit).count();
    (uid.len() == 36 && hex == 32 && uid.bytes().filter(|&b| b == b'-').count() == 4).then_some(uid)
}

/// Where cgroup v2 is mounted, checked to be there.
pub fn mount() -> anyhow::Result<PathBuf> {
    let m = crate::cgroup::mount_point()
        .ok_or_else(|| anyhow::anyhow!("cgroup v2 is not mounted: serve counts by cgroup v2"))?;
    if !Path::new(&m).is_dir() {
        anyhow::bail!("cgroup v2 mount {} is not a directory", m.display());
    }
    Ok(m)
}

/// The label of what did not fit in the per-cgroup maps.
const OTHERS: &str = "(others)";

/// The `cgroup` label of cgroup `id`: its path; `(others)` for what did not fit; the
/// path the kernel side kept for a removed one never seen, else its id; None for a
/// live one made since the last walk of the hierarchy.
pub(super) fn path_of(
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

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f9f7c1d2a7c0b3f5e6d8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d";

    fn unit(u: &str, c: &str, p: &str) -> Unit {
        Unit {
            unit: u.into(),
            container: c.into(),
            pod: p.into(),
        }
    }

    #[test]
    fn systemd_services_scopes_and_slices() {
        assert_eq!(
            unit_of("/system.slice/ssh.service"),
            unit("ssh.service", "", "")
        );
        assert_eq!(
            unit_of(
                "/user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox-1234.scope"
            ),
            unit("app-firefox-1234.scope", "", "")
        );
        assert_eq!(
            unit_of("/user.slice/user-1000.slice"),
            unit("user-1000.slice", "", "")
        );
        assert_eq!(unit_of("/"), unit("", "", ""));
        assert_eq!(unit_of("/wl-test"), unit("", "", ""));
    }

    #[test]
    fn docker_with_systemd_and_cgroupfs_drivers() {
        let scope = format!("docker-{ID}.scope");
        assert_eq!(
            unit_of(&format!("/system.slice/{scope}")),
            unit(&scope, ID, "")
        );
        assert_eq!(unit_of(&format!("/docker/{ID}")), unit("", ID, ""));
    }

    #[test]
    fn containerd_crio_and_podman() {
        let scope = format!("libpod-{ID}.scope");
        assert_eq!(
            unit_of(&format!("/machine.slice/{scope}/container")),
            unit(&scope, ID, "")
        );
        assert_eq!(
            unit_of(&format!("/system.slice/containerd.service/default/{ID}")),
            unit("containerd.service", ID, "")
        );
        let crio = format!("crio-{ID}.scope");
        assert_eq!(unit_of(&format!("/{crio}")), unit(&crio, ID, ""));
    }

    #[test]
    fn kubernetes_with_systemd_and_cgroupfs_drivers() {
        let uid = "0f6f3a52-3b8e-4f7e-9d1c-2a6b8c4d5e6f";
        let slice_uid = uid.replace('-', "_");
        let scope = format!("cri-containerd-{ID}.scope");
        assert_eq!(
            unit_of(&format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{slice_uid}.slice/{scope}"
            )),
            unit(&scope, ID, uid)
        );
        // Guaranteed pods sit right below kubepods.slice.
        assert_eq!(
            unit_of(&format!("/kubepods.slice/kubepods-pod{slice_uid}.slice")),
            unit(&format!("kubepods-pod{slice_uid}.slice"), "", uid)
        );
        assert_eq!(
            unit_of(&format!("/kubepods/besteffort/pod{uid}/{ID}")),
            unit("", ID, uid)
        );
        // The pod's own cgroup, before any container: a pod and no container.
        assert_eq!(unit_of(&format!("/kubepods/pod{uid}")), unit("", "", uid));
    }

    #[test]
    fn look_alikes_are_not_taken() {
        // Not 64 hex digits, not a UUID.
        assert_eq!(
            unit_of("/system.slice/docker-abc.scope"),
            unit("docker-abc.scope", "", "")
        );
        assert_eq!(unit_of("/podcast/x"), unit("", "", ""));
        assert_eq!(unit_of(&format!("/{ID}")), unit("", "", ""));
    }

    #[test]
    fn the_walk_finds_directories_by_inode() {
        let dir = std::env::temp_dir().join(format!("wl-walk-{}", std::process::id()));
        fs::create_dir_all(dir.join("a.slice/b.service")).unwrap();
        let ino = fs::metadata(dir.join("a.slice/b.service")).unwrap().ino();
        let mut paths = CgroupPaths::new(dir.clone());
        let mut walked = false;
        assert_eq!(paths.path(ino, &mut walked), Some("/a.slice/b.service"));
        assert!(!walked, "known from the first walk");
        let root = fs::metadata(&dir).unwrap().ino();
        assert_eq!(paths.path(root, &mut walked), Some("/"));
        assert_eq!(paths.path(u64::MAX, &mut walked), None);
        assert!(walked);
        // Two names that are not UTF-8 and differ in one byte keep two labels.
        let mut inos = Vec::new();
        for name in [&b"x\x80"[..], &b"x\x81"[..]] {
            let d = dir.join(std::ffi::OsStr::from_bytes(name));
            fs::create_dir(&d).unwrap();
            inos.push(fs::metadata(&d).unwrap().ino());
        }
        let mut paths = CgroupPaths::new(dir.clone());
        let mut walked = false;
        assert_eq!(paths.path(inos[0], &mut walked), Some("/x\u{FFFD}80"));
        assert_eq!(paths.path(inos[1], &mut walked), Some("/x\u{FFFD}81"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
