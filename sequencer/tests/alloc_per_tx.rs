//! Measures heap allocations per transaction on the sequencer loop.
//!
//! The loop runs on this test's thread; `allocation_counter::measure` counts this
//! thread's allocations while the loop runs. Two runs of different sizes give
//! the marginal allocations per transaction (fixed costs cancel out).
//!
//! Hot-path discipline asks for zero, and zero is what it measures, for plain transfers and
//! for calls of a contract that reads and writes a storage slot, in full mini-blocks and
//! one transaction per mini-block. The loop's own buffers come back to it
//! (`peregrine_sequencer::recycle`), revm's journal keeps the accounts loaded across
//! mini-blocks, and the loop's revm handler reuses the first frame's input box
//! (`peregrine_sequencer::exec::handler`). What still allocates, not exercised here: revm's
//! boxed copy of an account loaded afresh (a new account, or more than the 1 024 kept), a
//! contract's sub-calls and logs, and created code.
//! `cargo run --release -p peregrine-sequencer --example alloc_sites -- 2000 1` names the
//! sites.

use alloy_consensus::TxEnvelope;
use alloy_primitives::{Address, Bytes, U256, address};
use alloy_signer_local::PrivateKeySigner;
use peregrine_sequencer::{
    GenesisSpec, PendingTx, SequencerConfig,
    block::ChainEvent,
    genesis::{GenesisAccount, dev_mnemonic_signers},
    ring,
    testing::{call, draining_loop, drop_elsewhere, loop_until, transfer, txs_in_ring},
};
use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

const BOB: Address = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");
/// A contract whose every call does `sstore(0, sload(0) + 1)`.
const COUNTER: Address = address!("00000000000000000000000000000000000c0de1");
const COUNTER_CODE: [u8; 10] = [0x60, 0x00, 0x54, 0x60, 0x01, 0x01, 0x60, 0x00, 0x55, 0x00];

/// What the measured transactions do.
#[derive(Debug, Clone, Copy)]
enum Work {
    /// 1 wei to an externally owned account.
    Transfer,
    /// A call of [`COUNTER`]: one cold `SLOAD`, one `SSTORE`.
    CounterCall,
}

impl Work {
    fn tx(self, signer: &PrivateKeySigner, chain_id: u64, nonce: u64) -> TxEnvelope {
        match self {
            Work::Transfer => transfer(signer, chain_id, nonce, BOB, U256::from(1)),
            Work::CounterCall => call(
                signer,
                chain_id,
                nonce,
                COUNTER,
                U256::ZERO,
                Bytes::new(),
                60_000,
            ),
        }
    }
}

fn setup(max_mini_block_txs: usize) -> (SequencerConfig, GenesisSpec, PrivateKeySigner) {
    let dir = std::env::temp_dir().join("peregrine-alloc-per-tx");
    let mut cfg = SequencerConfig::new(dir);
    cfg.ring_capacity = 4096;
    cfg.chain_queue = 8192;
    cfg.max_mini_block_txs = max_mini_block_txs;
    let mut genesis = GenesisSpec::dev(0, U256::from(10u64).pow(U256::from(24)));
    genesis.accounts.push(GenesisAccount {
        address: COUNTER,
        nonce: 1,
        balance: U256::ZERO,
        code: Some(Bytes::from_static(&COUNTER_CODE)),
        storage: Vec::new(),
    });
    (cfg, genesis, dev_mnemonic_signers().remove(0))
}

/// Allocations made by the loop while ordering and executing `n` transactions that are all
/// waiting in the ring (high load: full mini-blocks).
fn allocations_batched(work: Work, n: u64) -> u64 {
    let (cfg, genesis, signer) = setup(1024);
    let chain_id = cfg.chain_id;
    let consumer = txs_in_ring(&signer, cfg.ring_capacity, n, |nonce| {
        work.tx(&signer, chain_id, nonce)
    });
    let (looper, received) = draining_loop(cfg, genesis.state(), consumer);
    // Mini-blocks are dropped on another thread while the loop runs, as in the node, so
    // their buffers come back to the loop.
    let consumer = drop_elsewhere(received);
    let info = allocation_counter::measure(|| looper.run());
    let executed = consumer.join().unwrap();
    assert_eq!(executed as u64, n, "every transaction must execute");
    info.count_total
}

/// Allocations made by the loop for `n` transactions sent one at a time (low load): another
/// thread pushes a transaction, waits for its mini-block and drops it (its buffers go back
/// to the loop, as the node's log thread and chain service do between two transactions
/// at low load), then pushes the next.
fn allocations_one_at_a_time(work: Work, n: u64) -> u64 {
    let (cfg, genesis, signer) = setup(1);
    let (producer, consumer) = ring::channel(cfg.ring_capacity).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let chain_id = cfg.chain_id;
    let (looper, received) = loop_until(cfg, genesis.state(), consumer, stop.clone());
    let sender = std::thread::spawn(move || {
        for nonce in 0..n {
            let envelope = work.tx(&signer, chain_id, nonce);
            producer
                .try_push(PendingTx::new(envelope, signer.address(), 0))
                .unwrap();
            loop {
                match received.recv().expect("the loop runs until stopped") {
                    ChainEvent::MiniBlock(mini) => {
                        assert_eq!(mini.txs.len(), 1);
                        assert!(mini.txs[0].receipt.status(), "{work:?} must succeed");
                        break;
                    }
                    _ => continue,
                }
            }
        }
        stop.store(true, Ordering::Release);
    });
    let info = allocation_counter::measure(|| looper.run());
    sender.join().unwrap();
    info.count_total
}

#[test]
fn allocations_per_transaction_on_the_sequencer_loop() {
    // The node's Prometheus recorder, so the loop's metric handles are live (with no
    // recorder they are no-ops, and what recording costs would go unseen).
    let _handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("the only recorder in this test binary");
    let per_tx = |run: fn(Work, u64) -> u64, work: Work| {
        let small = run(work, 256);
        let large = run(work, 2304);
        (large.saturating_sub(small)) as f64 / 2048.0
    };
    for work in [Work::Transfer, Work::CounterCall] {
        let batched = per_tx(allocations_batched, work);
        let single = per_tx(allocations_one_at_a_time, work);
        println!(
            "sequencer loop, {work:?}: {batched:.2} allocations per transaction in full \
             mini-blocks, {single:.2} with one transaction per mini-block (low load)"
        );
        assert!(
            batched <= MAX_PER_TX,
            "{work:?}: {batched} allocations per transaction (batched)"
        );
        assert!(
            single <= MAX_PER_TX,
            "{work:?}: {single} allocations per transaction (one per mini-block)"
        );
    }
}

/// Upper bound on the marginal allocations per transaction (measured: 0.00 everywhere).
/// The slack absorbs buffers allocated while the recycling pool waits for the other
/// thread and an occasional metrics histogram bucket; one allocation per transaction or
/// per mini-block (+1.0 at low load) fails it.
const MAX_PER_TX: f64 = 0.1;
