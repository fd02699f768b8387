//! Starting a file's writeback without waiting for it.
//!
//! Blocks are committed to redb without a sync and made durable by a synced commit every
//! few blocks (the checkpoint, see [`crate::store::BlockWriter::defer_sync`]). Left to the
//! kernel (30 s before dirty pages expire, or 10% of memory), the pages of those blocks
//! would stay dirty until the checkpoint's `fsync` wrote all of them at once, a burst
//! that the write-ahead log's own syncs (`wal.durability = "fsync"`) would queue behind.
//! Starting the writeback after each block keeps the disk writes spread over the blocks,
//! as when every block was synced, without waiting for them.
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
