//! Starting and stopping the ordering core: store, chain service and sequencer loop.

use crate::{
    block::BlockContext,
    chain::{Chain, ChainService, Head, build_header},
    config::SequencerConfig,
    diff::{AccountFields, StateDiff},
    error::NodeError,
    exec::{self, SequencerDb},
    feed::{DEFAULT_RECENT_MINI_BLOCKS, Feed},
    genesis::GenesisSpec,
    hashes::BlockHashes,
    ingress::{Ingress, IngressLimits},
    ring,
    sequencer_loop::{LoopStart, SequencerLoop, now_us},
    signer::SignerService,
    store::{Counters, Store, StoredBlock},
};
use alloy_primitives::{Address, B256, keccak256};
use alloy_trie::KECCAK_EMPTY;
use peregrine_preconf::SequencerKey;
use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
};

/// Name of the redb file inside the data directory.
pub const DB_FILE: &str = "chain.redb";

/// Whether the node's threads are alive (for readiness probes); cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    sequencer: Arc<AtomicBool>,
    signer: Arc<AtomicBool>,
    chain: Arc<AtomicBool>,
}

impl Liveness {
    /// `Ok` when every thread runs, else which one stopped.
    pub fn check(&self) -> Result<(), &'static str> {
        if !self.sequencer.load(Ordering::Acquire) {
            return Err("sequencer loop is not running");
        }
        if !self.signer.load(Ordering::Acquire) {
            return Err("signer is not running");
        }
        if !self.chain.load(Ordering::Acquire) {
            return Err("chain service is not running");
        }
        Ok(())
    }
}

/// Sets its flag while the thread that holds it runs, clears it when the thread ends
/// (normally or by panic).
struct Alive(Arc<AtomicBool>);

