//! Reads a Linux source tree and works out, for every syscall of an ABI, where the
//! kernel implements it and who maintains that code:
//!
//! - numbers, names and entry points from the ABI's `syscall_*.tbl`;
//! - the file with the entry point's `SYSCALL_DEFINEn` (`COMPAT_SYSCALL_DEFINEn`,
//!   `SYSCALL32_DEFINEn` for compat entries), preferring the ABI's own `arch/` code to
//!   generic code, as the build does;
//! - the MAINTAINERS section for that file, matched the way scripts/get_maintainer.pl
//!   matches (`F:` patterns with globs and directory prefixes, `X:` exclusions, `N:`
//!   regexes; the deepest pattern wins);
//! - a coarse subsystem from [`super::rules`];
//! - which argument is the file descriptor the call operates on, from the definition's
//!   parameter names ([`super::object_scan::fd_arg`]);
//! - the object and command tables of [`super::object_scan`], with the MAINTAINERS
//!   section of every file they name.
//!
//! Used by `cargo xtask gen-syscalls` to write the embedded table, and by wl-user when
//! pointed at a kernel tree with `--kernel-src`.

use std::{
    collections::{BTreeMap, HashMap},
    fs,
    path::Path,
};

use anyhow::{Context as _, Result, bail};

use super::{object_scan, rules, source};

/// How one ABI's table is laid out in the tree.
pub struct AbiSpec {
    pub name: &'static str,
    pub tbl: &'static str,
    pub abis: &'static [&'static str],
    /// Use the compat entry point (a 32-bit ABI on a 64-bit kernel).
    pub compat: bool,
    pub arch_dir: &'static str,
    /// Calls outside the table: the header defining their numbers and the file serving
    /// them (arm's private calls on arm64).
    pub private: Option<(&'static str, &'static str)>,
}

pub const ABIS: &[AbiSpec] = &[
    AbiSpec {
        name: "x86_64",
        tbl: "arch/x86/entry/syscalls/syscall_64.tbl",
        abis: &["common", "64"],
        compat: false,
        arch_dir: "arch/x86/",
        private: None,
    },
    AbiSpec {
        name: "i386",
        tbl: "arch/x86/entry/syscalls/syscall_32.tbl",
        abis: &["i386"],
        compat: true,
        arch_dir: "arch/x86/",
        private: None,
    },
    AbiSpec {
        name: "aarch64",
        // Linux 6.11 moved arm64 to the generic table; arch/arm64/kernel/Makefile.syscalls
        // lists the extra ABIs it takes from it.
        tbl: "arch/arm64/tools/syscall_64.tbl",
        abis: &["common", "64", "renameat", "rlimit", "memfd_secret"],
        compat: false,
        arch_dir: "arch/arm64/",
        private: None,
    },
    AbiSpec {
        name: "arm",
        // 32-bit arm's EABI numbers with the compat entry points arm64 gives them
        // (Linux 6.11 and later; before, arch/arm64/include/asm/unistd32.h).
        tbl: "arch/arm64/tools/syscall_32.tbl",
        abis: &["common"],
        compat: true,
        arch_dir: "arch/arm64/",
        // __ARM_NR_compat_cacheflush and _set_tls, which compat_arm_syscall serves.
        private: Some((
            "arch/arm64/include/asm/unistd.h",
            "arch/arm64/kernel/sys_compat.c",
        )),
    },
];

/// Syscalls newer than Debian's linux-source-6.12, up to Linux 6.18, with the file that
/// defines them: (nr, name, source, since). Numbers are shared by all three ABIs (the
/// unified numbering used since 424).
pub const AFTER_6_12: &[(u32, &str, &str, &str)] = &[
    (463, "setxattrat", "fs/xattr.c", "6.13"),
    (464, "getxattrat", "fs/xattr.c", "6.13"),
    (465, "listxattrat", "fs/xattr.c", "6.13"),
    (466, "removexattrat", "fs/xattr.c", "6.13"),
    (467, "open_tree_attr", "fs/namespace.c", "6.15"),
    (468, "file_getattr", "fs/file_attr.c", "6.17"),
    (469, "file_setattr", "fs/file_attr.c", "6.17"),
];

