//! The log thread: signing and group commit between the sequencer loop and everything
//! that publishes.
//!
//! ```text
//!  loop ──closed mini-blocks, block ends──▶ log thread: sign ─▶ one write ─▶ feed (promises,
//!                                                              (+ fdatasync)  subscribers,
//!                                                    <dir>/<segment>.wal      sync senders)
//!                                                                           ─▶ chain service
//! ```
//!
//! The thread takes every event waiting in its queue (up to `max-batch`), signs the
//! mini-blocks among them, encodes them and the block ends into one buffer, writes it
//! with one append (and one data sync in `fsync` mode), and only then publishes the
//! mini-blocks and hands everything on. Mini-blocks closed while a flush is in flight
//! queue up and share the next flush: that is the group commit, and it is why the batch
//! grows with load. Signing on this thread rather than one of its own saves a thread
//! hand-off per promise (measured: ~50 µs at p50 on a 2-core machine).
//!
//! Invariants:
//! - I1: one append is in flight at a time; its buffer lives until it completed.
//! - I2: nothing is published or handed to the chain service before the flush that
//!   holds its record returned, so no promise and no redb checkpoint is ahead of the log.
//! - I3: a segment is deleted only when every record in it belongs to an L2 block that
//!   a redb commit (the checkpoint) already holds, and it is not the segment written to.
//! - I4: with `busy-spin`, and with `yield` while traffic flows, the thread waits by
//!   polling its queue, so the sequencer loop hands mini-blocks over without a syscall.
//!   (While a block seals, `yield` sleeps 20 µs between polls instead of yielding; it
//!   still never waits inside the channel, so the hand-off stays free of syscalls.)

use super::{
    config::{Durability, WalConfig},
    file::Writer,
    record,
    segment::{SegmentInfo, segment_path},
};
use crate::{
    block::ChainEvent,
    clock::now_us,
    error::WalError,
    feed::Feed,
    metrics::{StageMetrics, WalMetrics, micros_to_secs},
    record::MiniBlockRecord,
    ring::WaitStrategy,
    signer::{Signed, Signer},
};
use alloy_primitives::B256;
use crossbeam_channel::{Receiver, TryRecvError};
use std::{
    collections::HashMap,
    fs::{File, OpenOptions},
    path::{Path, PathBuf},
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// With the `yield` strategy, how long without events before the log thread blocks in
/// its channel instead of polling (the sequencer loop's own idle threshold).
const IDLE_BEFORE_BLOCK: Duration = Duration::from_millis(10);
/// Polls between two looks at the clock while waiting.
const POLLS_PER_CLOCK_CHECK: u32 = 64;

/// Syncs a directory, so a created or removed file name is durable.
fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| WalError::io(dir, e))
}

fn open_segment(path: &Path) -> Result<File, WalError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| WalError::io(path, e))
}

/// The open log: its segments and the one being written.
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    cfg: WalConfig,
    writer: Writer,
    segments: Vec<SegmentInfo>,
    active: File,
}

impl Log {
    /// Continues the log in `dir` after recovery found `segments` there (their valid
    /// length each); starts segment 1 when there are none.
    pub fn open(
        dir: &Path,
        cfg: WalConfig,
        writer: Writer,
        mut segments: Vec<SegmentInfo>,
    ) -> Result<Self, WalError> {
        if segments.is_empty() {
            segments.push(SegmentInfo {
                index: 1,
                path: segment_path(dir, 1),
                len: 0,
                max_block: None,
            });
        }
        let last = segments.last().expect("at least one segment");
        let active = open_segment(&last.path)?;
        sync_dir(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            cfg,
            writer,
            segments,
            active,
        })
    }

    /// Segment files on disk.
    pub fn segments(&self) -> &[SegmentInfo] {
        &self.segments
    }

    /// Appends `buf` (whole records of L2 blocks up to `max_block`), durably in `fsync`
    /// mode; starts a new segment first when this one is full.
    pub fn append(&mut self, buf: &[u8], max_block: u64, checkpoint: u64) -> Result<(), WalError> {
        let sync = self.cfg.durability == Durability::Fsync;
        let len = self.segments.last().expect("active segment").len;
        if len > 0 && len + buf.len() as u64 > self.cfg.segment_size {
            self.roll(checkpoint)?;
        }
        let seg = self.segments.last_mut().expect("active segment");
        self.writer
            .append(&self.active, seg.len, buf, sync)
            .map_err(|e| WalError::io(&seg.path, e))?;
        seg.len += buf.len() as u64;
        seg.max_block = Some(seg.max_block.map_or(max_block, |m| m.max(max_block)));
        Ok(())
    }

    /// Closes the active segment, starts the next, and deletes covered ones (I3).
    fn roll(&mut self, checkpoint: u64) -> Result<(), WalError> {
        let last = self.segments.last().expect("active segment");
        if self.cfg.durability == Durability::Os {
            // Closing a segment makes it durable in either mode: cheap once per segment,
            // and the checkpoint logic never meets a half-written segment.
            self.writer
                .sync(&self.active)
                .map_err(|e| WalError::io(&last.path, e))?;
        }
        let index = last.index + 1;
        let path = segment_path(&self.dir, index);
        self.active = open_segment(&path)?;
        self.segments.push(SegmentInfo {
            index,
            path,
            len: 0,
            max_block: None,
        });
        sync_dir(&self.dir)?;
        self.delete_covered(checkpoint)
    }

    /// Deletes the oldest segments whose records all belong to checkpointed blocks.
    pub fn delete_covered(&mut self, checkpoint: u64) -> Result<(), WalError> {
        let mut removed = false;
        while self.segments.len() > 1 && self.segments[0].max_block.is_none_or(|b| b <= checkpoint)
        {
            let seg = self.segments.remove(0);
            std::fs::remove_file(&seg.path).map_err(|e| WalError::io(&seg.path, e))?;
            removed = true;
        }
        if removed {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }
}

