//! Starting and stopping the ordering core: store, chain service and sequencer loop.

use crate::{
    chain::{Chain, ChainService},
    config::SequencerConfig,
    error::NodeError,
    exec::SequencerDb,
    feed::Feed,
    genesis::GenesisSpec,
    ingress::{Ingress, IngressLimits},
    metrics::WalMetrics,
    ring,
    sequencer_loop::{LoopStart, ReplayStats, SequencerLoop},
    signer::Signer,
    wal::{self, Log, WalRecord, Writer, service::WalService},
};
use peregrine_preconf::SequencerKey;
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
};

pub use crate::fault::Fault;

/// Name of the redb file inside the data directory.
pub use peregrine_chain::open::DB_FILE;
/// Name of the write-ahead log's directory inside the data directory.
pub const WAL_DIR: &str = "wal";

/// Whether the node's threads are alive (for readiness probes); cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    sequencer: Arc<AtomicBool>,
    wal: Arc<AtomicBool>,
    chain: Arc<AtomicBool>,
    fault: Fault,
}

impl Liveness {
    /// The cause, once a part of the node has failed: the node then refuses new work and
    /// must be restarted (it recovers from its log).
    pub fn fault(&self) -> Option<String> {
        self.fault.get().cloned()
    }

    /// `Ok` when every thread runs, else which one stopped.
    pub fn check(&self) -> Result<(), &'static str> {
        if !self.sequencer.load(Ordering::Acquire) {
            return Err("sequencer loop is not running");
        }
        if !self.wal.load(Ordering::Acquire) {
            return Err("write-ahead log is not writable (the signer and log thread stopped)");
        }
        if !self.chain.load(Ordering::Acquire) {
            return Err("chain service is not running");
        }
        Ok(())
    }
}

/// Sets its flag while the thread that holds it runs, clears it when the thread ends.
/// A thread that ends by unwinding has failed: the fault is recorded (its own cause if
/// it gave one, else "panicked") and intake stops at once.
struct Alive {
    flag: Arc<AtomicBool>,
    thread: &'static str,
    fault: Fault,
    stop: Arc<AtomicBool>,
}

impl Alive {
    fn new(
        flag: &Arc<AtomicBool>,
        thread: &'static str,
        fault: &Fault,
        stop: &Arc<AtomicBool>,
    ) -> Self {
        flag.store(true, Ordering::Release);
        Self {
            flag: flag.clone(),
            thread,
            fault: fault.clone(),
            stop: stop.clone(),
        }
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.fault.set(format!("the {} panicked", self.thread));
            self.stop.store(true, Ordering::Release);
        }
        self.flag.store(false, Ordering::Release);
    }
}

/// A running ordering core.
#[derive(Debug)]
pub struct Node {
    liveness: Liveness,
    ingress: Ingress,
    chain: Arc<Chain>,
    stop: Arc<AtomicBool>,
    sequencer: Option<JoinHandle<()>>,
    wal: Option<JoinHandle<()>>,
    chain_service: Option<JoinHandle<()>>,
    replay: ReplayStats,
}

/// Feeds the chain service what the log thread made durable, until it hangs up. (A std
/// channel rather than crossbeam's: its blocking `recv` parks at once where crossbeam's
/// first yields the core four times, ~4 000 `sched_yield` calls a second at 1k
/// mini-blocks a second, each one a context switch taken from the threads a promise
/// waits on: two thirds of this thread's CPU, by `perf`.)
fn follow_log(
    service: &mut ChainService,
    events: &std::sync::mpsc::Receiver<crate::signer::Signed>,
) {
    use crate::{block::ChainEvent, signer::Signed};
    while let Ok(event) = events.recv() {
        match event {
            Signed::MiniBlock(signed) => service.apply(signed),
            Signed::Event(ChainEvent::MiniBlock(_)) => {
                unreachable!("the signer turns every mini-block into a signed one")
            }
            Signed::Event(ChainEvent::BlockEnd(end)) => service.end_block(end),
            Signed::Event(ChainEvent::Queued { .. }) => service.queued(),
            Signed::Event(ChainEvent::Dropped { hash, reason, .. }) => {
                service.dropped(&hash, &reason)
            }
        }
    }
}