/// One syscall of one ABI.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub nr: u32,
    pub name: String,
    /// Entry point, `sys_getppid`; empty where the table has none.
    pub entry: String,
    /// Files with the definition, the one the build uses first.
    pub sources: Vec<String>,
    /// Index into [`Scan::sections`].
    pub section: Option<usize>,
    pub subsystem: &'static str,
    pub hand_added: bool,
    /// The argument (0-based) holding the file descriptor the call operates on.
    pub fd_arg: Option<u8>,
}

/// A MAINTAINERS section, as far as reports need it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Section {
    pub name: String,
    pub status: String,
    pub maintainers: Vec<String>,
    pub lists: Vec<String>,
    files: Vec<String>,
    excludes: Vec<String>,
    regexes: Vec<String>,
}

pub struct Scan {
    pub release: String,
    /// (ABI name, syscalls by number)
    pub abis: Vec<(&'static str, Vec<Found>)>,
    /// Only the sections some syscall or object table refers to.
    pub sections: Vec<Section>,
    pub objects: object_scan::ObjectScan,
    /// The section of every path the object tables name.
    pub object_sections: BTreeMap<String, Option<usize>>,
}

/// arm's private calls a header defines (`#define __ARM_NR_compat_set_tls
/// (__ARM_NR_COMPAT_BASE + 5)`): their offsets from the base, with their names. Only
/// those with a slot ([`wl_common::ARM_PRIVATE_COUNT`]) are kept.
pub fn private_calls(header: &str) -> Vec<(u32, String)> {
    let re = regex_lite::Regex::new(
        r"(?m)^#define\s+__ARM_NR_compat_(\w+)\s+\(__ARM_NR_COMPAT_BASE\s*\+\s*(\d+)\)",
    )
    .expect("a valid pattern");
    re.captures_iter(header)
        .filter_map(|c| Some((c[2].parse().ok()?, c[1].to_owned())))
        .filter(|&(n, _)| n < wl_common::ARM_PRIVATE_COUNT)
        .collect()
}

/// One row of a `syscall_*.tbl`.
#[derive(Debug, Clone, PartialEq)]
pub struct TblRow {
    pub nr: u32,
    pub name: String,
    /// The native entry point; empty when the row has none.
    pub entry: String,
    /// The entry point for 32-bit programs on a 64-bit kernel, where it differs.
    pub compat_entry: Option<String>,
}

/// The rows of a `syscall_*.tbl` whose ABI column is one of `abis`, by number.
pub fn parse_tbl(text: &str, abis: &[&str]) -> Result<Vec<TblRow>> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split_whitespace().collect();
        let [nr, abi, name, rest @ ..] = cols.as_slice() else {
            bail!(
                "line {}: expected 'nr abi name [entry [compat-entry]]'",
                i + 1
            );
        };
        if !abis.contains(abi) {
            continue;
        }
        let nr: u32 = nr
            .parse()
            .with_context(|| format!("line {}: bad number {nr}", i + 1))?;
        let entry = rest.first().map_or_else(String::new, |e| e.to_string());
        let compat = rest.get(1).filter(|e| **e != "-").map(|e| e.to_string());
        rows.push(TblRow {
            nr,
            name: name.to_string(),
            entry,
            compat_entry: compat,
        });
    }
    rows.sort_by_key(|r| r.nr);
    Ok(rows)
}

/// Whether a definition is of a native (`sys_`) or compat (`compat_sys_`) entry point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Native,
    Compat,
}

/// The C identifier at the start of `s`.
fn ident(s: &str) -> &str {
    &s[..s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len())]
}