/// The log thread.
pub(crate) struct WalService {
    pub(crate) log: Log,
    /// Mini-blocks numbered below this are in the log already (replayed at start-up).
    pub(crate) logged_next_mini: u64,
    /// Block ends up to this number are in the log already.
    pub(crate) logged_block_end: Option<u64>,
    /// Closed mini-blocks and other events, from the sequencer loop.
    pub(crate) input: Receiver<ChainEvent>,
    /// Signs them, in order.
    pub(crate) signer: Signer,
    /// To the chain service (see [`crate::chain::ChainService`]'s `events`).
    pub(crate) output: std::sync::mpsc::SyncSender<Signed>,
    pub(crate) feed: Arc<Feed>,
    /// The last L2 block committed to redb (the checkpoint).
    pub(crate) checkpoint: Arc<AtomicU64>,
    pub(crate) metrics: WalMetrics,
    pub(crate) stages: StageMetrics,
    pub(crate) max_batch: usize,
    /// Most bytes per write ([`crate::wal::WalConfig::max_write`]).
    pub(crate) max_write: usize,
    /// How the thread waits for the next event (`wal.wait`, I4).
    pub(crate) wait: WaitStrategy,
    /// Set while the chain service seals a block: `yield` then parks in
    /// [`crate::ring::SEALING_PARK`] steps instead (see [`crate::sequencer_loop::SequencerLoop::with_sealing`]).
    pub(crate) sealing: Arc<AtomicBool>,
    /// Set while the sequencer loop parks in 20 µs steps between looks at the ring
    /// ([`crate::sequencer_loop::SequencerLoop::with_log_progress`]): it holds a mini-block
    /// until it sees what this thread published, or it is busy (mini-blocks are large).
    /// The next event cannot come sooner than the loop's next look, so this thread parks
    /// in such steps too instead of yielding the cores ingress needs.
    pub(crate) loop_parking: Arc<AtomicBool>,
    /// Signed header hashes of the mini-blocks being replayed, by number: each replayed
    /// mini-block must come out with the hash the log holds.
    pub(crate) expected: HashMap<u64, B256>,
    /// The node's stop flag: set when the log cannot be written, so intake stops.
    pub(crate) stop: Arc<AtomicBool>,
    /// Why the thread stopped, for `Node::start` to report.
    pub(crate) failure: Arc<OnceLock<String>>,
}

impl WalService {
    fn record_stages(&self, record: &MiniBlockRecord, durable_us: u64) {
        let m = &self.stages;
        let closed = record.header.timestamp_micros;
        if let Some(first) = record.transactions.first() {
            m.mini_block_size.record(record.transactions.len() as f64);
            m.mini_block_close
                .record(micros_to_secs(first.ordered, closed));
        }
        for t in &record.transactions {
            m.ring_wait.record(micros_to_secs(t.received, t.ordered));
            m.execution.record(micros_to_secs(t.ordered, t.executed));
            m.close.record(micros_to_secs(t.executed, closed));
            m.signing.record(micros_to_secs(closed, record.signed));
            m.durable.record(micros_to_secs(record.signed, durable_us));
            m.end_to_end.record(micros_to_secs(t.received, durable_us));
        }
        m.preconfirmations
            .increment(record.transactions.len() as u64);
    }

    /// Stops the node: nothing more may be promised.
    fn fail(&self, why: String) -> ! {
        self.metrics.errors.increment(1);
        crate::fault::fail_thread(&self.failure, &self.stop, why)
    }

