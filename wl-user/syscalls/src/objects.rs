//! Names for what the kernel side records behind a syscall's file descriptor and command
//! arguments ([`wl_common::ObjectKey`]): the kind of object, its filesystem, device or
//! socket protocol, the command, the function that served the call and the source file,
//! MAINTAINERS section and subsystem of that code.
//!
//! Functions are named through /proc/kallsyms ([`Kallsyms`]) and placed in their files
//! by [`super::functions`]; everything else comes from
//! tables generated from the kernel source by [`super::object_scan`] (embedded, or
//! scanned at run time with `--kernel-src`), except the character and block device
//! majors, which are few and stable and kept by hand here.

use std::{collections::HashMap, sync::OnceLock};

use serde::Serialize;
use wl_common::{ObjectKey, object};

use super::{
    AbiName, Knowledge, Section, functions::Functions, kallsyms::Kallsyms, object_scan, rules,
};

/// A set of named command values: (set, header, (value, name) sorted).
pub type CommandSet = (&'static str, u16, &'static [(u32, &'static str)]);

/// The object and command tables. Paths are repository-relative; a `u16` in a row is
/// an index into [`ObjectTables::headers`] (commands) or [`Knowledge::sections`] (files).
#[derive(Debug)]
pub struct ObjectTables {
    /// (path, MAINTAINERS section, functions it defines that an ops table names, space
    /// separated; empty for paths named only as a header, directory or socket source).
    pub files: &'static [(&'static str, Option<u16>, &'static str)],
    /// (s_magic, names from magic.h space separated, code that uses it or "").
    pub fs_magics: &'static [(u32, &'static str, &'static str)],
    /// (the file's f_op->release, the anon-inode name it is created with).
    pub anon_types: &'static [(&'static str, &'static str)],
    /// (AF_ number, AF_ name, file with its `struct net_proto_family` or "").
    pub families: &'static [(u32, &'static str, &'static str)],
    pub sock_types: &'static [(u32, &'static str)],
    pub ip_protocols: &'static [(u32, &'static str)],
    pub netlink_protocols: &'static [(u32, &'static str)],
    /// (family, type, protocol (0: any), `struct proto` name, source, the proto's
    /// operations as `member=function` separated by spaces), sorted.
    pub protocols: &'static [(u32, u32, u32, &'static str, &'static str, &'static str)],
    pub headers: &'static [&'static str],
    /// Plain-number ioctl requests: (number, header, name), sorted by number.
    pub ioctl_plain: &'static [(u32, u16, &'static str)],
    /// `_IOC`-encoded ioctl requests: (dir << 16 | type << 8 | nr, header, name), sorted.
    pub ioctl_encoded: &'static [(u32, u16, &'static str)],
    /// Where ioctl requests are served: (request name, function with its `case`, index
    /// into `files`), sorted by name.
    pub ioctl_cases: &'static [(&'static str, &'static str, u32)],
    /// (set, header, (value, name) sorted): `fcntl`, `prctl`, `futex`, `bpf`, `sol`
    /// (socket option levels) and `sockopt:<level>`.
    pub commands: &'static [CommandSet],
    /// Function name → indexes into `files`, built on first use.
    pub(super) handler_index: OnceLock<HashMap<&'static str, Vec<u32>>>,
}

fn leak(s: String) -> &'static str {
    String::leak(s)
}

impl ObjectTables {
    /// The tables of a run-time scan; the strings live as long as the process.
    pub fn from_scan(
        scan: object_scan::ObjectScan,
        sections: &std::collections::BTreeMap<String, Option<usize>>,
    ) -> ObjectTables {
        let mut headers: Vec<String> = scan
            .ioctl_plain
            .iter()
            .chain(&scan.ioctl_encoded)
            .map(|i| i.header.clone())
            .chain(scan.commands.iter().map(|c| c.header.clone()))
            .collect();
        headers.sort();
        headers.dedup();
        let header_idx =
            |h: &str| headers.binary_search_by(|x| x.as_str().cmp(h)).unwrap_or(0) as u16;
        let ioctls = |v: &[object_scan::Ioctl]| -> &'static [(u32, u16, &'static str)] {
            Vec::leak(
                v.iter()
                    .map(|i| (i.key, header_idx(&i.header), leak(i.name.clone())))
                    .collect(),
            )
        };
        let named = |v: Vec<(u32, String)>| -> &'static [(u32, &'static str)] {
            Vec::leak(v.into_iter().map(|(n, s)| (n, leak(s))).collect())
        };
        // Every file of a case is one of the paths given sections (ObjectScan::paths).
        let file_idx: HashMap<&str, u32> = sections
            .keys()
            .enumerate()
            .map(|(i, p)| (p.as_str(), i as u32))
            .collect();
        let ioctl_cases = Vec::leak(
            scan.ioctl_cases
                .iter()
                .filter_map(|(name, function, file)| {
                    let i = *file_idx.get(file.as_str())?;
                    Some((leak(name.clone()), leak(function.clone()), i))
                })
                .collect(),
        );
        let files = Vec::leak(
            sections
                .iter()
                .map(|(p, s)| {
                    let funcs = scan.handlers.get(p).map_or_else(String::new, |f| {
                        f.iter().cloned().collect::<Vec<_>>().join(" ")
                    });
                    (leak(p.clone()), s.map(|s| s as u16), leak(funcs))
                })
                .collect(),
        );
        ObjectTables {
            files,
            fs_magics: Vec::leak(
                scan.fs_magics
                    .into_iter()
                    .map(|(v, n, s)| (v, leak(n.join(" ")), leak(s.unwrap_or_default())))
                    .collect(),
            ),
            anon_types: Vec::leak(
                scan.anon_types
                    .into_iter()
                    .map(|(r, n)| (leak(r), leak(n)))
                    .collect(),
            ),
            families: Vec::leak(
                scan.families
                    .into_iter()
                    .map(|(v, n, s)| (v, leak(n), leak(s.unwrap_or_default())))
                    .collect(),
            ),
            sock_types: named(scan.sock_types),
            ip_protocols: named(scan.ip_protocols),
            netlink_protocols: named(scan.netlink_protocols),
            protocols: Vec::leak(
                scan.protocols
                    .into_iter()
                    .map(|p| {
                        (
                            p.family,
                            p.sock_type,
                            p.protocol,
                            leak(p.name),
                            leak(p.source),
                            leak(p.ops),
                        )
                    })
                    .collect(),
            ),
            ioctl_cases,
            ioctl_plain: ioctls(&scan.ioctl_plain),
            ioctl_encoded: ioctls(&scan.ioctl_encoded),
            commands: Vec::leak(
                scan.commands
                    .into_iter()
                    .map(|c| (leak(c.set), header_idx(&c.header), named(c.values)))
                    .collect(),
            ),
            headers: Vec::leak(headers.into_iter().map(leak).collect()),
            handler_index: OnceLock::new(),
        }
    }

    fn index(&self) -> &HashMap<&'static str, Vec<u32>> {
        self.handler_index.get_or_init(|| {
            let mut m: HashMap<&'static str, Vec<u32>> = HashMap::new();
            for (i, (_, _, funcs)) in self.files.iter().enumerate() {
                for f in funcs.split_ascii_whitespace() {
                    m.entry(f).or_default().push(i as u32);
                }
            }
            m
        })
    }

    fn file(&self, path: &str) -> Option<&(&'static str, Option<u16>, &'static str)> {
        self.files
            .binary_search_by(|(p, _, _)| (*p).cmp(path))
            .ok()
            .map(|i| &self.files[i])
    }

    /// The file defining `function` (a kallsyms name) of `module`. With the table of
    /// every function definition ([`Functions`]), several definitions are told apart by
    /// the module, the symbol's neighbours in kallsyms (`at`: the symbols and its index
    /// there), then the files whose operation tables name it ([`Functions::choose`]), so
    /// that a handler's file is the same as its frames' in a profile. Without it, or for
    /// a name it does not know, only functions named in operation tables are known.
    pub fn handler_file(
        &self,
        functions: Option<&'static Functions>,
        function: &str,
        module: Option<&str>,
        at: Option<(&Kallsyms, usize)>,
    ) -> Option<&'static str> {
        if let Some(f) = functions
            && f.files(function).next().is_some()
        {
            // Of the files whose operation tables name it, the first, if they are of one
            // top-level directory.
            let named_in_ops = |cands: &[u32]| {
                let base = function.split('.').next().unwrap_or(function);
                let ops = self.index().get(base)?;
                let named: Vec<u32> = cands
                    .iter()
                    .copied()
                    .filter(|&c| ops.iter().any(|&o| self.files[o as usize].0 == f.path(c)))
                    .collect();
                let top = |c: u32| f.path(c).split('/').next();
                let first = *named.first()?;
                named.iter().all(|&c| top(c) == top(first)).then_some(first)
            };
            let file = f.choose(function, module, |cands| {
                at.and_then(|(ksyms, i)| f.by_neighbours(ksyms, i, cands))
                    .or_else(|| named_in_ops(cands))
            })?;
            return Some(f.path(file));
        }
        // Compiler clones keep the original's name before a dot: `foo.isra.0`, `foo.llvm.12`.
        let base = function.split('.').next().unwrap_or(function);
        let cands = self.index().get(base)?;
        let path = |i: &u32| self.files[*i as usize].0;
        let by_module = module.and_then(|m| {
            let m = m.replace('-', "_");
            cands.iter().find(|i| {
                let p = path(i).replace('-', "_");
                p.split('/')
                    .any(|part| part == m || part.strip_suffix(".c") == Some(&m))
            })
        });
        // A symbol without a module is built in; of same-named statics, a driver's is
        // most often a module's, so core code comes first.
        let built_in = || {
            cands.iter().find(|i| {
                !["drivers/", "sound/"]
                    .iter()
                    .any(|d| path(i).starts_with(d))
            })
        };
        let fallback = if module.is_none() { built_in() } else { None };
        by_module.or(fallback).or(cands.first()).map(path)
    }

    /// The file defining `function`, an operation a protocol's `struct proto` names
    /// (not a symbol of kallsyms): of several definitions, the one in `near` (the
    /// protocol's source), else one in its directory (`raw_bind` of net/ipv4/raw.c, not
    /// of net/can/raw.c).
    fn proto_function_file(
        &self,
        functions: Option<&'static Functions>,
        function: &str,
        near: &str,
    ) -> Option<&'static str> {
        let dir = near.rsplit_once('/').map(|(d, _)| d);
        let rank = |p: &str| match p.rsplit_once('/') {
            _ if p == near => 0,
            Some((d, _)) if Some(d) == dir => 1,
            _ => 2,
        };
        if let Some(f) = functions
            && f.files(function).next().is_some()
        {
            let file = f.choose(function, None, |cands| {
                cands
                    .iter()
                    .copied()
                    .filter(|&c| rank(f.path(c)) < 2)
                    .min_by_key(|&c| rank(f.path(c)))
            })?;
            return Some(f.path(file));
        }
        self.index()
            .get(function)
            .and_then(|cands| {
                cands
                    .iter()
                    .map(|&i| self.files[i as usize].0)
                    .filter(|p| rank(p) < 2)
                    .min_by_key(|p| rank(p))
            })
            .or_else(|| self.handler_file(None, function, None, None))
    }

    fn command_set(&self, set: &str) -> Option<(u16, &'static [(u32, &'static str)])> {
        self.commands
            .iter()
            .find(|(s, _, _)| *s == set)
            .map(|&(_, h, v)| (h, v))
    }
}