/// The syscall definitions in one C file: (kind, name as in the macro).
pub fn definitions(text: &str) -> Vec<(bool, String)> {
    const MACROS: &[(&str, bool)] = &[
        ("SYSCALL_DEFINE", false),
        ("COMPAT_SYSCALL_DEFINE", true),
        ("SYSCALL32_DEFINE", true),
    ];
    let mut out = Vec::new();
    for line in text.lines() {
        for &(mac, compat) in MACROS {
            let Some(rest) = line.strip_prefix(mac) else {
                continue;
            };
            let Some(rest) = rest
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .strip_prefix('(')
            else {
                continue;
            };
            let name = ident(rest);
            if !name.is_empty() {
                out.push((compat, name.to_owned()));
            }
        }
        // kernel/sys_ni.c's weak fallbacks: `COND_SYSCALL(map_shadow_stack)` makes the
        // entry point sys_ni_syscall where no real definition is built.
        for (mac, compat) in [("COND_SYSCALL_COMPAT(", true), ("COND_SYSCALL(", false)] {
            if let Some(rest) = line.strip_prefix(mac) {
                let name = ident(rest);
                if !name.is_empty() {
                    out.push((compat, name.to_owned()));
                }
                break;
            }
        }
        // Plain definitions such as kernel/sys_ni.c's `asmlinkage long sys_ni_syscall(void)`.
        if let Some(rest) = line.strip_prefix("asmlinkage long ")
            && let Some(name) = rest
                .strip_prefix("compat_sys_")
                .or_else(|| rest.strip_prefix("sys_"))
        {
            let compat = rest.starts_with("compat_");
            let n = ident(name);
            if !n.is_empty() && name[n.len()..].starts_with('(') && !line.trim_end().ends_with(';')
            {
                out.push((compat, n.to_owned()));
            }
        }
    }
    out
}

/// A definition's parameters: (type, name).
pub type Params = Vec<(String, String)>;

/// The parameters of every syscall definition in one C file: (compat, name,
/// [(type, parameter name)]), for [`object_scan::fd_arg`].
pub fn definition_params(text: &str) -> Vec<(bool, String, Params)> {
    const MACROS: &[(&str, bool)] = &[
        ("SYSCALL_DEFINE", false),
        ("COMPAT_SYSCALL_DEFINE", true),
        ("SYSCALL32_DEFINE", true),
    ];
    let mut out = Vec::new();
    let mut offset = 0;
    for line in text.split('\n') {
        let start = offset;
        offset += line.len() + 1;
        for &(mac, compat) in MACROS {
            let Some(rest) = line.strip_prefix(mac) else {
                continue;
            };
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            if digits == 0 || !rest[digits..].starts_with('(') {
                continue;
            }
            let open = start + mac.len() + digits;
            let Some(close) = text[open..].find(')').map(|i| open + i) else {
                continue;
            };
            // Parameter types hold no parentheses, so the first ')' closes the list.
            let args: Vec<String> = text[open + 1..close]
                .split(',')
                .map(|a| a.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            let Some((name, params)) = args.split_first() else {
                continue;
            };
            if name.is_empty() || ident(name) != name {
                continue;
            }
            let pairs = params
                .chunks(2)
                .filter(|c| c.len() == 2)
                .map(|c| (c[0].clone(), c[1].clone()))
                .collect();
            out.push((compat, name.clone(), pairs));
        }
    }
    out
}

/// Directories never holding syscall code for the ABIs above.
pub fn skip_dir(rel: &str) -> bool {
    matches!(
        rel,
        "Documentation" | "tools" | "samples" | "scripts" | "usr" | "LICENSES" | ".git"
    ) || (rel.starts_with("arch/")
        && rel.matches('/').count() == 1
        && !ABIS.iter().any(|a| a.arch_dir.trim_end_matches('/') == rel))
        || rel == "arch/x86/um"
}

/// Each definition's fd argument, by (kind, name, file).
type FdArgs = HashMap<(Kind, String, String), Option<u8>>;
/// The files defining each (kind, name).
type DefinitionIndex = HashMap<(Kind, String), Vec<String>>;

/// Calls `visit` with the path (relative to `tree`) and text of every C file of the
/// tree wl reads: one walk serves the syscall and the object scans.
pub fn each_c_file(tree: &Path, mut visit: impl FnMut(&str, &str)) -> Result<()> {
    walk(tree, &skip_dir, &mut |rel, path| {
        if !rel.ends_with(".c") {
            return Ok(());
        }
        // A few sources carry Latin-1 bytes in comments.
        if let Some(bytes) = source::read(path)? {
            visit(rel, &String::from_utf8_lossy(&bytes));
        }
        Ok(())
    })
}

/// Calls `file` with the path of every regular file of `tree`, relative to it and
/// whole, in directories that `skip` (given their relative path) does not refuse.
pub fn walk(
    tree: &Path,
    skip: &dyn Fn(&str) -> bool,
    file: &mut dyn FnMut(&str, &Path) -> Result<()>,
) -> Result<()> {
    let mut todo = vec![String::new()];
    while let Some(rel) = todo.pop() {
        let dir = tree.join(&rel);
        for entry in fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let ft = entry.file_type()?;
            if ft.is_dir() {
                if !skip(&child) {
                    todo.push(child);
                }
            } else if ft.is_file() {
                file(&child, &entry.path())?;
            }
        }
    }
    Ok(())
}