    /// Encodes the records of `batch` not yet in the log; returns the highest L2 block.
    /// A replayed mini-block (in the log already) must match the logged one.
    fn encode(&mut self, batch: &[Signed], buf: &mut Vec<u8>) -> (Option<u64>, u64) {
        let mut max_block = None;
        let mut minis = 0;
        for event in batch {
            let block = match event {
                Signed::MiniBlock(s) if s.mini.number < self.logged_next_mini => {
                    let logged = self.expected.remove(&s.mini.number);
                    if logged != Some(s.record.hash) {
                        self.fail(format!(
                            "replay diverged: mini-block {} came out with header hash {}, the log holds {:?}",
                            s.mini.number, s.record.hash, logged
                        ));
                    }
                    continue;
                }
                Signed::MiniBlock(s) => {
                    record::encode_mini_block(buf, &s.mini, &s.record);
                    self.logged_next_mini = s.mini.number + 1;
                    minis += 1;
                    s.mini.block.number
                }
                Signed::Event(ChainEvent::BlockEnd(end))
                    if self.logged_block_end.is_none_or(|n| end.ctx.number > n) =>
                {
                    record::encode_block_end(buf, end);
                    self.logged_block_end = Some(end.ctx.number);
                    end.ctx.number
                }
                _ => continue,
            };
            max_block = Some(max_block.map_or(block, |m: u64| m.max(block)));
        }
        (max_block, minis)
    }

    /// Waits for the next event from the sequencer loop; `None` once it hung up.
    ///
    /// I4: with `busy-spin`, and with `yield` while events keep coming (less than
    /// [`IDLE_BEFORE_BLOCK`] apart), this thread polls, so it never sleeps in the channel
    /// and the loop's `send` has no sleeper to wake: the hand-off costs the sequencer
    /// core no syscall. With `park`, and with `yield` once quiet, it blocks in the
    /// channel, and the next hand-off costs the loop one futex wake.
    fn next_event(&self, last_event: Instant) -> Option<ChainEvent> {
        loop {
            let block = match self.wait {
                WaitStrategy::Park(_) => true,
                WaitStrategy::Yield => last_event.elapsed() > IDLE_BEFORE_BLOCK,
                WaitStrategy::BusySpin => false,
            };
            if block {
                return self.input.recv().ok();
            }
            for _ in 0..POLLS_PER_CLOCK_CHECK {
                match self.input.try_recv() {
                    Ok(event) => return Some(event),
                    Err(TryRecvError::Empty) => {
                        if self.loop_parking.load(Ordering::Relaxed) {
                            WaitStrategy::Park(crate::sequencer_loop::HOLD_POLL).idle(None)
                        } else {
                            self.wait
                                .while_sealing(self.sealing.load(Ordering::Relaxed))
                                .idle(None)
                        }
                    }
                    Err(TryRecvError::Disconnected) => return None,
                }
            }
        }
    }

    /// Runs until the sequencer loop hangs up. Panics (stopping the node) when the log cannot
    /// be written: a sequencer that cannot keep its promises must not make them.
    pub(crate) fn run(mut self) {
        let mut batch: Vec<Signed> = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        self.metrics.segments.set(self.log.segments().len() as f64);
        let mut queued: Vec<ChainEvent> = Vec::new();
        let mut last_event = Instant::now();
        while let Some(first) = self.next_event(last_event) {
            last_event = Instant::now();
            // Take what is queued now, then sign it: signing inside the draining loop
            // would let the batch grow for as long as mini-blocks keep arriving, holding
            // back the first one's promise (and, on replay, the chain service).
            queued.push(first);
            while queued.len() < self.max_batch {
                match self.input.try_recv() {
                    Ok(event) => queued.push(event),
                    Err(_) => break,
                }
            }
            batch.extend(queued.drain(..).map(|event| self.signer.sign(event)));
            buf.clear();
            let (max_block, minis) = self.encode(&batch, &mut buf);
            if let Some(max_block) = max_block {
                let started = Instant::now();
                let checkpoint = self.checkpoint.load(Ordering::Acquire);
                // A crash can tear only the last write; recovery relies on none being
                // longer than `max_write` (a single larger record is written alone).
                for write in record::writes(&buf, self.max_write) {
                    if let Err(e) = self.log.append(write, max_block, checkpoint) {
                        self.fail(format!("cannot write the write-ahead log: {e}"));
                    }
                }
                self.metrics.flush.record(started.elapsed().as_secs_f64());
                self.metrics.bytes.increment(buf.len() as u64);
                self.metrics.segments.set(self.log.segments().len() as f64);
                if minis > 0 {
                    self.metrics.batch.record(minis as f64);
                }
            }
            // I2: published only now that the records are written.
            let durable_us = now_us();
            for event in &batch {
                if let Signed::MiniBlock(signed) = event {
                    self.feed.publish(signed);
                    self.record_stages(&signed.record, durable_us);
                }
            }
            // Then, off the promise, the block views' tries (a sync receipt waits for
            // its own, microseconds), before the chain service sees the mini-blocks.
            for event in &batch {
                if let Signed::MiniBlock(signed) = event {
                    self.signer.fill_view(signed);
                }
            }
            for event in batch.drain(..) {
                if self.output.send(event).is_err() {
                    return;
                }
            }
        }
    }
}
