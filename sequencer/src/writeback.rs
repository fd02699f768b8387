//! Starting a file's writeback without waiting for it.
//!
//! Blocks are committed to redb without a sync and made durable by a synced commit every
//! few blocks (the checkpoint, see [`crate::store::BlockWriter::defer_sync`]). Left to the
//! kernel, the pages of those blocks stay dirty until the checkpoint's `fsync` writes all
//! of them at once; on this project's test VM one such sync of eight blocks took 1.3 s.
//! Starting the writeback after each block spreads the writes out, and the checkpoint waits
//! only for the last ones.
//!
//! std and rustix have no wrapper for `sync_file_range`, so this module calls libc's
//! (hence its `unsafe`).
#![allow(unsafe_code)]

use std::fs::File;

/// Asks the kernel to start writing `file`'s dirty pages to disk and returns without
/// waiting for them (`sync_file_range(SYNC_FILE_RANGE_WRITE)` over the whole file). Makes
/// nothing durable by itself. A no-op outside Linux.
pub(crate) fn start(file: &File) -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor belongs to `file`, which outlives the call; offset 0 and
        // length 0 mean the whole file; the call reads and writes no memory of ours.
        let rc =
            unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = file;
    Ok(())
}