/// Adds the syscall definitions of the C file `rel` to `index` and their fd arguments
/// to `fd_args`.
fn index_definitions(rel: &str, text: &str, index: &mut DefinitionIndex, fd_args: &mut FdArgs) {
    if !text.contains("SYSCALL") && !text.contains("asmlinkage long") {
        return;
    }
    for (compat, def) in definitions(text) {
        let kind = if compat { Kind::Compat } else { Kind::Native };
        index.entry((kind, def)).or_default().push(rel.to_owned());
    }
    for (compat, def, params) in definition_params(text) {
        let kind = if compat { Kind::Compat } else { Kind::Native };
        fd_args.insert((kind, def, rel.to_owned()), object_scan::fd_arg(&params));
    }
}

/// Puts each definition's files in the order the build prefers them.
fn order_definitions(index: &mut DefinitionIndex) {
    for files in index.values_mut() {
        // The MMU implementation before the no-MMU one, real code before stubs for
        // configurations without the feature (posix-stubs.c), real definitions before
        // sys_ni.c's fallbacks; then by path, for a stable order.
        files.sort_by_key(|f| {
            (
                f.contains("nommu") || f.contains("stubs"),
                f == "kernel/sys_ni.c",
                f.clone(),
            )
        });
        files.dedup();
    }
}

/// get_maintainer.pl's pattern match: a pattern ending in '/' matches everything below
/// it; any other matches files at the same depth, with `*` and `?` as wildcards.
pub fn file_matches(file: &str, pattern: &str) -> bool {
    if pattern.ends_with('/') {
        return glob_prefix(file, pattern);
    }
    file.matches('/').count() == pattern.matches('/').count() && glob_prefix(file, pattern)
}

/// Whether `pattern` (with `*`, `?`) matches a prefix of `text`, as the Perl regex
/// `^pattern` does: `*` may cross '/'.
fn glob_prefix(text: &str, pattern: &str) -> bool {
    let (t, p) = (text.as_bytes(), pattern.as_bytes());
    fn go(t: &[u8], p: &[u8]) -> bool {
        match p.split_first() {
            None => true,
            Some((b'*', rest)) => (0..=t.len()).any(|i| go(&t[i..], rest)),
            Some((b'?', rest)) => !t.is_empty() && go(&t[1..], rest),
            Some((c, rest)) => t.first() == Some(c) && go(&t[1..], rest),
        }
    }
    go(t, p)
}

/// get_maintainer.pl's specificity of a matched `F:` pattern: its depth in slashes, one
/// more for a file pattern.
fn pattern_depth(pattern: &str) -> i32 {
    if pattern.starts_with('*') {
        return -1;
    }
    pattern.matches('/').count() as i32 + i32::from(!pattern.ends_with('/'))
}

