//! Reading files with a bound. A name may point anywhere: at `/dev/zero` (endless), a
//! FIFO (blocks until someone writes), a directory, or a file far larger than any real
//! input. Each is refused for what it is before it can fill the memory or hang the
//! command; a regular file within the bound is read whole. wl-user reads every file a
//! user names through here (reports, profiles, its web config), and the scanner every
//! file of a kernel source tree (`--kernel-src` may point at the wrong place).

use std::{
    io::{ErrorKind, Read as _},
    os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _},
    path::Path,
};

use anyhow::{Result, bail};

/// The most one file of a source tree may hold: far more than any file of Linux.
pub const LIMIT: u64 = 32 << 20;

/// File `path` of a source tree; None where it cannot be opened (absent, unreadable:
/// an older or trimmed tree). What is not a regular file or is larger than [`LIMIT`]
/// is refused, naming the file.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>> {
    match read_bytes(path, LIMIT) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(Refused::Io(_)) => Ok(None),
        Err(e) => bail!("{}: {e}", path.display()),
    }
}

/// Why a file was not read, worded to follow its name: "FLAG PATH: REASON".
#[derive(Debug)]
pub enum Refused {
    /// open(2) or read(2) failed.
    Io(std::io::Error),
    /// A FIFO, socket, device or directory: named with what it is.
    NotRegular(&'static str),
    /// Larger than `limit` bytes.
    TooBig { limit: u64 },
    /// Not UTF-8 (text inputs only).
    NotText,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Io(e) if e.kind() == ErrorKind::NotFound => write!(f, "no such file"),
            Refused::Io(e) => write!(f, "{}", io_text(e)),
            Refused::NotRegular(kind) => write!(f, "a {kind}, not a regular file"),
            Refused::TooBig { limit } => {
                write!(
                    f,
                    "larger than the {} a file of this kind may be",
                    size(*limit)
                )
            }
            Refused::NotText => write!(f, "not UTF-8 text"),
        }
    }
}

impl std::error::Error for Refused {}

/// An io::Error's text without Rust's " (os error N)" tail.
fn io_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{} KiB", bytes >> 10)
    }
}

/// Reads the regular file `path` whole if it holds at most `limit` bytes.
pub fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, Refused> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. It
    // changes nothing for a regular file, the only kind read past this point.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(Refused::Io)?;
    let meta = file.metadata().map_err(Refused::Io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(Refused::NotRegular(if kind.is_dir() {
            "directory"
        } else if kind.is_fifo() {
            "FIFO"
        } else if kind.is_socket() {
            "socket"
        } else if kind.is_char_device() {
            "character device"
        } else if kind.is_block_device() {
            "block device"
        } else {
            "special file"
        }));
    }
    if meta.len() > limit {
        return Err(Refused::TooBig { limit });
    }
    // The size may have grown since (or be 0 for a file in /proc): the read itself is
    // bounded too, one byte past the limit to tell "exactly the limit" from "more".
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    let n = file
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(Refused::Io)?;
    if n as u64 > limit {
        return Err(Refused::TooBig { limit });
    }
    Ok(bytes)
}

/// [`read_bytes`], as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, Refused> {
    String::from_utf8(read_bytes(path, limit)?).map_err(|_| Refused::NotText)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("wl-source-{}-{name}", std::process::id()))
    }

    #[test]
    fn a_regular_file_within_the_limit_is_read_whole() {
        let p = scratch("ok");
        std::fs::write(&p, "0123456789").unwrap();
        assert_eq!(read_text(&p, 10).unwrap(), "0123456789");
        assert_eq!(
            read_text(&p, 9).unwrap_err().to_string(),
            "larger than the 0 KiB a file of this kind may be"
        );
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert_eq!(read_text(&p, 10).unwrap_err().to_string(), "not UTF-8 text");
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn what_is_not_a_regular_file_is_refused_for_what_it_is() {
        assert_eq!(
            read_bytes(Path::new("/dev/zero"), 1 << 20)
                .unwrap_err()
                .to_string(),
            "a character device, not a regular file"
        );
        assert_eq!(
            read_bytes(Path::new("/"), 1 << 20).unwrap_err().to_string(),
            "a directory, not a regular file"
        );
        assert_eq!(
            read_bytes(Path::new("/no/such/wl-file"), 1)
                .unwrap_err()
                .to_string(),
            "no such file"
        );
        // A FIFO with no writer: refused at once, not waited on.
        let fifo = scratch("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_bytes(&fifo, 1 << 20).unwrap_err().to_string();
        std::fs::remove_file(&fifo).unwrap();
        assert_eq!(e, "a FIFO, not a regular file");
    }

    #[test]
    fn a_file_larger_than_its_size_says_is_cut_at_the_limit() {
        // /proc files report a size of 0: the read is bounded all the same.
        let e = read_bytes(Path::new("/proc/self/maps"), 16).unwrap_err();
        assert!(matches!(e, Refused::TooBig { limit: 16 }), "{e}");
        // A sparse file of 1 TiB is refused from its size, without reading it.
        let p = scratch("sparse");
        std::fs::File::create(&p).unwrap().set_len(1 << 40).unwrap();
        let e = read_bytes(&p, 256 << 20).unwrap_err().to_string();
        std::fs::remove_file(&p).unwrap();
        assert_eq!(e, "larger than the 256 MiB a file of this kind may be");
    }
}
