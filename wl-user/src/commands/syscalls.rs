//! `wl-user syscalls [NAME]`: the syscall knowledge itself, without tracing anything.

use std::io::Write;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::{
    cli::{ListFormat, SyscallsArgs},
    report::render,
    syscalls::{AbiName, Knowledge, Syscall, objects, select},
};

#[derive(Serialize)]
struct Row {
    name: &'static str,
    nr: u32,
    abi: AbiName,
    entry: &'static str,
    source: Option<&'static str>,
    /// All files with a definition, the one used first.
    sources: &'static [&'static str],
    maintainers: Option<&'static str>,
    subsystem: &'static str,
    hand_added: bool,
    /// The argument (0-based) holding the file descriptor the call operates on.
    fd_arg: Option<u8>,
}

fn row(k: &Knowledge, abi: AbiName, s: &'static Syscall) -> Row {
    Row {
        name: s.name,
        nr: s.nr,
        abi,
        entry: s.entry,
        source: s.sources.first().copied(),
        sources: s.sources,
        maintainers: k.section(s).map(|sec| sec.name),
        subsystem: s.subsystem,
        hand_added: s.hand_added,
        fd_arg: objects::fd_arg(k, abi, s.name),
    }
}

pub fn syscalls(args: SyscallsArgs, k: &Knowledge) -> Result<()> {
    let abis: Vec<AbiName> = match args.arch {
        Some(a) => vec![a],
        None if args.name.is_some() => AbiName::ALL.to_vec(),
        None => vec![AbiName::native()],
    };
    // A number names the syscall of that number in each ABI.
    let number = args
        .name
        .as_deref()
        .and_then(|n| n.trim().parse::<u32>().ok());
    let wanted = |s: &Syscall| match (args.name.as_deref(), number) {
        (_, Some(nr)) => s.nr == nr,
        (Some(name), None) => s.name == name,
        (None, None) => true,
    };
    let rows: Vec<Row> = abis
        .iter()
        .flat_map(|&abi| k.table(abi).iter().map(move |s| (abi, s)))
        .filter(|(_, s)| wanted(s))
        .map(|(abi, s)| row(k, abi, s))
        .collect();
    if rows.is_empty() {
        let Some(name) = &args.name else {
            bail!("no {} syscall table in {}", abis[0].as_str(), k.origin);
        };
        // Not a syscall: perhaps a command one carries (SIOCGIFCONF, F_GETFL, ...).
        let commands = objects::find_command(k, name);
        if !commands.is_empty() {
            return reader_gone_is_fine(write_commands(args.format, &commands));
        }
        let abi_names = abis
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        if let Some(nr) = number {
            bail!(
                "no syscall number {nr} in the {abi_names} tables (Linux {})",
                k.release
            );
        }
        let names = abis
            .iter()
            .flat_map(|&abi| k.table(abi).iter().map(|s| s.name))
            .chain(objects::command_names(k.objects));
        let near = select::nearest(name, names);
        bail!(
            "no syscall or command named '{name}' in the {abi_names} tables (Linux {}); `wl-user syscalls` lists them{}",
            k.release,
            select::did_you_mean(&near)
        );
    }
    let mut out = std::io::stdout().lock();
    let result = match (args.format, &args.name) {
        (ListFormat::Json, _) => serde_json::to_writer_pretty(&mut out, &rows)
            .map_err(Into::into)
            .and_then(|()| Ok(writeln!(out)?)),
        (ListFormat::Csv, _) => write_csv(&mut out, &rows),
        (ListFormat::Table, Some(_)) => explain(&mut out, k, &rows),
        (ListFormat::Table, None) => write_table(&mut out, k, &rows),
    };
    reader_gone_is_fine(result)
}

/// A reader that went away (`| head`) wanted no more: not an error.
fn reader_gone_is_fine(result: Result<()>) -> Result<()> {
    match result {
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            Ok(())
        }
        r => r,
    }
}

/// Commands found by name, in `format`.
fn write_commands(format: ListFormat, commands: &[objects::NamedCommand]) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut out, commands)?;
            writeln!(out)?;
        }
        ListFormat::Csv => {
            let mut w = render::csv_writer(&mut out);
            w.write_record(["name", "carried_by", "role", "value", "header"])?;
            for c in commands {
                w.write_record([
                    c.name,
                    c.carried_by,
                    &c.role,
                    &c.value,
                    c.header.unwrap_or_default(),
                ])?;
            }
            w.flush()?;
        }
        ListFormat::Table => {
            writeln!(out, "{}", commands[0].name)?;
            for c in commands {
                writeln!(
                    out,
                    "  {} {} {}{}",
                    c.carried_by,
                    c.role,
                    c.value,
                    c.header
                        .map_or_else(String::new, |h| format!(", defined in {h}"))
                )?;
                if let Some(m) = c.header_maintainers {
                    writeln!(out, "    header maintained by {m}")?;
                }
                for s in &c.served_in {
                    writeln!(
                        out,
                        "    served in {} ({}{})",
                        s.function,
                        s.file,
                        s.maintainers.map_or_else(String::new, |m| format!(", {m}"))
                    )?;
                }
            }
            if commands.iter().any(|c| c.carried_by == "ioctl") {
                writeln!(
                    out,
                    "  Which kernel function serves an ioctl depends on the file it is made on: \
                     `sudo wl-user run --objects all -- COMMAND` names the handler, its source \
                     file and maintainers for each call."
                )?;
            } else {
                writeln!(
                    out,
                    "  `wl-user syscalls {}` says where the kernel implements it.",
                    commands[0].carried_by.split(',').next().unwrap_or_default()
                )?;
            }
        }
    }
    Ok(())
}

