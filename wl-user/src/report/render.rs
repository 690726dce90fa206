//! The pieces every output format shares, so that a syscall reads the same in a table,
//! a grid, Markdown, CSV and `wl-user syscalls`.

use std::io::Write;

use crate::syscalls::AbiName;

/// A syscall's name as rows show it: bare for the machine's own ABI, with the ABI
/// after it for another (`getppid [i386]`), since the same name is then a different
/// entry point with a different number.
pub fn syscall_label(name: &str, abi: AbiName) -> String {
    label_for(name, abi.as_str())
}

/// [`syscall_label`] for an ABI read from a report, which may be one this machine lacks.
pub fn label_for(name: &str, abi: &str) -> String {
    if abi == AbiName::native().as_str() {
        name.to_owned()
    } else {
        format!("{name} [{abi}]")
    }
}

/// `sys_getppid()`, as the workload-tracing guide writes the API column; `-` where no
/// entry point is known (a number the tables do not name, or one the kernel does not
/// implement).
pub fn api(entry: &str) -> String {
    if entry.is_empty() {
        "-".to_owned()
    } else {
        format!("{entry}()")
    }
}

/// A CSV writer (RFC 4180 quoting) over `out`.
pub fn csv_writer(out: &mut dyn Write) -> csv::Writer<&mut dyn Write> {
    csv::WriterBuilder::new().from_writer(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_quoting() {
        assert_eq!(syscall_label("getppid", AbiName::native()), "getppid");
        assert_eq!(syscall_label("getppid", AbiName::I386), "getppid [i386]");
        assert_eq!(api(""), "-");
        assert_eq!(api("sys_getppid"), "sys_getppid()");
        let mut buf = Vec::new();
        {
            let mut w = csv_writer(&mut buf);
            w.write_record(["a,\"b\"", "c"]).unwrap();
            w.flush().unwrap();
        }
        assert_eq!(String::from_utf8(buf).unwrap(), "\"a,\"\"b\"\"\",c\n");
    }
}