impl Alive {
    fn new(flag: &Arc<AtomicBool>) -> Self {
        flag.store(true, Ordering::Release);
        Self(flag.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
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
    signer: Option<JoinHandle<()>>,
    chain_service: Option<JoinHandle<()>>,
}

fn genesis_diff(spec: &GenesisSpec) -> StateDiff {
    let mut diff = StateDiff::default();
    for a in &spec.accounts {
        let code_hash = match &a.code {
            Some(code) if !code.is_empty() => {
                let hash = keccak256(code);
                diff.codes.insert(hash, code.clone());
                hash
            }
            _ => KECCAK_EMPTY,
        };
        let fields = AccountFields {
            nonce: a.nonce,
            balance: a.balance,
            code_hash,
        };
        diff.update(a.address, fields, true, a.storage.iter().copied());
    }
    diff
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
        std::fs::create_dir_all(&cfg.datadir).map_err(|e| {
            NodeError::Config(format!(
                "cannot create datadir {}: {e}",
                cfg.datadir.display()
            ))
        })?;
        let store = Store::open(&cfg.datadir.join(DB_FILE))?;
        let reader = store.reader()?;
        if reader.head()?.is_none() {
            let mut state = genesis.state();
            let ctx = BlockContext {
                number: 0,
                timestamp: genesis.timestamp.unwrap_or(now_us() / 1_000_000),
                base_fee: cfg.min_base_fee,
                gas_limit: cfg.block_gas_limit,
                beneficiary: Address::ZERO,
                prevrandao: exec::prevrandao(cfg.chain_id, 0),
            };
            let header = build_header(
                B256::ZERO,
                &ctx,
                0,
                state.state_root(),
                &[],
                genesis.extra_data.clone(),
            );
            let block = StoredBlock {
                hash: header.hash_slow(),
                header,
                txs: vec![],
                senders: vec![],
                receipts: vec![],
            };
            store.put_block(
                &block,
                &[],
                &genesis_diff(genesis),
                Counters::default(),
                cfg.chain_id,
            )?;
            tracing::info!(hash = %block.hash, accounts = genesis.accounts.len(), "created genesis block");
        }
        let reader = store.reader()?;
        let head_number = reader.head()?.expect("genesis was written");
        let stored_chain = reader.chain_id()?.unwrap_or(cfg.chain_id);
        if stored_chain != cfg.chain_id {
            return Err(NodeError::Config(format!(
                "datadir {} holds chain id {stored_chain}, not {}",
                cfg.datadir.display(),
                cfg.chain_id
            )));
        }
        let header = reader
            .header(head_number)?
            .ok_or_else(|| NodeError::Config("head block missing from the database".into()))?;
        let head = Head {
            hash: header.hash_slow(),
            header,
        };
        let counters = reader.counters()?;
        let last_mini_hash = reader.last_mini_block_hash()?;
        let state = reader.load_state()?;
        let hashes = Arc::new(BlockHashes::default());
        for n in head_number.saturating_sub(255)..=head_number {
            if let Some(h) = reader.header(n)? {
                hashes.insert(n, h.hash_slow());
            }
        }
        drop(reader);
        tracing::info!(number = head_number, hash = %head.hash, accounts = state.len(), "opened chain");

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
            DEFAULT_RECENT_MINI_BLOCKS,
            counters.next_mini_block,
        ));
        // loop ──events──▶ signer ──signed──▶ chain service; both bounded.
        let (events_tx, events_rx) = crossbeam_channel::bounded(cfg.chain_queue);
        let (signed_tx, signed_rx) = crossbeam_channel::bounded(cfg.chain_queue);
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
        ));
        let stop = Arc::new(AtomicBool::new(false));
        let service = ChainService {
            chain: chain.clone(),
            events: signed_rx,
            counters,
            block_diff: StateDiff::default(),
            metrics: crate::metrics::ChainMetrics::new(),
        };
        let liveness = Liveness::default();
        let alive = Alive::new(&liveness.chain);
        let chain_service = std::thread::Builder::new()
            .name("peregrine-chain".into())
            .spawn(move || {
                let _alive = alive;
                service.run()
            })
            .map_err(|e| NodeError::Thread(e.to_string()))?;
        let signer = SignerService {
            key,
            chain_id: cfg.chain_id,
            parent: last_mini_hash,
            input: events_rx,
            output: signed_tx,
            feed,
            metrics: crate::metrics::StageMetrics::new(),
        };
        let alive = Alive::new(&liveness.signer);
        let signer = std::thread::Builder::new()
            .name("peregrine-signer".into())
            .spawn(move || {
                let _alive = alive;
                signer.run()
            })
            .map_err(|e| NodeError::Thread(e.to_string()))?;
        let limits = IngressLimits {
            chain_id: cfg.chain_id,
            max_tx_size: cfg.max_tx_size,
            block_gas_limit: cfg.block_gas_limit,
            min_base_fee: cfg.min_base_fee,
        };
        let core = cfg.core;
        let db = SequencerDb { state, hashes };
        let loop_stop = stop.clone();
        let alive = Alive::new(&liveness.sequencer);
        let sequencer = std::thread::Builder::new()
            .name("peregrine-sequencer".into())
            .spawn(move || {
                let _alive = alive;
                if let Some(id) = core {
                    if core_affinity::set_for_current(core_affinity::CoreId { id }) {
                        tracing::info!(core = id, "sequencer loop pinned");
                    } else {
                        tracing::error!(core = id, "could not pin the sequencer loop");
                    }
                }
                // revm's EVM is not `Send`: it is built on the thread that runs it.
                SequencerLoop::new(cfg, consumer, db, events_tx, loop_stop, start).run()
            })
            .map_err(|e| NodeError::Thread(e.to_string()))?;
        Ok(Self {
            liveness,
            ingress: Ingress::new(producer, chain.clone(), limits, stop.clone()),
            chain,
            stop,
            sequencer: Some(sequencer),
            signer: Some(signer),
            chain_service: Some(chain_service),
        })
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
        if let Some(t) = self.signer.take() {
            t.join()
                .map_err(|_| NodeError::Thread("signer panicked".into()))?;
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