impl Node {
    /// Opens (or creates from `genesis`) the chain in `cfg.datadir` and starts the threads.
    pub fn start(cfg: SequencerConfig, genesis: &GenesisSpec) -> Result<Self, NodeError> {
        cfg.validate().map_err(NodeError::Config)?;
        if let Some(id) = genesis.chain_id
            && id != cfg.chain_id
        {
            return Err(NodeError::Config(format!(
                "genesis file is for chain id {id}, but the chain id is {}",
                cfg.chain_id
            )));
        }
        let crate::open::OpenedChain {
            store,
            head,
            counters,
            last_mini_hash,
            state,
            hashes,
        } = crate::open::open_chain(
            &cfg.datadir,
            cfg.chain_id,
            genesis,
            cfg.min_base_fee,
            cfg.block_gas_limit,
        )?;
        let head_number = head.header.number;

        // The write-ahead log: records of blocks after the checkpoint are replayed below.
        let wal_dir = cfg
            .wal
            .dir
            .clone()
            .unwrap_or_else(|| cfg.datadir.join(WAL_DIR));
        let recovered = wal::recover(&wal_dir, head_number, cfg.wal.max_write)?;
        let mut torn_bytes = 0;
        if let Some(torn) = &recovered.torn {
            torn_bytes = torn.dropped_bytes;
            if torn.cut_short {
                tracing::warn!(
                    segment = %torn.path.display(),
                    offset = torn.offset,
                    dropped_bytes = torn.dropped_bytes,
                    reason = %torn.reason,
                    "write-ahead log ended in a torn record (a write cut short by a crash); truncated it. \
                     Its mini-blocks were never published: no promise is lost"
                );
            } else {
                tracing::error!(
                    segment = %torn.path.display(),
                    offset = torn.offset,
                    dropped_bytes = torn.dropped_bytes,
                    reason = %torn.reason,
                    "write-ahead log ended in a complete record that fails its checksum (damage, not a \
                     crash tear); truncated it. If it had been acknowledged, its promises are lost"
                );
            }
        }
        let requested = cfg.wal.resolved_backend();
        let mut writer = Writer::new(requested).map_err(crate::error::WalError::Backend)?;
        writer
            .self_test(&wal_dir, requested)
            .map_err(crate::error::WalError::Backend)?;
        let backend = writer.backend();
        tracing::info!(
            backend = backend.as_str(),
            durability = cfg.wal.durability.as_str(),
            dir = %wal_dir.display(),
            segments = recovered.segments.len(),
            records = recovered.total_records,
            "opened write-ahead log"
        );
        let mut log = Log::open(&wal_dir, cfg.wal.clone(), writer, recovered.segments)?;
        log.delete_covered(head_number)?;
        let replay = recovered.records;
        let logged_next_mini = replay
            .iter()
            .filter_map(|r| match r {
                WalRecord::MiniBlock(m) => Some(m.number + 1),
                WalRecord::BlockEnd(_) => None,
            })
            .max()
            .unwrap_or(counters.next_mini_block);
        let expected = replay
            .iter()
            .filter_map(|r| match r {
                WalRecord::MiniBlock(m) => Some((m.number, m.hash)),
                WalRecord::BlockEnd(_) => None,
            })
            .collect();
        let logged_block_end = replay
            .iter()
            .filter_map(|r| match r {
                WalRecord::BlockEnd(e) => Some(e.ctx.number),
                WalRecord::MiniBlock(_) => None,
            })
            .max();

        let (producer, consumer) =
            ring::channel(cfg.ring_capacity).map_err(|e| NodeError::Config(e.to_string()))?;
        let key = match &cfg.signing_key {
            Some(path) => SequencerKey::from_file(path)
                .map_err(|e| NodeError::Config(format!("signing key {}: {e}", path.display())))?,
            None => SequencerKey::dev(),
        };
        let feed = Arc::new(Feed::new(
            key.address(),
            cfg.feed_capacity,
            cfg.recent_mini_blocks,
            counters.next_mini_block,
        ));
        // loop ──events──▶ log thread (sign, write) ──durable──▶ chain service; bounded.
        let (events_tx, events_rx) = crossbeam_channel::bounded(cfg.chain_queue);
        let (durable_tx, durable_rx) = std::sync::mpsc::sync_channel(cfg.chain_queue);
        let start = LoopStart {
            head_number,
            head_timestamp: head.header.timestamp,
            head_base_fee: head.header.base_fee_per_gas.unwrap_or(cfg.min_base_fee),
            head_gas_used: head.header.gas_used,
            next_seq: counters.next_seq,
            next_mini_block: counters.next_mini_block,
        };
        let chain = Arc::new(Chain::new(
            cfg.chain_id,
            state.clone(),
            head,
            store,
            hashes.clone(),
            feed.clone(),
            counters.next_mini_block,
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let checkpoint = Arc::new(std::sync::atomic::AtomicU64::new(head_number));
        // Set by the chain service while it seals a block; the loop and the log thread
        // then park instead of yielding (see `SequencerLoop::with_sealing`).
        let sealing = Arc::new(AtomicBool::new(false));
        // Set by the loop while it parks between looks at the ring (a mini-block held for
        // the log thread, or mini-blocks large under load); the log thread then parks too.
        let parking = Arc::new(AtomicBool::new(false));
        let failure: Fault = Arc::default();
        let service = ChainService::new(
            chain.clone(),
            crate::chain::ServiceSetup {
                counters,
                last_mini_hash,
                checkpoint_blocks: cfg.checkpoint_blocks,
                sealer: crate::chain::Sealer::Key(key.clone()),
                fault: failure.clone(),
                stop: stop.clone(),
                checkpoint: checkpoint.clone(),
                sealing: sealing.clone(),
            },
        );
        let liveness = Liveness {
            fault: failure.clone(),
            ..Liveness::default()
        };
        let alive = Alive::new(&liveness.chain, "chain service", &failure, &stop);
        let nice = cfg.chain_service_nice;
        let chain_service = std::thread::Builder::new()
            .name("peregrine-chain".into())
            .spawn(move || {
                let _alive = alive;
                if nice != 0 {
                    crate::sched::deprioritize_current_thread(
                        nice,
                        crate::sched::CHAIN_SERVICE_SLICE,
                    );
                }
                service.run(|service| follow_log(service, &durable_rx))
            })
            .map_err(|e| NodeError::Thread(e.to_string()))?;
        let wal_service = WalService {
            log,
            logged_next_mini,
            logged_block_end,
            input: events_rx,
            signer: Signer {
                key,
                chain_id: cfg.chain_id,
                parent: last_mini_hash,
                feed: feed.clone(),
                views: crate::view::ViewBuilder::default(),
            },
            output: durable_tx,
            feed: feed.clone(),
            checkpoint,
            metrics: WalMetrics::new(backend.as_str(), cfg.wal.durability.as_str()),
            stages: crate::metrics::StageMetrics::new(),
            max_batch: cfg.wal.max_batch,
            max_write: usize::try_from(cfg.wal.max_write).unwrap_or(usize::MAX),
            wait: cfg.wal.wait,
            sealing: sealing.clone(),
            loop_parking: parking.clone(),
            expected,
            stop: stop.clone(),
            failure: failure.clone(),
        };
        let alive = Alive::new(&liveness.wal, "write-ahead log thread", &failure, &stop);
        let wal_core = cfg.wal.core;
        let wal = std::thread::Builder::new()
            .name("peregrine-wal".into())
            .spawn(move || {
                let _alive = alive;
                if let Some(id) = wal_core {
                    pin_current("log thread", id);
                }
                wal_service.run()
            })
            .map_err(|e| NodeError::Thread(e.to_string()))?;
        let limits = IngressLimits {
            chain_id: cfg.chain_id,
            max_tx_size: cfg.max_tx_size,
            block_gas_limit: cfg.block_gas_limit,
            min_base_fee: cfg.min_base_fee,
            max_tx_gas: cfg.max_tx_gas,
            max_queued_per_sender: cfg.max_queued_per_sender,
            max_inflight_per_sender: cfg.max_inflight_per_sender,
        };
        let core = cfg.core;
        let db = SequencerDb { state, hashes };
        let loop_stop = stop.clone();
        let loop_sealing = sealing;
        let loop_feed = feed.clone();
        let loop_parking = parking;
        let alive = Alive::new(&liveness.sequencer, "sequencer loop", &failure, &stop);
        let (replayed_tx, replayed_rx) = crossbeam_channel::bounded(1);
        let replay_started = std::time::Instant::now();
        let sequencer = std::thread::Builder::new()
            .name("peregrine-sequencer".into())
            .spawn(move || {
                let _alive = alive;
                if let Some(id) = core {
                    pin_current("sequencer loop", id);
                }
                // revm's EVM is not `Send`: it is built on the thread that runs it.
                let mut sequencer =
                    SequencerLoop::new(cfg, consumer, db, events_tx, loop_stop, start)
                        .with_sealing(loop_sealing)
                        .with_log_progress(loop_feed, loop_parking);
                let replayed = sequencer.replay(replay);
                let ok = replayed.is_ok();
                let _ = replayed_tx.send(replayed);
                if ok {
                    sequencer.run()
                }
            })
            .map_err(|e| NodeError::Thread(e.to_string()))?;
        let mut node = Self {
            liveness,
            ingress: Ingress::new(
                producer,
                chain.clone(),
                limits,
                stop.clone(),
                failure.clone(),
            ),
            chain,
            stop,
            sequencer: Some(sequencer),
            wal: Some(wal),
            chain_service: Some(chain_service),
            replay: ReplayStats::default(),
        };
        let replayed = replayed_rx
            .recv()
            .map_err(|_| NodeError::Thread("sequencer loop died during replay".into()))?;
        let mut stats = match replayed {
            Ok(stats) => stats,
            Err(e) => {
                let _ = node.stop_threads();
                return Err(e.into());
            }
        };
        // Serve nothing before the replayed mini-blocks are visible to reads.
        let target = start.next_mini_block + stats.mini_blocks;
        while node.chain.applied_next_mini_block() < target {
            if !node.liveness.chain.load(Ordering::Acquire)
                || !node.liveness.wal.load(Ordering::Acquire)
            {
                let _ = node.stop_threads();
                return Err(match failure.get() {
                    Some(why) => NodeError::Wal(crate::error::WalError::Replay(why.clone())),
                    None => NodeError::Thread("a thread died during replay".into()),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        stats.until_visible = replay_started.elapsed();
        WalMetrics::recovered(stats.mini_blocks, stats.transactions, torn_bytes);
        node.replay = stats;
        if stats.mini_blocks > 0 || stats.blocks > 0 {
            let secs = stats.elapsed.as_secs_f64();
            tracing::info!(
                mini_blocks = stats.mini_blocks,
                transactions = stats.transactions,
                block_ends = stats.blocks,
                loop_ms = secs * 1e3,
                visible_ms = stats.until_visible.as_secs_f64() * 1e3,
                loop_tx_per_sec = (stats.transactions as f64 / secs.max(1e-9)) as u64,
                "replayed the write-ahead log after the checkpoint"
            );
        }
        Ok(node)
    }

    /// What start-up replayed from the write-ahead log.
    pub fn replay_stats(&self) -> ReplayStats {
        self.replay
    }

    /// Whether the threads run (for readiness probes).
    pub fn liveness(&self) -> Liveness {
        self.liveness.clone()
    }

    /// The front door for transactions.
    pub fn ingress(&self) -> &Ingress {
        &self.ingress
    }

    /// Read access to the chain.
    pub fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }

    /// Stops intake, executes what is already in the ring, seals the last block, stores
    /// it and joins the threads. Nothing accepted is lost.
    pub fn shutdown(mut self) -> Result<(), NodeError> {
        self.stop_threads()
    }

    fn stop_threads(&mut self) -> Result<(), NodeError> {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.sequencer.take() {
            t.join()
                .map_err(|_| NodeError::Thread("sequencer loop panicked".into()))?;
        }
        if let Some(t) = self.wal.take() {
            t.join()
                .map_err(|_| NodeError::Thread("write-ahead log thread panicked".into()))?;
        }
        if let Some(t) = self.chain_service.take() {
            t.join()
                .map_err(|_| NodeError::Thread("chain service panicked".into()))?;
        }
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.stop_threads();
    }
}

/// Pins the calling thread to core `id` (validated at start-up), logging the outcome.
fn pin_current(thread: &str, id: usize) {
    if core_affinity::set_for_current(core_affinity::CoreId { id }) {
        tracing::info!(core = id, "{thread} pinned");
    } else {
        tracing::error!(core = id, "could not pin the {thread}");
    }
}
