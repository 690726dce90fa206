//! `--format csv`: one row per syscall, every number and name the report has.

use std::io::Write;

use anyhow::Result;

use super::{Report, render};

pub fn write(report: &Report, out: &mut dyn Write) -> Result<()> {
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
    ])?;
    for s in &report.syscalls {
        w.write_record([
            s.abi.as_str(),
            &s.nr.to_string(),
            &s.name,
            &s.calls.to_string(),
            &s.errors.to_string(),
            &s.total_ns.to_string(),
            &s.avg_ns.to_string(),
            &s.min_ns.to_string(),
            &s.max_ns.to_string(),
            s.subsystem,
            s.source.unwrap_or_default(),
            &s.api,
            s.maintainers.unwrap_or_default(),
        ])?;
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
                &s.calls.to_string(),
                &s.errors.to_string(),
                &s.total_ns.to_string(),
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
        write(&super::super::tests::sample(), &mut buf).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(
            lines[1],
            "x86_64,257,openat,10,3,90000,9000,1,90000,Filesystem,fs/open.c,sys_openat,FILESYSTEMS (VFS and infrastructure)"
        );
    }
}