fn lookup_named(table: &[(u32, &'static str)], v: u32) -> Option<&'static str> {
    table
        .binary_search_by_key(&v, |&(n, _)| n)
        .ok()
        .map(|i| table[i].1)
}

// ---------------------------------------------------------------------------------
// Devices

/// Character device majors (include/uapi/linux/major.h, Documentation/admin-guide/
/// devices.txt): (major, name, driver). Dynamic majors (drivers that ask for one at
/// load time) cannot be known in advance and are shown as numbers.
const CHAR_MAJORS: &[(u32, &str, &str)] = &[
    (1, "mem", "drivers/char/mem.c"),
    (4, "tty", "drivers/tty/"),
    (5, "tty", "drivers/tty/tty_io.c"),
    (7, "vcs", "drivers/tty/vt/vc_screen.c"),
    (10, "misc", "drivers/char/misc.c"),
    (13, "input", "drivers/input/"),
    (29, "fb", "drivers/video/fbdev/core/"),
    (116, "alsa", "sound/core/"),
    (128, "ptm", "drivers/tty/pty.c"),
    (180, "usb", "drivers/usb/core/"),
    (189, "usb_device", "drivers/usb/core/devio.c"),
    (226, "drm", "drivers/gpu/drm/"),
];

/// Named minors: (major, minor, name, driver when not the major's).
const CHAR_MINORS: &[(u32, u32, &str, &str)] = &[
    (1, 1, "/dev/mem", ""),
    (1, 2, "/dev/kmem", ""),
    (1, 3, "/dev/null", ""),
    (1, 4, "/dev/port", ""),
    (1, 5, "/dev/zero", ""),
    (1, 7, "/dev/full", ""),
    (1, 8, "/dev/random", "drivers/char/random.c"),
    (1, 9, "/dev/urandom", "drivers/char/random.c"),
    (1, 11, "/dev/kmsg", "kernel/printk/printk.c"),
    (5, 0, "/dev/tty", ""),
    (5, 1, "/dev/console", ""),
    (5, 2, "/dev/ptmx", "drivers/tty/pty.c"),
    (10, 183, "/dev/hwrng", "drivers/char/hw_random/core.c"),
    (10, 200, "/dev/net/tun", "drivers/net/tun.c"),
    (10, 223, "/dev/uinput", "drivers/input/misc/uinput.c"),
    (10, 229, "/dev/fuse", "fs/fuse/dev.c"),
    (10, 232, "/dev/kvm", "virt/kvm/kvm_main.c"),
    (10, 236, "/dev/mapper/control", "drivers/md/dm-ioctl.c"),
    (10, 237, "/dev/loop-control", "drivers/block/loop.c"),
];

/// Block device majors: (major, name, driver).
const BLOCK_MAJORS: &[(u32, &str, &str)] = &[
    (1, "ramdisk", "drivers/block/brd.c"),
    (7, "loop", "drivers/block/loop.c"),
    (8, "sd", "drivers/scsi/sd.c"),
    (9, "md", "drivers/md/md.c"),
    (11, "sr", "drivers/scsi/sr.c"),
    (43, "nbd", "drivers/block/nbd.c"),
    (259, "blkext", "block/"),
];

/// (name, driver) of a character device.
pub fn char_device(major: u32, minor: u32) -> (String, Option<&'static str>) {
    if let Some(&(_, _, name, drv)) = CHAR_MINORS
        .iter()
        .find(|&&(ma, mi, _, _)| ma == major && mi == minor)
    {
        let major_drv = CHAR_MAJORS.iter().find(|m| m.0 == major).map(|m| m.2);
        return (
            name.to_string(),
            if drv.is_empty() { major_drv } else { Some(drv) },
        );
    }
    if (136..=143).contains(&major) {
        return (
            format!("/dev/pts/{}", (major - 136) * 1_048_576 + minor),
            Some("drivers/tty/pty.c"),
        );
    }
    match CHAR_MAJORS.iter().find(|m| m.0 == major) {
        Some(&(_, name, drv)) => (format!("{name} {major}:{minor}"), Some(drv)),
        None => (format!("char {major}:{minor}"), None),
    }
}

/// (name, driver) of a block device.
pub fn block_device(major: u32, minor: u32) -> (String, Option<&'static str>) {
    match BLOCK_MAJORS.iter().find(|m| m.0 == major) {
        Some(&(_, name, drv)) => (format!("{name} {major}:{minor}"), Some(drv)),
        None => (format!("block {major}:{minor}"), None),
    }
}

// ---------------------------------------------------------------------------------
// Commands

/// The syscalls whose command arguments [`command_name`] names.
pub const COMMAND_SYSCALLS: &[&str] = &[
    "ioctl",
    "fcntl",
    "fcntl64",
    "prctl",
    "futex",
    "futex_time64",
    "bpf",
    "socket",
    "socketpair",
    "setsockopt",
    "getsockopt",
];

/// A named command and the header that defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub name: String,
    pub header: Option<&'static str>,
}

fn ioc_fields(cmd: u32) -> (u32, u32, u32, u32) {
    // asm-generic/ioctl.h's layout, which x86 and arm64 use: nr 8 bits, type 8, size
    // 14, dir 2.
    (
        cmd >> 30,
        (cmd >> 8) & 0xff,
        cmd & 0xff,
        (cmd >> 16) & 0x3fff,
    )
}

/// An ioctl request as numbers: `_IOR('T', 0x13, 4)`, or `0x5401` when it carries no
/// direction or size.
pub fn ioctl_numeric(cmd: u32) -> String {
    let (dir, ty, nr, size) = ioc_fields(cmd);
    if dir == 0 && size == 0 {
        return format!("{cmd:#x}");
    }
    let ty = if let Ok(c) = u8::try_from(ty)
        && c.is_ascii_graphic()
        && c != b'\''
        && c != b'\\'
    {
        format!("'{}'", c as char)
    } else {
        format!("{ty:#x}")
    };
    let mac = ["_IO", "_IOW", "_IOR", "_IOWR"][dir as usize];
    if dir == 0 {
        format!("_IOC(0, {ty}, {nr:#x}, {size})")
    } else {
        format!("{mac}({ty}, {nr:#x}, {size})")
    }
}

/// The ioctl request's name. Plain numbers (TCGETS, SIOCGIFCONF) match exactly;
/// encoded ones match by direction, type and number, since the size of the argument
/// type cannot be computed from the source. Of several headers defining the same
/// request, one related to `context` (the object's source) wins.
pub fn ioctl_name(t: &ObjectTables, cmd: u32, context: &str) -> Option<Command> {
    let pick = |rows: &[(u32, u16, &'static str)], key: u32| -> Option<Command> {
        let start = rows.partition_point(|r| r.0 < key);
        let cands: Vec<&(u32, u16, &'static str)> =
            rows[start..].iter().take_while(|r| r.0 == key).collect();
        let related = |h: &str| {
            let stem = h.rsplit('/').next().unwrap_or(h).trim_end_matches(".h");
            !context.is_empty()
                && (context.contains(stem)
                    || (stem.contains("sock") && context.starts_with("net/")))
        };
        let best = cands
            .iter()
            .find(|r| t.headers.get(r.1 as usize).is_some_and(|h| related(h)))
            .or(cands.first())?;
        Some(Command {
            name: best.2.to_string(),
            header: t.headers.get(best.1 as usize).copied(),
        })
    };
    if let Some(c) = pick(t.ioctl_plain, cmd) {
        return Some(c);
    }
    let (dir, ty, nr, _) = ioc_fields(cmd);
    pick(t.ioctl_encoded, dir << 16 | ty << 8 | nr)
}

/// The command of a multiplexed syscall, by name; `None` for syscalls without one.
/// Values the tables do not know are shown as numbers, never dropped.
pub fn command_name(
    t: &ObjectTables,
    syscall: &str,
    key: &ObjectKey,
    context: &str,
) -> Option<Command> {
    let in_set = |set: &str, v: u32| -> Command {
        match t.command_set(set) {
            Some((h, values)) => Command {
                name: lookup_named(values, v).map_or_else(|| v.to_string(), str::to_string),
                header: t.headers.get(h as usize).copied(),
            },
            None => Command {
                name: v.to_string(),
                header: None,
            },
        }
    };
    if !COMMAND_SYSCALLS.contains(&syscall) {
        return None;
    }
    Some(match syscall {
        "ioctl" => ioctl_name(t, key.cmd, context).unwrap_or_else(|| Command {
            name: ioctl_numeric(key.cmd),
            header: None,
        }),
        "fcntl" | "fcntl64" => in_set("fcntl", key.cmd),
        "prctl" => in_set("prctl", key.cmd),
        "futex" | "futex_time64" => in_set("futex", key.cmd),
        "bpf" => in_set("bpf", key.cmd),
        "socket" | "socketpair" => {
            let fam = t
                .families
                .iter()
                .find(|f| f.0 == key.cmd)
                .map_or_else(|| format!("AF_{}", key.cmd), |f| f.1.to_string());
            let ty = lookup_named(t.sock_types, key.cmd2)
                .map_or_else(|| format!("SOCK_{}", key.cmd2), str::to_string);
            Command {
                name: format!("{fam} {ty}"),
                header: Some("include/linux/socket.h"),
            }
        }
        "setsockopt" | "getsockopt" => {
            let level = in_set("sol", key.cmd);
            let opt = in_set(&format!("sockopt:{}", key.cmd), key.cmd2);
            let level_name = if level.name.parse::<u32>().is_ok() {
                format!("level {}", level.name)
            } else {
                level.name
            };
            Command {
                name: format!("{level_name} {}", opt.name),
                header: opt.header.or(level.header),
            }
        }
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------
// Generic socket operations

/// The generic socket operations of a family that hand the call on to the protocol
/// through `sk->sk_prot` (`struct proto`, include/net/sock.h): (function, the `struct
/// proto` member it calls). `inet_sendmsg` is INET's `proto_ops.sendmsg` for every
/// protocol; the work is TCP's `tcp_sendmsg` or UDP's `udp_sendmsg`. Knowledge of the
/// kernel's code (Linux 6.12), like the device majors; the members each protocol sets
/// come from the source ([`ObjectTables::protocols`]).
pub const PROTO_DISPATCHERS: &[(&str, &str)] = &[
    // net/ipv4/af_inet.c
    ("inet_release", "close"),
    // Through inet_bind_sk: the protocol's own bind where it has one (RAW), else the
    // family's __inet_bind.
    ("inet_bind", "bind"),
    // Through __inet_stream_connect, after the protocol's pre_connect.
    ("inet_stream_connect", "connect"),
    ("inet_dgram_connect", "connect"),
    ("inet_accept", "accept"),
    // Where the connection is up; else the protocol's disconnect, or nothing.
    ("inet_shutdown", "shutdown"),
    ("inet_sendmsg", "sendmsg"),
    ("inet_recvmsg", "recvmsg"),
    ("inet_splice_eof", "splice_eof"),
    // The requests without a `case` of its own (SIOCGIFADDR is), through sk_ioctl.
    ("inet_ioctl", "ioctl"),
    // net/ipv6/af_inet6.c
    ("inet6_release", "close"),
    ("inet6_bind", "bind"),
    ("inet6_ioctl", "ioctl"),
    ("inet6_sendmsg", "sendmsg"),
    ("inet6_recvmsg", "recvmsg"),
    // net/core/sock.c
    ("sock_common_getsockopt", "getsockopt"),
    ("sock_common_recvmsg", "recvmsg"),
    ("sock_common_setsockopt", "setsockopt"),
];

/// `SOL_SOCKET` (include/uapi/asm-generic/socket.h): setsockopt's level for the socket
/// layer's own options.
const SOL_SOCKET: u32 = 1;

/// The `struct proto` row of a socket: its (family, type, protocol), else the type's
/// wildcard (protocol 0, RAW).
fn protocol_row(
    t: &ObjectTables,
    key: &ObjectKey,
) -> Option<&'static (u32, u32, u32, &'static str, &'static str, &'static str)> {
    let (fam, ty, proto) = (
        u32::from(key.family),
        u32::from(key.sock_type),
        u32::from(key.protocol),
    );
    let rows = t.protocols;
    rows.iter()
        .find(|p| (p.0, p.1, p.2) == (fam, ty, proto))
        .or_else(|| rows.iter().find(|p| (p.0, p.1, p.2) == (fam, ty, 0)))
}

/// The protocol's function that `dispatcher` (a [`PROTO_DISPATCHERS`] function, the
/// socket's handler) hands the call to, and its file: `tcp_sendmsg` in net/ipv4/tcp.c
/// for `inet_sendmsg` on a TCP socket. `None` where the handler is no dispatcher, the
/// protocol is unknown or does not set the member (UDP's shutdown), or the dispatcher
/// serves the ioctl request itself (`command`).
fn protocol_operation(
    t: &ObjectTables,
    functions: Option<&'static Functions>,
    key: &ObjectKey,
    dispatcher: &str,
    command: Option<&str>,
) -> Option<(&'static str, &'static str)> {
    let base = dispatcher.split('.').next().unwrap_or(dispatcher);
    let member = PROTO_DISPATCHERS.iter().find(|d| d.0 == base)?.1;
    // Options of level SOL_SOCKET are the socket layer's own (sock_setsockopt,
    // sk_getsockopt in net/core/sock.c), never the protocol's.
    if matches!(member, "setsockopt" | "getsockopt") && key.cmd == SOL_SOCKET {
        return None;
    }
    if member == "ioctl"
        && let Some(c) = command
    {
        let start = t.ioctl_cases.partition_point(|r| r.0 < c);
        if t.ioctl_cases[start..]
            .iter()
            .take_while(|r| r.0 == c)
            .any(|r| r.1 == base)
        {
            return None;
        }
    }
    let row = protocol_row(t, key)?;
    let function = row.5.split_ascii_whitespace().find_map(|op| {
        let (m, f) = op.split_once('=')?;
        (m == member).then_some(f)
    })?;
    let file = t.proto_function_file(functions, function, row.4)?;
    Some((function, file))
}

// ---------------------------------------------------------------------------------
// describe

/// What served one [`ObjectKey`], named.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInfo {
    /// "none" (the syscall has no fd argument), "no_file" (the fd was not open),
    /// "unreadable", "file", "directory", "pipe" (pipes and FIFOs), "char_device",
    /// "block_device", "symlink", "socket", "anon_inode" (eventfd, epoll, timerfd,
    /// bpf maps...), "other_file" (a file type the mode does not name), or "unknown"
    /// for a kind this version does not know.
    pub kind: &'static str,
    /// "ext4", "tmpfs", "pipe", "/dev/null", "AF_UNIX stream", "AF_INET TCP",
    /// "eventfd".
    pub name: Option<String>,
    /// The command: "SIOCGIFCONF", "F_GETFL", "FUTEX_WAKE", "AF_INET SOCK_STREAM",
    /// "SOL_SOCKET SO_REUSEADDR"; unknown values as numbers.
    pub command: Option<String>,
    /// The header defining the command, and its MAINTAINERS section: for calls that
    /// reach no object (prctl, futex) the command's owner is what there is to report.
    pub command_header: Option<&'static str>,
    pub command_section: Option<&'static Section>,
    /// The function that served the call (`pipe_read`); on a socket whose family's
    /// generic operation hands the call to the protocol, the protocol's (`tcp_sendmsg`
    /// behind `inet_sendmsg`).
    pub handler: Option<String>,
    /// The generic operation the call entered when `handler` is the protocol's
    /// function it handed the call to (`inet_sendmsg`, [`PROTO_DISPATCHERS`]).
    pub via: Option<String>,
    /// The code that served it: the handler's file, else the socket protocol's or
    /// family's, the filesystem's, or the device driver's; `None` when nothing is known
    /// (the syscall's own source then stands).
    pub source: Option<String>,
    pub section: Option<&'static Section>,
    pub subsystem: Option<&'static str>,
}

fn file_kind(mode: u16) -> &'static str {
    // include/uapi/linux/stat.h
    match u32::from(mode) & 0o170000 {
        0o100000 => "file",
        0o040000 => "directory",
        0o010000 => "pipe",
        0o020000 => "char_device",
        0o060000 => "block_device",
        0o120000 => "symlink",
        0o140000 => "socket",
        _ => "other_file",
    }
}

/// The filesystem's name: of several names for one magic (ext2/ext3/ext4), the one
/// whose directory holds the handler.
fn fs_name(names: &str, handler_src: Option<&str>) -> String {
    let short = |n: &str| {
        ["_SUPER_MAGIC", "_FS_MAGIC", "_MAGIC"]
            .iter()
            .fold(n.to_string(), |s, suf| {
                s.strip_suffix(suf).map_or(s.clone(), str::to_string)
            })
            .to_ascii_lowercase()
    };
    let all: Vec<String> = names.split_ascii_whitespace().map(short).collect();
    if let Some(src) = handler_src
        && let Some(n) = all.iter().find(|n| src.starts_with(&format!("fs/{n}/")))
    {
        return n.clone();
    }
    match all.as_slice() {
        [] => "?".into(),
        [one] => one.clone(),
        many => many.join("/"),
    }
}

fn socket_name(
    t: &ObjectTables,
    key: &ObjectKey,
) -> (String, Option<&'static str>, Option<&'static str>) {
    let fam = t.families.iter().find(|f| f.0 == u32::from(key.family));
    let fam_name = fam.map_or_else(|| format!("AF_{}", key.family), |f| f.1.to_string());
    let fam_src = fam.map(|f| f.2).filter(|s| !s.is_empty());
    let (ty, proto) = (u32::from(key.sock_type), u32::from(key.protocol));
    if let Some(p) = protocol_row(t, key) {
        // tcpv6_prot is "TCPv6": the family already says IPv6.
        let n = p.3.strip_suffix("v6").unwrap_or(p.3);
        return (format!("{fam_name} {n}"), Some(p.4), fam_src);
    }
    let ty_name = lookup_named(t.sock_types, ty).map_or_else(
        || format!("type {ty}"),
        |n| n.trim_start_matches("SOCK_").to_ascii_lowercase(),
    );
    if matches!(fam_name.as_str(), "AF_INET" | "AF_INET6")
        && let Some(p) = lookup_named(t.ip_protocols, proto)
    {
        let p = p.trim_start_matches("IPPROTO_");
        return (format!("{fam_name} {ty_name} {p}"), None, fam_src);
    }
    if fam_name == "AF_NETLINK"
        && let Some(n) = lookup_named(t.netlink_protocols, proto)
    {
        return (format!("{fam_name} {n}"), None, fam_src);
    }
    (format!("{fam_name} {ty_name}"), None, fam_src)
}

/// Names everything about one object key of `syscall`.
pub fn describe(
    knowledge: &Knowledge,
    ksyms: &Kallsyms,
    syscall: &str,
    key: &ObjectKey,
) -> ObjectInfo {
    let t = knowledge.objects;
    // A tree whose functions cannot be scanned leaves the operation tables to tell.
    let functions = knowledge.functions().ok();
    let file_of = |addr: u64| {
        let (i, s) = ksyms.at(addr)?;
        t.handler_file(functions, &s.name, s.module.as_deref(), Some((ksyms, i)))
    };
    let mut handler = ksyms.symbol(key.handler).map(|s| s.name.clone());
    let mut handler_src = file_of(key.handler);
    let mut via = None;
    // The file's release function tells a file system's code where no handler does
    // (an mmap, an fcntl): ext4_release_file is fs/ext4/, not ext2 or ext3.
    let type_src = file_of(key.type_fn);

    let mut kind = match key.kind {
        object::NONE => "none",
        // mmap's fd is ignored (and -1 by convention) for anonymous memory.
        object::NO_FILE if matches!(syscall, "mmap" | "mmap2") => "anonymous",
        object::NO_FILE => "no_file",
        object::UNREADABLE => "unreadable",
        object::SOCKET => "socket",
        object::FILE => file_kind(key.mode),
        _ => "unknown",
    };
    let mut name = None;
    let mut object_src: Option<String> = None;
    if key.kind == object::FILE {
        let magic = t.fs_magics.iter().find(|m| m.0 == key.fs_magic);
        let magic_src = magic.map(|m| m.2).filter(|s| !s.is_empty());
        let type_name = ksyms
            .symbol(key.type_fn)
            .and_then(|s| t.anon_types.iter().find(|a| a.0 == s.name))
            .map(|a| a.1);
        let anon_fs = magic.is_some_and(|m| m.1.split(' ').any(|n| n == "ANON_INODE_FS_MAGIC"));
        let (major, minor) = (key.rdev >> 20, key.rdev & 0xfffff);
        match kind {
            "char_device" => {
                let (n, d) = char_device(major, minor);
                name = Some(n);
                object_src = d.map(str::to_string);
            }
            "block_device" => {
                let (n, d) = block_device(major, minor);
                name = Some(n);
                object_src = d.map(str::to_string);
            }
            _ if anon_fs || type_name.is_some() => {
                kind = "anon_inode";
                name = Some(type_name.map_or_else(
                    || {
                        ksyms
                            .name(key.type_fn)
                            .map_or("anon_inode", |n| n.strip_suffix("_release").unwrap_or(n))
                            .to_string()
                    },
                    str::to_string,
                ));
                object_src = magic_src.map(str::to_string);
            }
            "pipe" => {
                let pipefs = magic.is_some_and(|m| m.1.contains("PIPEFS_MAGIC"));
                name = Some(if pipefs {
                    "pipe".to_string()
                } else {
                    format!(
                        "fifo on {}",
                        magic.map_or("?".into(), |m| fs_name(m.1, handler_src.or(type_src)))
                    )
                });
                object_src = magic_src.map(str::to_string);
            }
            _ => {
                name = Some(magic.map_or_else(
                    || format!("fs {:#x}", key.fs_magic),
                    |m| fs_name(m.1, handler_src.or(type_src)),
                ));
                object_src = magic_src.map(str::to_string);
            }
        }
    } else if key.kind == object::SOCKET {
        let (n, proto_src, fam_src) = socket_name(t, key);
        name = Some(n);
        object_src = proto_src.or(fam_src).map(str::to_string);
        // A family's generic operation (inet_sendmsg in af_inet.c) hands the call to
        // the protocol (tcp_sendmsg in tcp.c), which does the work: it is the handler.
        if let Some(h) = handler.as_deref() {
            let request = (syscall == "ioctl")
                .then(|| ioctl_name(t, key.cmd, handler_src.unwrap_or("")))
                .flatten()
                .map(|c| c.name);
            if let Some((f, file)) = protocol_operation(t, functions, key, h, request.as_deref()) {
                via = handler.replace(f.to_string());
                handler_src = Some(file);
            }
        }
    }
    let source = handler_src.map(str::to_string).or(object_src);
    let context = source.clone().unwrap_or_default();
    let cmd = command_name(t, syscall, key, &context);
    let mut info = finish(knowledge, kind, name, cmd, handler, source);
    info.via = via;
    info
}

fn finish(
    knowledge: &Knowledge,
    kind: &'static str,
    name: Option<String>,
    cmd: Option<Command>,
    handler: Option<String>,
    source: Option<String>,
) -> ObjectInfo {
    let t = knowledge.objects;
    let section_of = |path: &str| {
        t.file(path)
            .and_then(|f| f.1)
            .and_then(|i| knowledge.sections.get(usize::from(i)))
    };
    let command_header = cmd.as_ref().and_then(|c| c.header);
    ObjectInfo {
        kind,
        name,
        command: cmd.map(|c| c.name),
        command_header,
        command_section: command_header.and_then(section_of),
        handler,
        via: None,
        section: source.as_deref().and_then(section_of),
        subsystem: source.as_deref().and_then(rules::subsystem_of_path),
        source,
    }
}

/// Which argument (0-based) of `syscall` in `abi` is the file descriptor it operates
/// on, from its definition's parameter names in the kernel source.
pub fn fd_arg(knowledge: &Knowledge, abi: AbiName, syscall: &str) -> Option<u8> {
    knowledge
        .table(abi)
        .iter()
        .find(|s| s.name == syscall)
        .and_then(|s| s.fd_arg)
}

/// One ioctl type character's commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IoctlFamily {
    /// The `_IOC` type byte ('T' = 0x54); plain numbers count under their second byte.
    pub type_byte: u8,
    pub headers: Vec<&'static str>,
    pub commands: usize,
}

/// The known ioctl commands grouped by type byte, in type order.
pub fn ioctl_families(t: &ObjectTables) -> Vec<IoctlFamily> {
    let mut by_type: std::collections::BTreeMap<u8, IoctlFamily> = Default::default();
    let plain = t.ioctl_plain.iter().map(|r| ((r.0 >> 8) as u8, r));
    let encoded = t.ioctl_encoded.iter().map(|r| ((r.0 >> 8) as u8, r));
    for (ty, r) in plain.chain(encoded) {
        let f = by_type.entry(ty).or_insert_with(|| IoctlFamily {
            type_byte: ty,
            headers: Vec::new(),
            commands: 0,
        });
        f.commands += 1;
        if let Some(h) = t.headers.get(r.1 as usize)
            && !f.headers.contains(h)
        {
            f.headers.push(h);
        }
    }
    by_type.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k() -> Knowledge {
        Knowledge::embedded()
    }

    const SAMPLE: &str = "\
0000000000000000 A fixed_percpu_data
ffffffff81000000 T _stext
ffffffff816c5bd0 t __pfx_pipe_read
ffffffff816c5be0 t pipe_read
ffffffff816c5ff0 t sock_ioctl
ffffffff816c6000 D some_data
ffffffff816c6100 t unix_stream_sendmsg
ffffffff816c6200 T eventfd_release
ffffffffc0a01000 t ext4_file_read_iter\t[ext4]
ffffffffc0a02000 t read_null.isra.0
not a line
ffffffffzz t bad_address
";

    #[test]
    fn kallsyms_names_text_symbols_and_modules() {
        let s = Kallsyms::parse(SAMPLE);
        assert_eq!(s.symbols().len(), 7);
        assert_eq!(s.name(0xffffffff816c5be0), Some("pipe_read"));
        assert_eq!(
            s.name(0xffffffff816c5bd0),
            None,
            "padding is not a function"
        );
        assert_eq!(s.name(0xffffffff816c6000), None, "data is not text");
        assert_eq!(s.name(0xffffffff816c5be4), None, "only a function's start");
        assert_eq!(s.name(0), None);
        let e = s.symbol(0xffffffffc0a01000).unwrap();
        assert_eq!(
            (e.name.as_str(), e.module.as_deref()),
            ("ext4_file_read_iter", Some("ext4"))
        );
        assert!(
            Kallsyms::parse("0000000000000000 T _stext\n0000000000000000 t pipe_read\n")
                .symbols()
                .is_empty()
        );
    }

    #[test]
    fn handler_functions_to_their_defining_files() {
        let t = k().objects;
        let cases = [
            ("pipe_read", "fs/pipe.c"),
            ("sock_ioctl", "net/socket.c"),
            ("unix_stream_sendmsg", "net/unix/af_unix.c"),
            ("ext4_file_read_iter", "fs/ext4/file.c"),
            ("ext4_ioctl", "fs/ext4/ioctl.c"),
            ("eventfd_release", "fs/eventfd.c"),
            ("read_null", "drivers/char/mem.c"),
            ("generic_file_read_iter", "mm/filemap.c"),
            ("tcp_sendmsg", "net/ipv4/tcp.c"),
            ("inet_sendmsg", "net/ipv4/af_inet.c"),
            ("shmem_file_read_iter", "mm/shmem.c"),
            ("read_null.isra.0", "drivers/char/mem.c"),
            ("perf_read", "kernel/events/core.c"),
        ];
        // From the full table of definitions, and from the operation tables alone.
        for functions in [Some(Functions::embedded()), None] {
            for (f, file) in cases {
                assert_eq!(
                    t.handler_file(functions, f, None, None),
                    Some(file),
                    "{f} {}",
                    functions.is_some()
                );
            }
            assert_eq!(
                t.handler_file(functions, "ext4_file_read_iter", Some("ext4"), None),
                Some("fs/ext4/file.c")
            );
            assert_eq!(
                t.handler_file(functions, "no_such_function_anywhere", None, None),
                None
            );
        }
    }

    #[test]
    fn command_numbers_from_the_headers() {
        let t = k().objects;
        let ioctl = |v: u32, ctx: &str| ioctl_name(t, v, ctx).map(|c| (c.name, c.header));
        assert_eq!(
            ioctl(0x541B, ""),
            Some(("FIONREAD".into(), Some("include/uapi/asm-generic/ioctls.h")))
        );
        assert_eq!(ioctl(0x5401, "").unwrap().0, "TCGETS");
        assert_eq!(
            ioctl(0x8912, "net/socket.c"),
            Some(("SIOCGIFCONF".into(), Some("include/uapi/linux/sockios.h")))
        );
        // KVM_CREATE_VM is _IO(0xAE, 0x01); TCGETS2 _IOR('T', 0x2A, struct termios2) of
        // 44 bytes on x86_64.
        assert_eq!(
            ioctl(0xAE01, "virt/kvm/kvm_main.c").unwrap().0,
            "KVM_CREATE_VM"
        );
        assert_eq!(ioctl(0x802c542a, "").unwrap().0, "TCGETS2");
        assert_eq!(ioctl_numeric(0x802c542a), "_IOR('T', 0x2a, 44)");
        assert_eq!(ioctl_numeric(0xdead), "0xdead");

        let set = |s: &str, v: u32| lookup_named(t.command_set(s).unwrap().1, v);
        assert_eq!(set("fcntl", 3), Some("F_GETFL"));
        assert_eq!(set("fcntl", 1024), Some("F_SETLEASE"));
        assert_eq!(set("fcntl", 0), Some("F_DUPFD"));
        assert_eq!(set("prctl", 15), Some("PR_SET_NAME"));
        // Options the capability module serves, not kernel/sys.c.
        assert_eq!(set("prctl", 23), Some("PR_CAPBSET_READ"));
        assert_eq!(set("futex", 1), Some("FUTEX_WAKE"));
        assert_eq!(set("futex", 9), Some("FUTEX_WAIT_BITSET"));
        assert_eq!(set("bpf", 0), Some("BPF_MAP_CREATE"));
        assert_eq!(set("bpf", 10), Some("BPF_PROG_TEST_RUN"));
        assert_eq!(set("sol", 1), Some("SOL_SOCKET"));
        assert_eq!(set("sol", 6), Some("SOL_TCP"));
        assert_eq!(set("sockopt:1", 2), Some("SO_REUSEADDR"));
        assert_eq!(set("sockopt:6", 1), Some("TCP_NODELAY"));
        assert_eq!(set("sockopt:0", 1), Some("IP_TOS"));
        assert_eq!(set("sockopt:41", 26), Some("IPV6_V6ONLY"));
        assert!(
            set("prctl", 0).is_none(),
            "a nested switch's PR_MCE_KILL_CLEAR is not an option"
        );
    }

    fn key(kind: u32) -> ObjectKey {
        ObjectKey {
            kind,
            ..ObjectKey::default()
        }
    }

    #[test]
    fn commands_of_multiplexed_syscalls() {
        let (kn, ks) = (k(), Kallsyms::default());
        let cmd = |sys: &str, c: u32, c2: u32| {
            let info = describe(
                &kn,
                &ks,
                sys,
                &ObjectKey {
                    cmd: c,
                    cmd2: c2,
                    ..key(object::NONE)
                },
            );
            (info.command, info.command_header)
        };
        assert_eq!(
            cmd("futex", 1, 0),
            (
                Some("FUTEX_WAKE".into()),
                Some("include/uapi/linux/futex.h")
            )
        );
        assert_eq!(cmd("prctl", 15, 0).0.as_deref(), Some("PR_SET_NAME"));
        assert_eq!(
            cmd("prctl", 99999, 0).0.as_deref(),
            Some("99999"),
            "unknown kept as a number"
        );
        assert_eq!(cmd("fcntl", 3, 0).0.as_deref(), Some("F_GETFL"));
        assert_eq!(cmd("bpf", 0, 0).0.as_deref(), Some("BPF_MAP_CREATE"));
        assert_eq!(
            cmd("socket", 2, 1).0.as_deref(),
            Some("AF_INET SOCK_STREAM")
        );
        assert_eq!(
            cmd("socketpair", 1, 2).0.as_deref(),
            Some("AF_UNIX SOCK_DGRAM")
        );
        assert_eq!(
            cmd("setsockopt", 1, 2).0.as_deref(),
            Some("SOL_SOCKET SO_REUSEADDR")
        );
        assert_eq!(
            cmd("getsockopt", 6, 1).0.as_deref(),
            Some("SOL_TCP TCP_NODELAY")
        );
        assert_eq!(
            cmd("setsockopt", 9999, 3).0.as_deref(),
            Some("level 9999 3")
        );
        assert_eq!(cmd("ioctl", 0x8912, 0).0.as_deref(), Some("SIOCGIFCONF"));
        assert_eq!(cmd("read", 0, 0).0, None, "read has no command");
        let futex = describe(
            &kn,
            &ks,
            "futex",
            &ObjectKey {
                cmd: 0,
                ..key(object::NONE)
            },
        );
        assert_eq!(
            futex.command_section.map(|s| s.name),
            Some("FUTEX SUBSYSTEM")
        );
        assert_eq!((futex.kind, futex.source), ("none", None));
    }

    #[test]
    fn objects_named_with_their_code() {
        let kn = k();
        let ks = Kallsyms::parse(SAMPLE);
        let file = |mode: u16, magic: u32, rdev: u32, handler: u64, type_fn: u64| ObjectKey {
            kind: object::FILE,
            mode,
            fs_magic: magic,
            rdev,
            handler,
            type_fn,
            ..ObjectKey::default()
        };
        let d = |sys: &str, k: &ObjectKey| {
            let i = describe(&kn, &ks, sys, k);
            (i.kind, i.name, i.source, i.subsystem)
        };
        // /dev/null is 1:3, without a handler the driver's file stands.
        assert_eq!(
            d("write", &file(0o020000, 0x1cd1, 1 << 20 | 3, 0, 0)),
            (
                "char_device",
                Some("/dev/null".into()),
                Some("drivers/char/mem.c".into()),
                Some("Drivers")
            )
        );
        assert_eq!(
            d("read", &file(0o020000, 0x1cd1, 1 << 20 | 9, 0, 0))
                .2
                .as_deref(),
            Some("drivers/char/random.c")
        );
        // A pipe read served by pipe_read.
        let pipe = describe(
            &kn,
            &ks,
            "read",
            &file(0o010000, 0x50495045, 0, 0xffffffff816c5be0, 0),
        );
        assert_eq!(
            (
                pipe.kind,
                pipe.name.as_deref(),
                pipe.handler.as_deref(),
                pipe.source.as_deref()
            ),
            ("pipe", Some("pipe"), Some("pipe_read"), Some("fs/pipe.c"))
        );
        // A handler the tables do not know (a newer kernel's anon_pipe_read): the
        // filesystem's code stands in.
        let newer = describe(
            &kn,
            &Kallsyms::parse("ffffffff81000000 t anon_pipe_read\n"),
            "read",
            &file(0o010000, 0x50495045, 0, 0xffffffff81000000, 0),
        );
        assert_eq!(
            (newer.handler.as_deref(), newer.source.as_deref()),
            (Some("anon_pipe_read"), Some("fs/pipe.c"))
        );
        // ext4 through a module symbol; the magic is shared with ext2/ext3.
        assert_eq!(
            d("read", &file(0o100000, 0xEF53, 0, 0xffffffffc0a01000, 0)),
            (
                "file",
                Some("ext4".into()),
                Some("fs/ext4/file.c".into()),
                Some("Filesystem")
            )
        );
        assert_eq!(
            d("read", &file(0o100000, 0x01021994, 0, 0, 0)),
            (
                "file",
                Some("tmpfs".into()),
                Some("mm/shmem.c".into()),
                Some("Memory Mgmt.")
            )
        );
        assert_eq!(
            d("getdents64", &file(0o040000, 0x9fa0, 0, 0, 0))
                .1
                .as_deref(),
            Some("proc")
        );
        assert_eq!(
            d("read", &file(0o100000, 0x12345678, 0, 0, 0)).1.as_deref(),
            Some("fs 0x12345678")
        );
        // An eventfd: named by its release function.
        let ev = describe(
            &kn,
            &ks,
            "read",
            &file(0, 0x09041934, 0, 0, 0xffffffff816c6200),
        );
        assert_eq!(
            (ev.kind, ev.name.as_deref(), ev.source.as_deref()),
            ("anon_inode", Some("eventfd"), Some("fs/anon_inodes.c"))
        );

        let sock = |family: u16, sock_type: u16, protocol: u16, handler: u64| ObjectKey {
            kind: object::SOCKET,
            mode: 0o140000,
            family,
            sock_type,
            protocol,
            handler,
            ..ObjectKey::default()
        };
        assert_eq!(
            d("sendmsg", &sock(1, 1, 0, 0xffffffff816c6100)),
            (
                "socket",
                Some("AF_UNIX stream".into()),
                Some("net/unix/af_unix.c".into()),
                Some("Network")
            )
        );
        assert_eq!(
            d("sendto", &sock(2, 1, 6, 0)).1.as_deref(),
            Some("AF_INET TCP")
        );
        assert_eq!(
            d("sendto", &sock(2, 1, 6, 0)).2.as_deref(),
            Some("net/ipv4/tcp.c")
        );
        assert_eq!(
            d("sendto", &sock(10, 2, 17, 0)).1.as_deref(),
            Some("AF_INET6 UDP")
        );
        assert_eq!(
            d("sendto", &sock(16, 3, 0, 0)).1.as_deref(),
            Some("AF_NETLINK NETLINK_ROUTE")
        );
        // No protosw registers SOCK_PACKET for AF_INET: the numbers are named one by one.
        assert_eq!(
            d("sendto", &sock(2, 10, 6, 0)).1.as_deref(),
            Some("AF_INET packet TCP")
        );
        // The generic inet_sendmsg hands TCP's work to tcp_sendmsg in net/ipv4/tcp.c.
        let ks2 = Kallsyms::parse("ffffffff81000000 T inet_sendmsg\n");
        let tcp = describe(&kn, &ks2, "sendmsg", &sock(2, 1, 6, 0xffffffff81000000));
        assert_eq!(
            (
                tcp.handler.as_deref(),
                tcp.via.as_deref(),
                tcp.source.as_deref()
            ),
            (
                Some("tcp_sendmsg"),
                Some("inet_sendmsg"),
                Some("net/ipv4/tcp.c")
            )
        );
        // SIOCGIFCONF on a UDP socket through sock_ioctl.
        let io = describe(
            &kn,
            &ks,
            "ioctl",
            &ObjectKey {
                cmd: 0x8912,
                ..sock(2, 2, 17, 0xffffffff816c5ff0)
            },
        );
        assert_eq!(
            (io.command.as_deref(), io.source.as_deref(), io.subsystem),
            (Some("SIOCGIFCONF"), Some("net/socket.c"), Some("Network"))
        );
        assert!(io.section.is_some());

        for kind in [object::NO_FILE, object::UNREADABLE, 99] {
            let i = describe(&kn, &ks, "read", &key(kind));
            assert_eq!((i.name, i.source), (None, None));
        }
    }

    #[test]
    fn generic_socket_operations_name_the_protocol_s_function() {
        let kn = k();
        let ks = Kallsyms::parse(
            "ffffffff81000000 T inet_sendmsg\n\
             ffffffff81000100 T inet_stream_connect\n\
             ffffffff81000200 T inet_dgram_connect\n\
             ffffffff81000300 T inet6_recvmsg\n\
             ffffffff81000400 T inet_bind\n\
             ffffffff81000500 T inet_shutdown\n\
             ffffffff81000600 T sock_common_setsockopt\n\
             ffffffff81000700 T inet_listen\n\
             ffffffff81000800 T inet_ioctl\n\
             ffffffff81000900 t unix_stream_sendmsg\n",
        );
        let at = |name: &str| {
            ks.symbols()
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.addr)
                .unwrap()
        };
        let d = |sys: &str, (family, sock_type, protocol): (u16, u16, u16), h: &str, cmd: u32| {
            let i = describe(
                &kn,
                &ks,
                sys,
                &ObjectKey {
                    kind: object::SOCKET,
                    mode: 0o140000,
                    family,
                    sock_type,
                    protocol,
                    handler: at(h),
                    cmd,
                    ..ObjectKey::default()
                },
            );
            (
                i.handler,
                i.via,
                i.source,
                i.section.map(|s| s.name),
                i.subsystem,
            )
        };
        let row = |h: &str, via: Option<&str>, src: &str| {
            (
                Some(h.to_string()),
                via.map(str::to_string),
                Some(src.to_string()),
            )
        };
        let hvs = |r: (Option<String>, Option<String>, Option<String>, _, _)| (r.0, r.1, r.2);
        let (tcp, udp, tcp6, udp6, raw) =
            ((2, 1, 6), (2, 2, 17), (10, 1, 6), (10, 2, 17), (2, 3, 1));

        // TCP: the protocol's sendmsg and connect, with their files and sections.
        let send = d("sendto", tcp, "inet_sendmsg", 0);
        assert_eq!(
            send,
            (
                Some("tcp_sendmsg".into()),
                Some("inet_sendmsg".into()),
                Some("net/ipv4/tcp.c".into()),
                Some("NETWORKING [TCP]"),
                Some("Network")
            )
        );
        assert_eq!(
            hvs(d("connect", tcp, "inet_stream_connect", 0)),
            row(
                "tcp_v4_connect",
                Some("inet_stream_connect"),
                "net/ipv4/tcp_ipv4.c"
            )
        );
        // UDP: its own sendmsg; connect is IPv4's datagram connect.
        assert_eq!(
            hvs(d("sendmsg", udp, "inet_sendmsg", 0)),
            row("udp_sendmsg", Some("inet_sendmsg"), "net/ipv4/udp.c")
        );
        assert_eq!(
            hvs(d("connect", udp, "inet_dgram_connect", 0)),
            row(
                "ip4_datagram_connect",
                Some("inet_dgram_connect"),
                "net/ipv4/datagram.c"
            )
        );
        // TCP over IPv6 receives with TCP's code and connects with its own.
        assert_eq!(
            hvs(d("recvfrom", tcp6, "inet6_recvmsg", 0)),
            row("tcp_recvmsg", Some("inet6_recvmsg"), "net/ipv4/tcp.c")
        );
        assert_eq!(
            hvs(d("connect", tcp6, "inet_stream_connect", 0)),
            row(
                "tcp_v6_connect",
                Some("inet_stream_connect"),
                "net/ipv6/tcp_ipv6.c"
            )
        );
        assert_eq!(
            hvs(d("setsockopt", udp6, "sock_common_setsockopt", 0)),
            row(
                "udpv6_setsockopt",
                Some("sock_common_setsockopt"),
                "net/ipv6/udp.c"
            )
        );
        // SOL_SOCKET's options are the socket layer's, whatever the protocol.
        assert_eq!(
            hvs(d("setsockopt", udp6, "sock_common_setsockopt", 1)),
            row("sock_common_setsockopt", None, "net/core/sock.c")
        );
        // RAW (any protocol) binds with its own raw_bind, IPv4's, not CAN's.
        assert_eq!(
            hvs(d("bind", raw, "inet_bind", 0)),
            row("raw_bind", Some("inet_bind"), "net/ipv4/raw.c")
        );
        assert_eq!(
            hvs(d("sendto", raw, "inet_sendmsg", 0)),
            row("raw_sendmsg", Some("inet_sendmsg"), "net/ipv4/raw.c")
        );
        // Where the protocol has no such operation the family's code does the work:
        // TCP binds with __inet_bind, UDP has no shutdown.
        for (sys, key, h) in [
            ("bind", tcp, "inet_bind"),
            ("shutdown", udp, "inet_shutdown"),
            ("listen", tcp, "inet_listen"),
        ] {
            let r = d(sys, key, h, 0);
            assert_eq!(hvs(r.clone()), row(h, None, "net/ipv4/af_inet.c"), "{h}");
            assert_eq!(r.3, Some("NETWORKING [IPv4/IPv6]"));
        }
        // inet_ioctl serves SIOCGIFADDR itself and hands other requests on.
        assert_eq!(
            hvs(d("ioctl", tcp, "inet_ioctl", 0x8915)),
            row("inet_ioctl", None, "net/ipv4/af_inet.c")
        );
        assert_eq!(
            hvs(d("ioctl", tcp, "inet_ioctl", 0x541B)),
            row("tcp_ioctl", Some("inet_ioctl"), "net/ipv4/tcp.c")
        );
        // AF_UNIX's operations are its own: nothing changes.
        assert_eq!(
            hvs(d("sendto", (1, 1, 0), "unix_stream_sendmsg", 0)),
            row("unix_stream_sendmsg", None, "net/unix/af_unix.c")
        );
        // Every protocol's operations resolve to a file, from the full table of
        // definitions and from the operation tables alone.
        let t = kn.objects;
        for functions in [kn.functions().ok(), None] {
            for p in t.protocols {
                for op in p.5.split_ascii_whitespace() {
                    let f = op.split_once('=').unwrap().1;
                    assert!(
                        t.proto_function_file(functions, f, p.4).is_some(),
                        "{} {f}",
                        p.3
                    );
                }
            }
            assert_eq!(
                t.proto_function_file(functions, "raw_bind", "net/ipv4/raw.c"),
                Some("net/ipv4/raw.c")
            );
        }
    }

    #[test]
    fn fd_arguments_from_the_source() {
        let kn = k();
        let x = |n: &str| fd_arg(&kn, AbiName::X86_64, n);
        assert_eq!(x("read"), Some(0));
        assert_eq!(x("ioctl"), Some(0));
        assert_eq!(x("mmap"), Some(4));
        assert_eq!(x("sendfile"), Some(0), "out_fd");
        assert_eq!(x("splice"), Some(0), "fd_in");
        assert_eq!(x("epoll_ctl"), Some(0));
        assert_eq!(x("openat"), None, "a directory fd is not the object");
        assert_eq!(x("getppid"), None);
        assert_eq!(fd_arg(&kn, AbiName::I386, "pread64"), Some(0));
        assert_eq!(fd_arg(&kn, AbiName::Aarch64, "write"), Some(0));
    }

    #[test]
    fn ioctl_families_are_grouped_by_type() {
        let f = ioctl_families(k().objects);
        let t = f.iter().find(|f| f.type_byte == b'T').unwrap();
        assert!(t.headers.contains(&"include/uapi/asm-generic/ioctls.h"));
        assert!(t.commands > 50);
        let kvm = f.iter().find(|f| f.type_byte == 0xAE).unwrap();
        assert!(kvm.headers.contains(&"include/uapi/linux/kvm.h"));
    }
}

/// A command of a multiplexed syscall found by its name ([`find_command`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedCommand {
    pub name: &'static str,
    /// The syscalls that carry it: `ioctl`, `fcntl`, `setsockopt, getsockopt`, ...
    pub carried_by: &'static str,
    /// What it is to them: `request`, `command`, `option`, `level`, ...
    pub role: String,
    /// Its value as the header writes it: `0x8912`, `_IOR('T', 0x13, ...)`, `1`.
    pub value: String,
    /// The header that defines it.
    pub header: Option<&'static str>,
    /// The MAINTAINERS section of the header.
    pub header_maintainers: Option<&'static str>,
    /// ioctl requests: the functions with a `case` for it, and their files and
    /// MAINTAINERS sections. Which one serves a call depends on the file it is made on.
    pub served_in: Vec<ServedIn>,
}

/// A function that serves an ioctl request ([`NamedCommand::served_in`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServedIn {
    pub function: &'static str,
    pub file: &'static str,
    pub maintainers: Option<&'static str>,
}