fn write_table(out: &mut dyn Write, k: &Knowledge, rows: &[Row]) -> Result<()> {
    writeln!(
        out,
        "{:>4} {:<24} {:<32} {:<16} {:<36} maintainers",
        "nr", "name", "entry", "subsystem", "source"
    )?;
    for r in rows {
        let name = if r.hand_added {
            format!("{}*", r.name)
        } else {
            r.name.to_owned()
        };
        writeln!(
            out,
            "{:>4} {name:<24} {:<32} {:<16} {:<36} {}",
            r.nr,
            r.entry,
            r.subsystem,
            r.source.unwrap_or("-"),
            r.maintainers.unwrap_or("-")
        )?;
    }
    if rows.iter().any(|r| r.hand_added) {
        writeln!(
            out,
            "* newer than the Linux {} tree the table was generated from; added by hand",
            k.release
        )?;
    }
    Ok(())
}

fn write_csv(out: &mut dyn Write, rows: &[Row]) -> Result<()> {
    let mut w = render::csv_writer(out);
    w.write_record([
        "abi",
        "nr",
        "name",
        "entry",
        "subsystem",
        "source",
        "maintainers",
    ])?;
    for r in rows {
        w.write_record([
            r.abi.as_str(),
            &r.nr.to_string(),
            r.name,
            r.entry,
            r.subsystem,
            r.source.unwrap_or_default(),
            r.maintainers.unwrap_or_default(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

fn explain(out: &mut dyn Write, k: &Knowledge, rows: &[Row]) -> Result<()> {
    // One name in every ABI, or (asked by number) a different syscall in each.
    let one_name = rows.iter().all(|r| r.name == rows[0].name);
    if one_name {
        writeln!(out, "{}", rows[0].name)?;
    } else {
        writeln!(out, "syscall number {}", rows[0].nr)?;
    }
    for r in rows {
        writeln!(
            out,
            "  {:<8} nr {:<4} {}{}  ({})",
            r.abi.as_str(),
            r.nr,
            if one_name {
                String::new()
            } else {
                format!("{}: ", r.name)
            },
            if r.entry.is_empty() {
                "not implemented"
            } else {
                r.entry
            },
            r.subsystem
        )?;
        if let Some(a) = r.fd_arg {
            writeln!(out, "  {:<8} fd     argument {a}", "")?;
        }
        for (i, src) in r.sources.iter().enumerate() {
            writeln!(
                out,
                "  {:<8} {} {src}",
                "",
                if i == 0 { "source" } else { "  also" }
            )?;
        }
    }
    let mut seen = Vec::new();
    for r in rows {
        let Some(s) = k
            .table(r.abi)
            .iter()
            .find(|s| s.nr == r.nr)
            .and_then(|s| k.section(s))
        else {
            continue;
        };
        if seen.contains(&s.name) {
            continue;
        }
        seen.push(s.name);
        writeln!(
            out,
            "MAINTAINERS: {}{}",
            s.name,
            if s.status.is_empty() {
                String::new()
            } else {
                format!(" ({})", s.status)
            }
        )?;
        for m in s.maintainers {
            writeln!(out, "  M: {m}")?;
        }
        for l in s.lists {
            writeln!(out, "  L: {l}")?;
        }
    }
    if rows[0].name == "ioctl" {
        write_ioctl_families(out, k)?;
    }
    writeln!(out, "(tables from Linux {}, {})", k.release, k.origin)?;
    Ok(())
}

/// The ioctl requests the tables name, one line per type byte: the first argument of
/// `_IOR('T', ...)`, under which plain numbers like TCGETS (0x5401) fall too.
fn write_ioctl_families(out: &mut dyn Write, k: &Knowledge) -> Result<()> {
    let families = objects::ioctl_families(k.objects);
    let total: usize = families.iter().map(|f| f.commands).sum();
    writeln!(
        out,
        "ioctl commands: {total} named, in {} type families (a request is matched by \
         direction, type and number; the size is not checked)",
        families.len()
    )?;
    writeln!(out, "  {:<6} {:>8}  headers", "type", "commands")?;
    for f in &families {
        let ty = if f.type_byte.is_ascii_graphic() {
            format!("'{}'", f.type_byte as char)
        } else {
            format!("{:#04x}", f.type_byte)
        };
        let headers: Vec<&str> = f
            .headers
            .iter()
            .map(|h| h.strip_prefix("include/uapi/").unwrap_or(h))
            .collect();
        writeln!(out, "  {ty:<6} {:>8}  {}", f.commands, headers.join(", "))?;
    }
    Ok(())
}
