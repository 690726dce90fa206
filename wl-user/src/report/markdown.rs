//! `--format md`: the report as Markdown tables, syscalls grouped by subsystem, then
//! subsystems.

use std::io::Write;

use anyhow::Result;

use super::ObjectsShown;
use super::{Report, render::api};

pub fn write(report: &Report, objects: ObjectsShown, out: &mut dyn Write) -> Result<()> {
    let share = |ns: u64| report.percent_of_time(ns);
    writeln!(
        out,
        "| System Call | ABI | # calls | # errors | % time | Linux Subsystem | System Call (API) | Source |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---|---|---|")?;
    for s in report.by_subsystem() {
        writeln!(
            out,
            "| {} | {} | {} | {} | {:.2} | {} | `{}` | {} |",
            s.name,
            s.abi.as_str(),
            s.counts.calls,
            s.counts.errors,
            share(s.counts.total_ns),
            s.subsystem,
            api(&s.api),
            s.source.map_or_else(String::new, |p| format!("`{p}`")),
        )?;
        for o in super::objects::shown(s, objects) {
            writeln!(
                out,
                "| ↳ {} |  | {} | {} | {:.2} | {} | {} | {} |",
                o.name.as_deref().unwrap_or(o.kind),
                o.counts.calls,
                o.counts.errors,
                share(o.counts.total_ns),
                o.subsystem.unwrap_or(s.subsystem),
                [o.command.as_deref(), o.handler.as_deref()]
                    .into_iter()
                    .flatten()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(" "),
                o.source
                    .as_deref()
                    .map_or_else(String::new, |p| format!("`{p}`")),
            )?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "| Linux Subsystem | # calls | # errors | % time | # syscalls |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|")?;
    for s in report.summary() {
        writeln!(
            out,
            "| {} | {} | {} | {:.2} | {} |",
            s.name,
            s.counts.calls,
            s.counts.errors,
            share(s.counts.total_ns),
            s.syscalls
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_tables() {
        let mut buf = Vec::new();
        write(&super::super::tests::sample(), ObjectsShown::Auto, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let tables: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[0].lines().count(), 2 + 4);
        assert!(
            tables[0].contains(
                "| openat | x86_64 | 10 | 3 | 64.05 | Filesystem | `sys_openat()` | `fs/open.c` |"
            ),
            "{text}"
        );
        assert!(
            tables[1].contains("| Process Mgmt. | 1005 | 0 | 35.94 | 2 |"),
            "{text}"
        );
    }
}
