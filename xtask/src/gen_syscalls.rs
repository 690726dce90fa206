//! `cargo xtask gen-syscalls`: writes wl-user's syscall table from a Linux source tree.
//!
//! Reads `arch/x86/entry/syscalls/syscall_{64,32}.tbl` (number, ABI, name, entry point,
//! compat entry point) and the kernel's errno headers, adds the syscalls that appeared
//! after that tree's release by hand (marked as such), and writes
//! `wl-user/src/syscalls/generated.rs`.

use std::{collections::BTreeMap, fmt::Write as _, fs, path::Path};

use anyhow::{Context as _, Result, bail};

/// One row of the generated table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub nr: u32,
    pub name: String,
    /// The function the kernel dispatches to for this ABI; empty when unimplemented.
    pub entry: String,
    pub hand_added: bool,
}

/// Syscalls newer than Debian's linux-source-6.12, up to Linux 6.18:
/// (nr, name, since). Their numbers and entry points are the same in the x86_64 and
/// i386 tables (the unified numbering used since 424).
const AFTER_6_12: &[(u32, &str, &str)] = &[
    (463, "setxattrat", "6.13"),
    (464, "getxattrat", "6.13"),
    (465, "listxattrat", "6.13"),
    (466, "removexattrat", "6.13"),
    (467, "open_tree_attr", "6.15"),
    (468, "file_getattr", "6.17"),
    (469, "file_setattr", "6.17"),
];

/// Parses a `syscall_*.tbl`, keeping the rows whose ABI column is in `abis`. For a
/// 64-bit kernel running 32-bit code, `compat` picks the compat entry point when a row
/// has one.
pub fn parse_tbl(text: &str, abis: &[&str], compat: bool) -> Result<Vec<Row>> {
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
        let native = rest.first().copied().unwrap_or_default();
        let compat_entry = rest.get(1).copied().filter(|e| *e != "-");
        let entry = match (compat, compat_entry) {
            (true, Some(c)) => c,
            _ => native,
        };
        rows.push(Row {
            nr,
            name: name.to_string(),
            entry: entry.to_string(),
            hand_added: false,
        });
    }
    rows.sort_by_key(|r| r.nr);
    Ok(rows)
}

fn add_newer(rows: &mut Vec<Row>) {
    for &(nr, name, _) in AFTER_6_12 {
        if rows.iter().all(|r| r.nr != nr) {
            rows.push(Row {
                nr,
                name: name.to_string(),
                entry: format!("sys_{name}"),
                hand_added: true,
            });
        }
    }
    rows.sort_by_key(|r| r.nr);
}

/// `#define ENAME number` lines of the errno headers.
pub fn parse_errnos(text: &str) -> BTreeMap<u32, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(value)) = (words.next(), words.next()) else {
            continue;
        };
        if let (true, Ok(n)) = (name.starts_with('E'), value.parse::<u32>()) {
            // Aliases (EWOULDBLOCK = EAGAIN) refer by name and do not parse as numbers.
            out.entry(n).or_insert_with(|| name.to_string());
        }
    }
    out
}

fn write_table(out: &mut String, name: &str, doc: &str, rows: &[Row]) {
    writeln!(out, "/// {doc}").unwrap();
    writeln!(out, "pub static {name}: &[Syscall] = &[").unwrap();
    for r in rows {
        writeln!(
            out,
            "    Syscall {{ nr: {}, name: {:?}, entry: {:?}, hand_added: {} }},",
            r.nr, r.name, r.entry, r.hand_added
        )
        .unwrap();
    }
    writeln!(out, "];\n").unwrap();
}

