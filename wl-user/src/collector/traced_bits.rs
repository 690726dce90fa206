//! The kernel side's bitmap of traced processes (pid-tree filter), mapped into wl-user's
//! memory: wl-user sets the bit of each process it adds with an atomic OR, which cannot
//! undo the kernel side's concurrent atomic adds to other bits of the same word, as a
//! map update (read, modify, write back) could.

use std::{
    os::fd::{AsFd as _, AsRawFd as _},
    sync::atomic::{AtomicU64, Ordering},
};

use anyhow::{Context as _, Result, bail};
use aya::{Ebpf, maps::Map};
use wl_common::{TRACED_BITS_MAX_PIDS, names};

/// Words of the bitmap for this machine's `pid_max`, 64 pids each.
pub fn words() -> u32 {
    let pid_max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(TRACED_BITS_MAX_PIDS);
    pid_max.clamp(64, TRACED_BITS_MAX_PIDS).div_ceil(64)
}

pub struct TracedBits {
    words: *const AtomicU64,
    count: usize,
    len: usize,
}

// SAFETY: the mapping is shared memory used only through atomics, and lives until drop.
unsafe impl Send for TracedBits {}
// SAFETY: as above.
unsafe impl Sync for TracedBits {}

impl TracedBits {
    /// Maps the loaded bitmap of `count` words.
    pub fn map(ebpf: &Ebpf, count: u32) -> Result<TracedBits> {
        let Some(Map::Array(data)) = ebpf.map(names::TRACED_BITS) else {
            bail!("the eBPF object has no traced-pid bitmap");
        };
        let count = count as usize;
        let len = (count * 8).next_multiple_of(page_size());
        // SAFETY: a shared read-write mapping of the map's fd, of the array's size
        // rounded to pages, as the kernel allows for BPF_F_MMAPABLE arrays; checked below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                data.fd().as_fd().as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error())
                .context("cannot map the traced-pid bitmap");
        }
        Ok(TracedBits {
            words: ptr.cast(),
            count,
            len,
        })
    }

    /// Sets `tgid`'s bit; a tgid past the bitmap needs none (the kernel side asks its
    /// hash for those).
    pub fn set(&self, tgid: u32) {
        let word = tgid as usize / 64;
        if word < self.count {
            // SAFETY: `word` is within the mapping, whose words are 8-byte aligned.
            unsafe { &*self.words.add(word) }.fetch_or(1 << (tgid % 64), Ordering::SeqCst);
        }
    }
}

impl Drop for TracedBits {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `map`, not used after this.
        unsafe { libc::munmap(self.words.cast_mut().cast(), self.len) };
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
}
