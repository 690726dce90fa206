//! `--format csv`: one row per syscall, every number and name the report has.

use std::io::Write;

use anyhow::Result;

use super::Report;

/// Quotes a field if it needs it (RFC 4180).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

pub fn write(report: &Report, out: &mut dyn Write) -> Result<()> {
    writeln!(
        out,
        "abi,nr,name,calls,errors,total_ns,avg_ns,min_ns,max_ns,subsystem,source,api,maintainers"
    )?;
    for s in &report.syscalls {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            s.abi.as_str(),
            s.nr,
            field(&s.name),
            s.calls,
            s.errors,
            s.total_ns,
            s.avg_ns,
            s.min_ns,
            s.max_ns,
            field(s.subsystem),
            field(s.source.unwrap_or_default()),
            field(&s.api),
            field(s.maintainers.unwrap_or_default()),
        )?;
    }
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
        assert_eq!(field("a,\"b\""), "\"a,\"\"b\"\"\"");
    }
}