pub fn parse_maintainers(text: &str, tree: Option<&Path>) -> Vec<Section> {
    let mut sections = Vec::new();
    let mut cur: Option<Section> = None;
    // Sections are blocks of "X:\tvalue" lines under a title, between blank lines. The
    // introduction's paragraphs parse as sections without patterns, which match nothing.
    for line in text.lines() {
        let tagged =
            line.len() > 2 && line.as_bytes()[1] == b':' && line.as_bytes()[0].is_ascii_uppercase();
        if tagged {
            let Some(s) = cur.as_mut() else { continue };
            let value = line[2..].trim().to_string();
            match &line[..1] {
                "M" => s.maintainers.push(value),
                "L" => s.lists.push(value),
                "S" => s.status = value,
                "F" | "X" => {
                    let mut v = value;
                    if !v.ends_with('/') && tree.is_some_and(|t| t.join(&v).is_dir()) {
                        v.push('/');
                    }
                    if &line[..1] == "F" {
                        s.files.push(v)
                    } else {
                        s.excludes.push(v)
                    }
                }
                "N" => s.regexes.push(value),
                _ => {}
            }
        } else if line.trim().is_empty() {
            if let Some(s) = cur.take() {
                sections.push(s);
            }
        } else if cur.is_none() {
            cur = Some(Section {
                name: line.trim().to_string(),
                ..Section::default()
            });
        }
    }
    sections.extend(cur);
    sections
}

/// The most specific section for `file`, as get_maintainer.pl orders them.
pub fn section_for(
    sections: &[Section],
    regexes: &[Vec<regex_lite::Regex>],
    file: &str,
) -> Option<usize> {
    let mut best: Option<(i32, usize)> = None;
    for (i, s) in sections.iter().enumerate() {
        if s.excludes.iter().any(|x| file_matches(file, x)) {
            continue;
        }
        let mut depth = s
            .files
            .iter()
            .filter(|f| file_matches(file, f))
            .map(|f| pattern_depth(f))
            .max();
        if depth.is_none() && regexes[i].iter().any(|r| r.is_match(file)) {
            depth = Some(0);
        }
        if let Some(d) = depth
            && best.is_none_or(|(bd, _)| d > bd)
        {
            best = Some((d, i));
        }
    }
    best.map(|(_, i)| i)
}

/// The release a tree's top Makefile names (`6.12.117`).
pub fn kernel_release(makefile: &str) -> String {
    let field = |key: &str| {
        makefile
            .lines()
            .find_map(|l| {
                l.strip_prefix(key)?
                    .trim_start()
                    .strip_prefix('=')
                    .map(|v| v.trim().to_string())
            })
            .unwrap_or_default()
    };
    format!(
        "{}.{}.{}",
        field("VERSION"),
        field("PATCHLEVEL"),
        field("SUBLEVEL")
    )
}

