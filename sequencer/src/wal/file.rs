//! Writing log bytes to a segment file: through io_uring, or with plain system calls.
//!
//! Both append one contiguous buffer (a whole group-commit batch) at the end of the
//! segment and, in `fsync` durability, make it durable with `fdatasync` before
//! returning. io_uring submits the write and the data sync as one linked chain (the sync
//! starts only once the write completed), so a batch costs one `io_uring_enter`; the
//! plain writer costs a `pwrite` and an `fdatasync`. Which one measures better is in
//! `docs/benchmarks.md` (`cargo bench -p peregrine-sequencer --bench wal`).
//!
//! `O_DIRECT | O_DSYNC` was not chosen: O_DIRECT needs block-aligned buffers and offsets,
//! so every small batch would be padded to 4 KiB and rewritten at the same offset, and
//! the measured `fdatasync` after a page-cache write already costs one device flush.

#![allow(unsafe_code)]

use super::config::WalBackend;
use io_uring::{IoUring, Probe, opcode, squeue, types};
use std::{fs::File, io, os::fd::AsRawFd, os::unix::fs::FileExt, path::Path};

/// Set to `1` to make `auto` behave as if the kernel refused io_uring (for testing the
/// fallback path on a kernel that has it).
pub const NO_IO_URING_ENV: &str = "PEREGRINE_NO_IO_URING";

/// Submission queue entries: a write and its linked sync.
const RING_ENTRIES: u32 = 8;

/// The backend that actually writes (after `auto` was resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveBackend {
    /// io_uring, on the log thread.
    IoUring,
    /// `pwrite` + `fdatasync`.
    Plain,
}

impl ActiveBackend {
    /// Metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IoUring => "io_uring",
            Self::Plain => "plain",
        }
    }
}

/// Appends batches to segment files.
pub struct Writer {
    ring: Option<IoUring>,
    /// Tags each io_uring chain's completions (see `run_chain`).
    tag: u64,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("backend", &self.backend())
            .finish()
    }
}

/// Sets up an io_uring that supports what the log needs, or says why not.
fn probe_io_uring() -> Result<IoUring, String> {
    if std::env::var(NO_IO_URING_ENV).is_ok_and(|v| v == "1") {
        return Err(format!("disabled by {NO_IO_URING_ENV}=1"));
    }
    let ring = IoUring::new(RING_ENTRIES).map_err(|e| format!("io_uring_setup: {e}"))?;
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| format!("io_uring probe: {e}"))?;
    for (name, code) in [
        ("write", opcode::Write::CODE),
        ("fsync", opcode::Fsync::CODE),
    ] {
        if !probe.is_supported(code) {
            return Err(format!("the kernel's io_uring lacks the {name} operation"));
        }
    }
    Ok(ring)
}

impl Writer {
    /// Resolves `requested`: `auto` falls back to the plain writer, with one warning, when
    /// io_uring cannot be set up; `io-uring` fails instead.
    pub fn new(requested: WalBackend) -> Result<Self, String> {
        let ring = match requested {
            WalBackend::Plain => None,
            WalBackend::IoUring => Some(probe_io_uring()?),
            WalBackend::Auto => match probe_io_uring() {
                Ok(ring) => Some(ring),
                Err(why) => {
                    tracing::warn!(%why, "io_uring is unavailable; the write-ahead log uses the plain writer");
                    None
                }
            },
        };
        Ok(Self { ring, tag: 0 })
    }

