//! Measures heap allocations per transaction on the sequencer loop.
//!
//! The loop runs on this test's thread; `allocation_counter::measure` counts this
//! thread's allocations while the loop runs. Two runs of different sizes give
//! the marginal allocations per transaction (fixed costs cancel out).
//!
//! Hot-path discipline asks for zero. What remains is inside revm: one allocation per
//! transaction in its call-frame setup (`Box<CallInputs>`), and one more (revm's boxed
//! copy of a freshly loaded account) for each caller or recipient not kept loaded from
//! the last mini-blocks; the transfers here go between the same two accounts, so those do not
//! show. The loop's own buffers come back to it (`peregrine_sequencer::recycle`). This
//! test prints the numbers and fails if they grow past today's measured values, so a
//! regression cannot slip in unnoticed;
//! `cargo run --release -p peregrine-sequencer --example alloc_sites -- 2000 1` names the
//! sites.

use alloy_primitives::{Address, U256, address};
use peregrine_sequencer::{
    GenesisSpec, PendingTx, SequencerConfig,
    genesis::dev_mnemonic_signers,
    ring,
    testing::{draining_loop, drop_elsewhere, transfer},
};

const BOB: Address = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");

/// Allocations made by the loop while ordering and executing `n` transfers.
fn allocations_for(n: u64, max_mini_block_txs: usize) -> u64 {
    let signer = dev_mnemonic_signers().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SequencerConfig::new(dir.path().to_path_buf());
    cfg.ring_capacity = 4096;
    cfg.chain_queue = 8192;
    cfg.max_mini_block_txs = max_mini_block_txs;
    let genesis = GenesisSpec::dev(0, U256::from(10u64).pow(U256::from(24)));
    let (producer, consumer) = ring::channel(cfg.ring_capacity).unwrap();
    for nonce in 0..n {
        let envelope = transfer(&signer, cfg.chain_id, nonce, BOB, U256::from(1));
        producer
            .try_push(PendingTx::new(envelope, signer.address(), 0))
            .unwrap();
    }
    let (looper, received) = draining_loop(cfg, genesis.state(), consumer);
    // Mini-blocks are dropped on another thread while the loop runs, as in the node, so
    // their buffers come back to the loop.
    let consumer = drop_elsewhere(received);
    let info = allocation_counter::measure(|| looper.run());
    let executed = consumer.join().unwrap();
    assert_eq!(executed as u64, n, "every transaction must execute");
    info.count_total
}

#[test]
fn allocations_per_transaction_on_the_sequencer_loop() {
    let per_tx = |max: usize| {
        let small = allocations_for(256, max);
        let large = allocations_for(2304, max);
        (large.saturating_sub(small)) as f64 / 2048.0
    };
    let batched = per_tx(1024);
    let single = per_tx(1);
    println!(
        "sequencer loop: {batched:.2} allocations per transaction in full mini-blocks, \
         {single:.2} with one transaction per mini-block (low load)"
    );
    // Today's measured values, rounded up; lower them as allocations are removed.
    assert!(
        batched <= MAX_BATCHED,
        "{batched} allocations per transaction (batched)"
    );
    assert!(
        single <= MAX_SINGLE,
        "{single} allocations per transaction (one per mini-block)"
    );
}

/// Upper bound, full mini-blocks (see the module docs).
const MAX_BATCHED: f64 = 1.5;
/// Upper bound, one transaction per mini-block: the same as in full mini-blocks, since
/// the loop's buffers are recycled and the accounts stay loaded across mini-blocks.
const MAX_SINGLE: f64 = 1.5;