/// Scans the tree at `tree`.
pub fn scan(tree: &Path) -> Result<Scan> {
    let read = |rel: &str| -> Result<String> {
        let p = tree.join(rel);
        let bytes = source::read(&p)?.with_context(|| format!("cannot read {}", p.display()))?;
        String::from_utf8(bytes).with_context(|| format!("{}: not UTF-8 text", p.display()))
    };
    let release = kernel_release(&read("Makefile").context("not a Linux source tree")?);
    // One walk of the tree for the syscall definitions and the object tables.
    let (mut index, mut fd_args) = (DefinitionIndex::new(), FdArgs::new());
    let mut objects = object_scan::Walker::new();
    each_c_file(tree, |rel, text| {
        index_definitions(rel, text, &mut index, &mut fd_args);
        objects.visit(rel, text);
    })?;
    order_definitions(&mut index);
    let all_sections = parse_maintainers(&read("MAINTAINERS")?, Some(tree));
    let regexes: Vec<Vec<regex_lite::Regex>> = all_sections
        .iter()
        .map(|s| {
            s.regexes
                .iter()
                .filter_map(|r| regex_lite::Regex::new(&format!("(?x){r}")).ok())
                .collect()
        })
        .collect();

    // Subsystem of a generic (non-arch) native definition, for arch wrappers.
    let generic_subsystem = |name: &str| -> Option<&'static str> {
        let files = index.get(&(Kind::Native, name.to_string()))?;
        let f = files
            .iter()
            .find(|f| !f.starts_with("arch/") && *f != "kernel/sys_ni.c")?;
        rules::subsystem_of_path(f)
    };

    let mut used: BTreeMap<usize, usize> = BTreeMap::new();
    let mut sections = Vec::new();
    let mut section_of = |file: &str| -> Option<usize> {
        let i = section_for(&all_sections, &regexes, file)?;
        Some(*used.entry(i).or_insert_with(|| {
            sections.push(all_sections[i].clone());
            sections.len() - 1
        }))
    };

    let mut abis = Vec::new();
    for spec in ABIS {
        let Ok(text) = read(spec.tbl) else {
            // Older trees keep some ABIs elsewhere; leave them out rather than guess.
            continue;
        };
        let mut found = Vec::new();
        for TblRow {
            nr,
            name,
            entry: native,
            compat_entry: compat,
        } in parse_tbl(&text, spec.abis)?
        {
            let entry = match (spec.compat, compat) {
                (true, Some(c)) => c,
                _ => native,
            };
            let (kind, def) = match entry.strip_prefix("compat_sys_") {
                Some(d) => (Kind::Compat, d.to_string()),
                None => (
                    Kind::Native,
                    entry.strip_prefix("sys_").unwrap_or(&entry).to_string(),
                ),
            };
            let candidates = index.get(&(kind, def.clone())).cloned().unwrap_or_default();
            let own_arch: Vec<String> = candidates
                .iter()
                .filter(|f| f.starts_with(spec.arch_dir))
                .cloned()
                .collect();
            let mut sources: Vec<String> = if own_arch.is_empty() {
                candidates
                    .into_iter()
                    .filter(|f| !f.starts_with("arch/"))
                    .collect()
            } else {
                own_arch
            };
            if sources.iter().any(|f| f != "kernel/sys_ni.c") {
                sources.retain(|f| f != "kernel/sys_ni.c");
            }
            // Where an arch has 32- and 64-bit variants (process_32.c, process_64.c), the
            // ABI's own comes first.
            let other_width = if spec.compat { "_64" } else { "_32" };
            sources.sort_by_key(|f| f.contains(other_width));
            let subsystem = match sources.first() {
                _ if entry == "sys_ni_syscall" || entry.is_empty() => rules::NOT_IMPLEMENTED,
                Some(f) => rules::subsystem_of(f, &def, generic_subsystem),
                None => rules::OTHER,
            };
            let section = sources.first().and_then(|f| section_of(f));
            let fd_arg = sources
                .first()
                .and_then(|f| fd_args.get(&(kind, def.clone(), f.clone())))
                .copied()
                .flatten();
            found.push(Found {
                nr,
                name,
                entry,
                sources,
                section,
                subsystem,
                hand_added: false,
                fd_arg,
            });
        }
        for &(nr, name, source, _) in AFTER_6_12 {
            if found.iter().all(|f| f.nr != nr) {
                found.push(Found {
                    nr,
                    name: name.to_string(),
                    entry: format!("sys_{name}"),
                    sources: vec![source.to_string()],
                    section: section_of(source),
                    subsystem: rules::subsystem_of_path(source).unwrap_or(rules::OTHER),
                    hand_added: true,
                    fd_arg: None,
                });
            }
        }
        if let Some((header, source)) = spec.private
            && let Ok(text) = read(header)
        {
            for (n, name) in private_calls(&text) {
                found.push(Found {
                    nr: wl_common::ARM_PRIVATE_BASE + n,
                    entry: "compat_arm_syscall".to_owned(),
                    sources: vec![source.to_owned()],
                    section: section_of(source),
                    subsystem: rules::subsystem_of(source, &name, |_| None),
                    hand_added: false,
                    fd_arg: None,
                    name,
                });
            }
        }
        found.sort_by_key(|f| f.nr);
        abis.push((spec.name, found));
    }
    if abis.is_empty() {
        bail!(
            "{} has none of the syscall tables wl knows ({})",
            tree.display(),
            ABIS.iter().map(|a| a.tbl).collect::<Vec<_>>().join(", ")
        );
    }
    let objects = object_scan::scan_objects(tree, objects)?;
    let object_sections = objects
        .paths()
        .into_iter()
        .map(|p| {
            let s = section_of(&p);
            (p, s)
        })
        .collect();
    Ok(Scan {
        release,
        abis,
        sections,
        objects,
        object_sections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// arm64's header names arm's private calls it serves; the end marker (+0x800) is
    /// no call, and nothing past the slots is kept.
    #[test]
    fn arm_private_calls_come_from_the_header() {
        let h = "#define __ARM_NR_COMPAT_BASE\t\t0x0f0000\n\
                 #define __ARM_NR_compat_cacheflush\t(__ARM_NR_COMPAT_BASE + 2)\n\
                 #define __ARM_NR_compat_set_tls\t\t(__ARM_NR_COMPAT_BASE + 5)\n\
                 #define __ARM_NR_COMPAT_END\t\t(__ARM_NR_COMPAT_BASE + 0x800)\n\
                 #define __ARM_NR_compat_far\t(__ARM_NR_COMPAT_BASE + 9)\n";
        assert_eq!(
            private_calls(h),
            [(2, "cacheflush".to_owned()), (5, "set_tls".to_owned())]
        );
    }

    #[test]
    fn finds_every_definition_macro() {
        let c = "SYSCALL_DEFINE0(getppid)\n{\nSYSCALL_DEFINE6(mmap, unsigned long, addr,\n\
                 COMPAT_SYSCALL_DEFINE3(open, const char __user *, filename,\n\
                 SYSCALL32_DEFINE0(sigreturn)\nasmlinkage long sys_ni_syscall(void)\n{\n\
                 asmlinkage long sys_decl_only(int);\n#define SYSCALL_DEFINE0(sname)\nCOND_SYSCALL(map_shadow_stack);\n";
        assert_eq!(
            definitions(c),
            [
                (false, "getppid".to_string()),
                (false, "mmap".to_string()),
                (true, "open".to_string()),
                (true, "sigreturn".to_string()),
                (false, "ni_syscall".to_string()),
                (false, "map_shadow_stack".to_string()),
            ]
        );
    }

    #[test]
    fn patterns_match_like_get_maintainer() {
        assert!(file_matches("kernel/futex/syscalls.c", "kernel/futex/"));
        assert!(file_matches("kernel/futex/sub/x.c", "kernel/futex/"));
        assert!(!file_matches("kernel/futexes.c", "kernel/futex/"));
        assert!(file_matches("kernel/sys.c", "kernel/sys.c"));
        assert!(file_matches("fs/open.c", "fs/*.c"));
        assert!(!file_matches("fs/ext4/inode.c", "fs/*.c"));
        assert!(file_matches("fs/xattr.c", "fs/x?ttr.c"));
        assert!(file_matches("anything/at/all.c", "*/"));
        assert!(!file_matches("kernel/sys.c", "*"));
        assert!(pattern_depth("kernel/futex/") > pattern_depth("kernel/"));
        assert!(pattern_depth("kernel/sys.c") > pattern_depth("kernel/"));
    }

    /// tests/fixtures/linux-mini: a few syscalls of each kind, definitions in generic,
    /// x86, other-arch and UML code, and a MAINTAINERS with F:, X:, N:, globs and
    /// nested directories.
    #[test]
    fn scans_the_fixture_tree() {
        let tree = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/linux-mini");
        let scan = scan(&tree).unwrap();
        assert_eq!(scan.release, "6.99.0");
        let abis: Vec<&str> = scan.abis.iter().map(|(a, _)| *a).collect();
        assert_eq!(abis, ["x86_64", "i386"], "no arm64 table in the fixture");
        let get = |abi: usize, name: &str| {
            scan.abis[abi]
                .1
                .iter()
                .find(|f| f.name == name)
                .unwrap()
                .clone()
        };
        let section = |f: &Found| f.section.map(|i| scan.sections[i].name.as_str());
        let check = |abi: usize,
                     name: &str,
                     entry: &str,
                     source: Option<&str>,
                     subsystem: &str,
                     sect: Option<&str>| {
            let f = get(abi, name);
            assert_eq!(
                (
                    f.entry.as_str(),
                    f.sources.first().map(String::as_str),
                    f.subsystem,
                    section(&f)
                ),
                (entry, source, subsystem, sect),
                "{} {name}",
                scan.abis[abi].0
            );
        };
        // Generic definitions, SYSCALL_DEFINE0 to 6.
        check(
            0,
            "getppid",
            "sys_getppid",
            Some("kernel/sys.c"),
            "Process Mgmt.",
            Some("THE REST"),
        );
        check(
            0,
            "umask",
            "sys_umask",
            Some("kernel/sys.c"),
            "Process Mgmt.",
            Some("THE REST"),
        );
        check(
            0,
            "open",
            "sys_open",
            Some("fs/open.c"),
            "Filesystem",
            Some("FILESYSTEMS (VFS)"),
        );
        check(
            0,
            "wait4",
            "sys_wait4",
            Some("kernel/exit.c"),
            "Process Mgmt.",
            Some("THE REST"),
        );
        // A glob at the same depth; X: takes the file out of the broader fs/ section.
        check(
            0,
            "pread64",
            "sys_pread64",
            Some("fs/read_write.c"),
            "Filesystem",
            Some("READ WRITE"),
        );
        check(
            0,
            "futex",
            "sys_futex",
            Some("kernel/futex/syscalls.c"),
            "Futex",
            Some("FUTEX SUBSYSTEM"),
        );
        // The file pattern mm/mmap.c is more specific than the directory mm (a directory
        // without its trailing slash, as get_maintainer.pl reads it); MMU before no-MMU.
        check(
            0,
            "munmap",
            "sys_munmap",
            Some("mm/mmap.c"),
            "Memory Mgmt.",
            Some("MEMORY MAPPING"),
        );
        assert_eq!(get(0, "munmap").sources, ["mm/mmap.c", "mm/nommu.c"]);
        // The arch's own definition, not sparc's nor UML's.
        check(
            0,
            "mmap",
            "sys_mmap",
            Some("arch/x86/kernel/sys_x86_64.c"),
            "Memory Mgmt.",
            Some("X86 ARCHITECTURE"),
        );
        assert_eq!(get(0, "mmap").sources.len(), 1);
        // Only sys_ni.c's fallback: not implemented, matched by an N: regex.
        check(
            0,
            "quotactl",
            "sys_quotactl",
            Some("kernel/sys_ni.c"),
            rules::NOT_IMPLEMENTED,
            Some("SYSCALL STUBS"),
        );
        check(0, "tuxcall", "", None, rules::NOT_IMPLEMENTED, None);
        assert!(
            scan.abis[0].1.iter().all(|f| f.name != "rt_sigaction"),
            "x32 rows are not x86_64's"
        );
        // Compat entry points for 32-bit programs.
        check(
            1,
            "open",
            "compat_sys_open",
            Some("fs/open.c"),
            "Filesystem",
            Some("FILESYSTEMS (VFS)"),
        );
        check(
            1,
            "mmap",
            "compat_sys_ia32_mmap",
            Some("arch/x86/kernel/sys_ia32.c"),
            "Memory Mgmt.",
            Some("X86 ARCHITECTURE"),
        );
        check(
            1,
            "pread64",
            "sys_ia32_pread64",
            Some("arch/x86/kernel/sys_ia32.c"),
            "Filesystem",
            Some("X86 ARCHITECTURE"),
        );
        check(
            1,
            "futex",
            "sys_futex_time32",
            Some("kernel/futex/syscalls.c"),
            "Futex",
            Some("FUTEX SUBSYSTEM"),
        );
        // Newer syscalls are added by hand, with their files' sections.
        let f = get(0, "file_setattr");
        assert!(f.hand_added && f.nr == 469 && f.sources == ["fs/file_attr.c"]);
        assert_eq!(section(&f), Some("FILESYSTEMS (VFS)"));
        let fs = &scan.sections[get(0, "open").section.unwrap()];
        assert_eq!(
            (
                fs.maintainers.as_slice(),
                fs.lists.as_slice(),
                fs.status.as_str()
            ),
            (
                &["Fs Person <fs@example.org>".to_string()][..],
                &["fsdevel@example.org".to_string()][..],
                "Maintained"
            )
        );
    }
}