/// Every command named `name` (any case): ioctl requests, fcntl/prctl/futex/bpf
/// commands, socket option levels and options.
pub fn find_command(k: &Knowledge, name: &str) -> Vec<NamedCommand> {
    let t = k.objects;
    let upper = name.trim().to_ascii_uppercase();
    let header = |i: u16| t.headers.get(i as usize).copied();
    let section = |path: &str| {
        t.files
            .iter()
            .find(|f| f.0 == path)
            .and_then(|f| f.1)
            .and_then(|s| k.sections.get(s as usize))
            .map(|s| s.name)
    };
    let served_in = |request: &str| -> Vec<ServedIn> {
        let start = t.ioctl_cases.partition_point(|c| c.0 < request);
        t.ioctl_cases[start..]
            .iter()
            .take_while(|c| c.0 == request)
            .filter_map(|&(_, function, file)| {
                let file = t.files.get(file as usize)?.0;
                Some(ServedIn {
                    function,
                    file,
                    maintainers: section(file),
                })
            })
            .collect()
    };
    let mut found = Vec::new();
    for &(number, h, n) in t.ioctl_plain.iter().filter(|r| r.2 == upper) {
        found.push(NamedCommand {
            name: n,
            carried_by: "ioctl",
            role: "request".into(),
            value: format!("{number:#x}"),
            header: header(h),
            header_maintainers: header(h).and_then(section),
            served_in: served_in(n),
        });
    }
    for &(key, h, n) in t.ioctl_encoded.iter().filter(|r| r.2 == upper) {
        let (dir, ty, nr) = (key >> 16, (key >> 8) & 0xff, key & 0xff);
        let mac = ["_IO", "_IOW", "_IOR", "_IOWR"][(dir & 3) as usize];
        let ty = match u8::try_from(ty) {
            Ok(c) if c.is_ascii_graphic() && c != b'\'' && c != b'\\' => format!("'{}'", c as char),
            _ => format!("{ty:#x}"),
        };
        found.push(NamedCommand {
            name: n,
            carried_by: "ioctl",
            role: "request".into(),
            value: if dir == 0 {
                format!("_IO({ty}, {nr:#x})")
            } else {
                format!("{mac}({ty}, {nr:#x}, <size>)")
            },
            header: header(h),
            header_maintainers: header(h).and_then(section),
            served_in: served_in(n),
        });
    }
    for &(set, h, values) in t.commands {
        let (carried_by, role) = match set {
            "fcntl" => ("fcntl", "command".to_owned()),
            "prctl" => ("prctl", "option".to_owned()),
            "futex" => ("futex", "operation".to_owned()),
            "bpf" => ("bpf", "command".to_owned()),
            "sol" => ("setsockopt, getsockopt", "level".to_owned()),
            other => match other.strip_prefix("sockopt:") {
                Some(level) => ("setsockopt, getsockopt", format!("option at level {level}")),
                None => continue,
            },
        };
        for &(value, n) in values.iter().filter(|v| v.1 == upper) {
            found.push(NamedCommand {
                name: n,
                carried_by,
                role: role.clone(),
                value: value.to_string(),
                header: header(h),
                header_maintainers: header(h).and_then(section),
                served_in: Vec::new(),
            });
        }
    }
    found
}

/// Every command name the tables know, for suggestions.
pub fn command_names(t: &ObjectTables) -> impl Iterator<Item = &'static str> {
    t.ioctl_plain
        .iter()
        .chain(t.ioctl_encoded)
        .map(|r| r.2)
        .chain(t.commands.iter().flat_map(|c| c.2.iter().map(|v| v.1)))
}