pub fn run(kernel_src: &Path, out_path: &Path) -> Result<()> {
    let read = |rel: &str| {
        let p = kernel_src.join(rel);
        fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))
    };
    let version = kernel_version(&read("Makefile")?);
    let mut x86_64 = parse_tbl(
        &read("arch/x86/entry/syscalls/syscall_64.tbl")?,
        &["common", "64"],
        false,
    )?;
    let mut i386 = parse_tbl(
        &read("arch/x86/entry/syscalls/syscall_32.tbl")?,
        &["i386"],
        true,
    )?;
    add_newer(&mut x86_64);
    add_newer(&mut i386);
    let mut errnos = parse_errnos(&read("include/uapi/asm-generic/errno-base.h")?);
    errnos.extend(parse_errnos(&read("include/uapi/asm-generic/errno.h")?));
    // Kernel-internal restart codes a tracer sees at sys_exit (include/linux/errno.h).
    errnos.extend(parse_errnos(&read("include/linux/errno.h")?));

    let mut out = String::new();
    writeln!(
        out,
        "// @generated by `cargo xtask gen-syscalls --kernel-src <linux tree>` from Linux {version}"
    )
    .unwrap();
    writeln!(
        out,
        "// (Debian: apt-get install linux-source-6.12; tar xf /usr/src/linux-source-6.12.tar.xz)."
    )
    .unwrap();
    writeln!(
        out,
        "// Do not edit: change xtask/src/gen_syscalls.rs and regenerate."
    )
    .unwrap();
    writeln!(
        out,
        "// Rows with hand_added: true are newer than that tree and listed in the generator.\n"
    )
    .unwrap();
    writeln!(out, "use super::Syscall;\n").unwrap();
    write_table(
        &mut out,
        "X86_64",
        "x86_64's own ABI (syscall_64.tbl, 'common' and '64' rows).",
        &x86_64,
    );
    write_table(
        &mut out,
        "I386",
        "32-bit programs on x86_64 (syscall_32.tbl, compat entry points).",
        &i386,
    );
    writeln!(
        out,
        "/// Error numbers and their names (asm-generic errno headers, include/linux/errno.h)."
    )
    .unwrap();
    writeln!(out, "pub static ERRNO_NAMES: &[(u32, &str)] = &[").unwrap();
    for (n, name) in &errnos {
        writeln!(out, "    ({n}, {name:?}),").unwrap();
    }
    writeln!(out, "];").unwrap();
    fs::write(out_path, out).with_context(|| format!("cannot write {}", out_path.display()))?;
    println!(
        "wrote {}: {} x86_64 and {} i386 syscalls, {} errno names, from Linux {version}",
        out_path.display(),
        x86_64.len(),
        i386.len(),
        errnos.len()
    );
    Ok(())
}

fn kernel_version(makefile: &str) -> String {
    let field = |key: &str| {
        makefile
            .lines()
            .find_map(|l| {
                l.strip_prefix(key)
                    .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    const TBL: &str = "\
# comment line
0\tcommon\tread\t\t\tsys_read
1\t64\twrite\t\t\tsys_write
2\tx32\tnotmine\t\t\tsys_x
5\ti386\topen\t\t\tsys_open\t\t\tcompat_sys_open
60\tcommon\texit\t\t\tsys_exit\t\t\t-\t\t\tnoreturn
17\ti386\tbreak
";

    #[test]
    fn picks_rows_by_abi_and_entry_by_compat() {
        let rows = parse_tbl(TBL, &["common", "64"], false).unwrap();
        let names: Vec<_> = rows
            .iter()
            .map(|r| (r.nr, r.name.as_str(), r.entry.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (0, "read", "sys_read"),
                (1, "write", "sys_write"),
                (60, "exit", "sys_exit")
            ]
        );
        let i386 = parse_tbl(TBL, &["i386"], true).unwrap();
        assert_eq!(i386[0].entry, "compat_sys_open");
        assert_eq!(
            (i386[1].name.as_str(), i386[1].entry.as_str()),
            ("break", "")
        );
    }

    #[test]
    fn newer_syscalls_fill_gaps_only() {
        let mut rows = vec![Row {
            nr: 463,
            name: "x".into(),
            entry: "sys_x".into(),
            hand_added: false,
        }];
        add_newer(&mut rows);
        assert_eq!(rows[0].name, "x");
        assert!(
            rows.iter()
                .any(|r| r.name == "file_setattr" && r.nr == 469 && r.hand_added)
        );
    }

    #[test]
    fn errno_aliases_do_not_replace_names() {
        let m = parse_errnos(
            "#define\tEAGAIN\t11\n#define EWOULDBLOCK EAGAIN\n#define ENOENT 2 /* x */\n",
        );
        assert_eq!(m.get(&11).map(String::as_str), Some("EAGAIN"));
        assert_eq!(m.get(&2).map(String::as_str), Some("ENOENT"));
        assert_eq!(m.len(), 2);
    }
}
