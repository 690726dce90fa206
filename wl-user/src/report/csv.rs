//! `--format csv`: one row per syscall, every number and name the report has.

use std::io::Write;

use anyhow::Result;

use super::ObjectsShown;
use super::{Report, render};

/// With object rows shown (`--objects`), each follows its syscall's row with `row` =
/// `object` and the syscall's identity repeated; sums over `row` = `syscall` count
/// every call once.
pub fn write(report: &Report, objects: ObjectsShown, out: &mut dyn Write) -> Result<()> {
    if let Some(blocks) = super::tasks::blocks(report) {
        return write_tasks(&blocks, out);
    }
    let mut w = render::csv_writer(out);
    w.write_record([
        "abi",
        "nr",
        "name",
        "calls",
        "errors",
        "total_ns",
        "avg_ns",
        "min_ns",
        "max_ns",
        "subsystem",
        "source",
        "api",
        "maintainers",
        "row",
        "object_kind",
        "object",
        "command",
        "handler",
    ])?;
    for s in &report.syscalls {
        w.write_record([
            s.abi.as_str(),
            &s.nr.to_string(),
            &s.name,
            &s.counts.calls.to_string(),
            &s.counts.errors.to_string(),
            &s.counts.total_ns.to_string(),
            &s.avg_ns.to_string(),
            &s.min_ns.to_string(),
            &s.max_ns.to_string(),
            s.subsystem,
            s.source.unwrap_or_default(),
            &s.api,
            s.maintainers.unwrap_or_default(),
            "syscall",
            "",
            "",
            "",
            "",
        ])?;
        for o in super::objects::shown(s, objects) {
            let avg = o.counts.total_ns.checked_div(o.counts.calls).unwrap_or(0);
            w.write_record([
                s.abi.as_str(),
                &s.nr.to_string(),
                &s.name,
                &o.counts.calls.to_string(),
                &o.counts.errors.to_string(),
                &o.counts.total_ns.to_string(),
                &avg.to_string(),
                "",
                "",
                o.subsystem.unwrap_or(s.subsystem),
                o.source.as_deref().unwrap_or_default(),
                &s.api,
                o.maintainers.unwrap_or_default(),
                "object",
                o.kind,
                o.name.as_deref().unwrap_or_default(),
                o.command.as_deref().unwrap_or_default(),
                o.handler.as_deref().unwrap_or_default(),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}

/// With `--by`: one row per (task, syscall); `pid` and `tid` are empty where they do not
/// apply (commands; processes have no tid).
fn write_tasks(blocks: &[super::tasks::Block], out: &mut dyn Write) -> Result<()> {
    let mut w = render::csv_writer(out);
    w.write_record([
        "pid",
        "tid",
        "comm",
        "abi",
        "nr",
        "name",
        "calls",
        "errors",
        "total_ns",
        "subsystem",
    ])?;
    let id = |v: Option<u32>| v.map_or_else(String::new, |v| v.to_string());
    for b in blocks {
        for s in b.syscalls {
            w.write_record([
                &id(b.pid),
                &id(b.tid),
                b.comm,
                s.abi.as_str(),
                &s.nr.to_string(),
                &s.name,
                &s.counts.calls.to_string(),
                &s.counts.errors.to_string(),
                &s.counts.total_ns.to_string(),
                s.subsystem,
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_syscall() {
        let mut buf = Vec::new();
        write(&super::super::tests::sample(), ObjectsShown::Auto, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[1],
            "x86_64,257,openat,10,3,90000,9000,1,90000,Filesystem,fs/open.c,sys_openat,FILESYSTEMS (VFS and infrastructure),syscall,,,,"
        );
    }

    #[test]
    fn object_rows_follow_their_syscall() {
        let mut report = super::super::tests::sample();
        super::super::objects::tests::split_openat(&mut report);
        let mut buf = Vec::new();
        write(&report, ObjectsShown::Auto, &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 7, "{text}");
        assert!(lines[1].contains(",openat,10,3,"), "{text}");
        assert!(lines[2].starts_with("x86_64,257,openat,7,3,"), "{text}");
        assert!(
            lines[2].ends_with(",object,file,ext4,,ext4_file_open"),
            "{text}"
        );
        assert!(lines[3].contains(",Network,net/socket.c,"), "{text}");
    }
}
