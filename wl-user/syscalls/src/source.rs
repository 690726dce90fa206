//! Reading the files of a kernel source tree, with a bound: `--kernel-src` may point
//! at the wrong place, and no file of a real tree comes near the limit.

use std::{fs, path::Path};

use anyhow::{Context as _, Result, bail};

/// The most one file of a source tree may hold: far more than any file of Linux, so
/// that `--kernel-src` pointed at the wrong place cannot fill the memory.
pub const LIMIT: u64 = 32 << 20;

/// File `path` of a source tree; None where it cannot be opened (absent, unreadable).
/// What is not a regular file (a FIFO would block) or is larger than [`LIMIT`]
/// is refused, naming the file.
pub fn read(path: &Path) -> Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let Ok(meta) = fs::metadata(path) else {
        return Ok(None);
    };
    if !meta.is_file() {
        bail!("{}: not a regular file", path.display());
    }
    let too_big = || {
        anyhow::anyhow!(
            "{}: larger than {} MiB, more than any source file",
            path.display(),
            LIMIT >> 20
        )
    };
    if meta.len() > LIMIT {
        return Err(too_big());
    }
    let Ok(file) = fs::File::open(path) else {
        return Ok(None);
    };
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(LIMIT + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if bytes.len() as u64 > LIMIT {
        return Err(too_big());
    }
    Ok(Some(bytes))
}
