//! `--format csv`: one row per syscall, every number and name the report has.

use std::io::Write;

use anyhow::Result;

use super::columns::{self, Column, Style, TaskLine, layout};
use super::{ObjectsShown, Report, render};

/// Writes `rows` as CSV under a header of the columns' keys.
pub fn rows<R>(
    report: &Report,
    columns: &[Column<R>],
    rows: &[R],
    out: &mut dyn Write,
) -> Result<()> {
    let columns = columns::shown(report, columns, rows, Style::Csv);
    let (header, body) = columns::cells(report, &columns, rows, Style::Csv);
    let mut w = render::csv_writer(out);
    w.write_record(header)?;
    for cells in body {
        w.write_record(cells)?;
    }
    w.flush()?;
    Ok(())
}

/// With object rows shown (`--objects`), each follows its syscall's row with `row` =
/// `object` and the syscall's identity repeated; sums over `row` = `syscall` count
/// every call once. With `--by`: one row per (task, syscall); `pid` and `tid` are
/// empty where they do not apply (commands; processes have no tid).
pub fn write(report: &Report, objects: ObjectsShown, out: &mut dyn Write) -> Result<()> {
    if let Some(blocks) = super::tasks::blocks(report) {
        let lines: Vec<TaskLine> = blocks
            .iter()
            .flat_map(|task| {
                task.syscalls
                    .iter()
                    .map(move |syscall| TaskLine { task, syscall })
            })
            .collect();
        return rows(report, &layout::task_csv(), &lines, out);
    }
    rows(
        report,
        &layout::csv(),
        &columns::lines(&report.syscalls, objects),
        out,
    )
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
            "x86_64,257,openat,10,3,90000,9000,1,90000,Filesystem,fs/open.c,sys_openat,FILESYSTEMS (VFS and infrastructure),syscall,,,,,0,0,ENOENT=3,"
        );
        // The columns added later come last, so that readers by position keep working.
        assert!(
            lines[0].ends_with(",handler,p50_ns,p99_ns,errnos,served_by"),
            "{text}"
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
            lines[2].ends_with(",object,file,ext4,,ext4_file_open,,,,"),
            "{text}"
        );
        assert!(lines[3].contains(",Network,net/socket.c,"), "{text}");
    }
}