    /// Writes and syncs a scratch file in `dir` through this writer, so a filesystem
    /// where io_uring's write or sync fails (some FUSE or overlay set-ups) is found at
    /// start-up, not at the first promise. With `auto`, such a failure switches to the
    /// plain writer (logged once); otherwise it is an error.
    pub fn self_test(&mut self, dir: &Path, requested: WalBackend) -> Result<(), String> {
        let path = dir.join(".write-test");
        let attempt = |w: &mut Self| -> io::Result<()> {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)?;
            w.append(&file, 0, b"peregrine write-ahead log write test", true)?;
            std::fs::remove_file(&path)
        };
        match attempt(self) {
            Ok(()) => Ok(()),
            Err(e) if self.ring.is_some() && requested == WalBackend::Auto => {
                tracing::warn!(error = %e, dir = %dir.display(), "io_uring cannot write the log directory; the write-ahead log uses the plain writer");
                self.ring = None;
                attempt(self).map_err(|e| format!("test write in {}: {e}", dir.display()))
            }
            Err(e) => Err(format!("test write in {}: {e}", dir.display())),
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> ActiveBackend {
        if self.ring.is_some() {
            ActiveBackend::IoUring
        } else {
            ActiveBackend::Plain
        }
    }

    /// Writes `buf` at `offset` of `file`, then, when `sync`, waits for it to be durable.
    pub fn append(&mut self, file: &File, offset: u64, buf: &[u8], sync: bool) -> io::Result<()> {
        match &mut self.ring {
            None => {
                file.write_all_at(buf, offset)?;
                if sync {
                    file.sync_data()?;
                }
                Ok(())
            }
            Some(ring) => uring_append(ring, &mut self.tag, file, offset, buf, sync),
        }
    }

    /// Makes everything written to `file` durable.
    pub fn sync(&mut self, file: &File) -> io::Result<()> {
        match &mut self.ring {
            None => file.sync_data(),
            Some(ring) => uring_append(ring, &mut self.tag, file, 0, &[], true),
        }
    }
}

/// Submits one chain (a write, its linked sync, or both) and waits until every entry of
/// it has completed; returns (bytes written, sync result). Completions are matched by
/// `user_data`, which is unique per chain (`tag`), so nothing of an earlier chain can be
/// taken for this one. `submit_and_wait` may return early (a signal interrupts the wait):
/// it is called again until all completions are in (I1: the buffer outlives the chain).
fn run_chain(
    ring: &mut IoUring,
    tag: u64,
    write: Option<squeue::Entry>,
    sync: Option<squeue::Entry>,
) -> io::Result<(Option<i32>, Option<i32>)> {
    let write_id = tag << 1;
    let sync_id = (tag << 1) | 1;
    let mut pending = 0;
    for entry in [
        write.map(|e| e.user_data(write_id)),
        sync.map(|e| e.user_data(sync_id)),
    ]
    .into_iter()
    .flatten()
    {
        // SAFETY: the entry's buffer (if any) is borrowed by the caller for the whole of
        // this function, and this function returns only once every pushed entry has
        // completed (I1 of the log thread: one chain in flight at a time).
        unsafe { ring.submission().push(&entry) }
            .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        pending += 1;
    }
    let (mut written, mut synced) = (None, None);
    while pending > 0 {
        match ring.submit_and_wait(1) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        for cqe in ring.completion() {
            if cqe.user_data() == write_id {
                written = Some(cqe.result());
                pending -= 1;
            } else if cqe.user_data() == sync_id {
                synced = Some(cqe.result());
                pending -= 1;
            }
        }
    }
    Ok((written, synced))
}

fn uring_append(
    ring: &mut IoUring,
    tag: &mut u64,
    file: &File,
    offset: u64,
    buf: &[u8],
    sync: bool,
) -> io::Result<()> {
    let fd = types::Fd(file.as_raw_fd());
    let mut done = 0usize;
    loop {
        *tag += 1;
        let rest = &buf[done..];
        let write = (!rest.is_empty()).then(|| {
            let len = u32::try_from(rest.len()).unwrap_or(u32::MAX);
            let entry = opcode::Write::new(fd, rest.as_ptr(), len)
                .offset(offset + done as u64)
                .build();
            // The sync starts only after the write completed in full.
            if sync {
                entry.flags(squeue::Flags::IO_LINK)
            } else {
                entry
            }
        });
        let fsync = sync.then(|| {
            opcode::Fsync::new(fd)
                .flags(types::FsyncFlags::DATASYNC)
                .build()
        });
        if write.is_none() && fsync.is_none() {
            return Ok(());
        }
        let (written, synced) = run_chain(ring, *tag, write, fsync)?;
        if let Some(res) = written {
            if res < 0 {
                return Err(io::Error::from_raw_os_error(-res));
            }
            if res == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "log write wrote nothing",
                ));
            }
            done += res as usize;
        }
        if done < buf.len() {
            // A short write cancels the linked sync (-ECANCELED); go again with the rest.
            continue;
        }
        return match synced {
            Some(res) if res < 0 => Err(io::Error::from_raw_os_error(-res)),
            _ => Ok(()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(backend: WalBackend) {
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(dir.path().join("seg"))
            .unwrap();
        let mut writer = Writer::new(backend).unwrap();
        let mut offset = 0;
        let mut expected = Vec::new();
        for i in 0..50u32 {
            let chunk: Vec<u8> = (0..(i * 37 + 1)).map(|b| (b ^ i) as u8).collect();
            writer.append(&file, offset, &chunk, i % 2 == 0).unwrap();
            offset += chunk.len() as u64;
            expected.extend_from_slice(&chunk);
        }
        writer.sync(&file).unwrap();
        assert_eq!(std::fs::read(dir.path().join("seg")).unwrap(), expected);
    }

    #[test]
    fn plain_writer_appends_in_order() {
        let w = Writer::new(WalBackend::Plain).unwrap();
        assert_eq!(w.backend(), ActiveBackend::Plain);
        round_trip(WalBackend::Plain);
    }

    #[test]
    fn io_uring_writer_appends_in_order() {
        // This machine's kernel (and CI's) has io_uring; a kernel without it fails here
        // with the reason, which is what we want to know.
        let w = Writer::new(WalBackend::IoUring).expect("io_uring available");
        assert_eq!(w.backend(), ActiveBackend::IoUring);
        round_trip(WalBackend::IoUring);
    }
}
