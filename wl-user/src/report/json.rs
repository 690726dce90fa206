//! `--format json`: the [`Report`] as one JSON object. Field names are part of wl's
//! interface; add fields, do not rename them.

use std::io::Write;

use anyhow::Result;

use super::Report;

/// Indented, or on one line (`one_line`) where it is a line of JSON Lines.
pub fn write(report: &Report, one_line: bool, out: &mut dyn Write) -> Result<()> {
    // As an io::Error, so that a reader that went away (`| head`) is seen as one.
    if one_line {
        serde_json::to_writer(&mut *out, report)
    } else {
        serde_json::to_writer_pretty(&mut *out, report)
    }
    .map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_the_documented_fields() {
        let mut buf = Vec::new();
        write(&super::super::tests::sample(), false, &mut buf).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&buf).unwrap();
        assert_eq!(v["target"]["command"][0], "true");
        assert_eq!(v["exit_status"], 0);
        assert!(v["kernel"]["release"].is_string());
        assert_eq!(v["lost"]["no_task_slot"], 0);
        let open = &v["syscalls"][0];
        assert_eq!(open["name"], "openat");
        assert_eq!(open["nr"], 257);
        assert_eq!(open["abi"], "x86_64");
        assert_eq!(open["calls"], 10);
        assert_eq!(open["errors"], 3);
        assert_eq!(open["errno"]["ENOENT"], 3);
        assert_eq!(open["total_ns"], 90_000);
        assert_eq!(open["min_ns"], 1);
        assert_eq!(open["max_ns"], 90_000);
        assert_eq!(v["syscalls"][2]["abi"], "i386");
        assert_eq!(v["syscalls"][3]["name"], "syscall_500");
    }
}
