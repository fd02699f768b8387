//! What one promise costs the log thread: `sign_mini_block` on a mini-block of one
//! transfer (the low-load case, one signature per transaction) and of 1 000, split into
//! its parts: the three Merkle trees and the record, the EIP-712 digest, the secp256k1
//! signature (libsecp256k1, RFC 6979), and sender recovery at ingress for comparison.
//!
//! `cargo bench -p peregrine-sequencer --bench sign -- --warm-up-time 1 --measurement-time 3`

#![allow(missing_docs)]

use alloy_primitives::{Address, U256};
use criterion::{BatchSize, Criterion};
use peregrine_preconf::{MiniBlockHeader, SequencerKey};
use peregrine_sequencer::{
    GenesisSpec, MiniBlock, SequencerConfig,
    block::ChainEvent,
    genesis::dev_mnemonic_signers,
    record::sign_mini_block,
    testing::{draining_loop, transfer, transfers_in_ring},
};
use std::hint::black_box;

/// One mini-block of `n` transfers, executed by the real loop.
fn mini_block(n: u64) -> MiniBlock {
    let signer = dev_mnemonic_signers().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SequencerConfig::new(dir.path().to_path_buf());
    cfg.max_mini_block_txs = n as usize;
    let genesis = GenesisSpec::dev(0, U256::from(10u64).pow(U256::from(24)));
    let consumer = transfers_in_ring(&signer, cfg.chain_id, 2048, n, Address::repeat_byte(7));
    let (looper, received) = draining_loop(cfg, genesis.state(), consumer);
    looper.run();
    received
        .try_iter()
        .find_map(|e| match e {
            ChainEvent::MiniBlock(m) => Some(m),
            _ => None,
        })
        .expect("one mini-block")
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let key = SequencerKey::dev();
    let mut group = c.benchmark_group("sign");
    for n in [1u64, 1000] {
        let mini = mini_block(n);
        assert_eq!(mini.txs.len() as u64, n);
        group.bench_function(format!("sign_mini_block/{n}_txs"), |b| {
            b.iter(|| black_box(sign_mini_block(&key, 901, Default::default(), &mini)))
        });
    }
    let record = sign_mini_block(&key, 901, Default::default(), &mini_block(1));
    let header = MiniBlockHeader::from(&record.header);
    group.bench_function("eip712_digest", |b| {
        b.iter(|| black_box(black_box(&header).signing_hash()))
    });
    group.bench_function("secp256k1_sign", |b| {
        b.iter(|| black_box(key.sign(black_box(&header))))
    });
    let envelope = transfer(
        &dev_mnemonic_signers().remove(0),
        901,
        0,
        Address::repeat_byte(7),
        U256::from(1),
    );
    group.bench_function("sender_recovery", |b| {
        b.iter_batched(
            || envelope.clone(),
            |e| black_box(alloy_consensus::transaction::SignerRecoverable::recover_signer(&e)),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    c.final_summary();
}
