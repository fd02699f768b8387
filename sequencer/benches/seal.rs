//! Sealing an L2 block: state root over a large state plus transactions and receipts roots.
//!
//! Goal from the design: a block of 20k transactions over 1M accounts seals in ≤ 200 ms,
//! off the sequencer core. Run: `cargo bench -p peregrine-sequencer --bench seal`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use alloy_consensus::{
    Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, SignableTransaction, TxEip1559,
    TxEnvelope,
};
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind, U256};
use criterion::{Criterion, criterion_group, criterion_main};
use peregrine_sequencer::{
    BlockContext, ExecutedTx, WorldState,
    diff::{AccountFields, StateDiff},
    testing::block_context,
    view::{ViewBuilder, ViewParts},
};
use std::hint::black_box;

const ACCOUNTS: u64 = 1_000_000;
const TXS: u64 = 20_000;

fn address(i: u64) -> Address {
    let mut b = [0u8; 20];
    b[12..].copy_from_slice(&i.to_be_bytes());
    b[0] = 0xaa;
    Address::from(b)
}

fn big_state() -> WorldState {
    let mut s = WorldState::new();
    for i in 0..ACCOUNTS {
        s.insert_account(address(i), 0, U256::from(1_000_000_000u64), None, []);
    }
    s
}

fn block_txs() -> Vec<ExecutedTx> {
    // A fixed dummy signature: sealing hashes transactions, it does not verify them.
    let sig = Signature::new(U256::from(1), U256::from(1), false);
    (0..TXS)
        .map(|i| {
            let tx = TxEip1559 {
                chain_id: 901,
                nonce: i,
                gas_limit: 21_000,
                max_fee_per_gas: 1_000_000_000,
                max_priority_fee_per_gas: 0,
                to: TxKind::Call(address(i + 1)),
                value: U256::from(1),
                access_list: Default::default(),
                input: Bytes::new(),
            };
            let envelope = TxEnvelope::from(tx.into_signed(sig));
            let receipt = ReceiptEnvelope::Eip1559(ReceiptWithBloom::from(Receipt {
                status: Eip658Value::Eip658(true),
                cumulative_gas_used: 21_000 * (i + 1),
                logs: vec![],
            }));
            ExecutedTx {
                seq: i,
                hash: *envelope.tx_hash(),
                sender: address(i),
                envelope,
                receipt,
                gas_used: 21_000,
                effective_gas_price: 1_000_000,
                contract_address: None,
                index_in_block: i as u32,
                first_log_index: 0,
                received_us: 0,
                ordered_us: 0,
                executed_us: 0,
            }
        })
        .collect()
}

fn block_diff(round: u64) -> StateDiff {
    let mut diff = StateDiff::default();
    for i in 0..TXS {
        for a in [address(i), address(i + 1)] {
            diff.update(
                a,
                AccountFields {
                    nonce: round,
                    balance: U256::from(round + i),
                    code_hash: alloy_trie::KECCAK_EMPTY,
                },
                false,
                std::iter::empty(),
            );
        }
    }
    diff
}

fn seal(c: &mut Criterion) {
    let mut state = big_state();
    state.state_root();
    let txs = block_txs();
    // 20k transfers need more than the usual 30M gas.
    let ctx = BlockContext {
        gas_limit: 1_000_000_000,
        ..block_context(1)
    };
    let mut round = 0;
    let mut group = c.benchmark_group("seal");
    group.sample_size(10);
    group.bench_function("state_root_1M_accounts_40k_changed", |b| {
        b.iter(|| {
            round += 1;
            state.apply(&block_diff(round));
            black_box(state.state_root())
        })
    });
    // The same work in the seal's three steps, timing only the two that need the pending
    // state's write lock (`begin_root`, `end_root`): what ingress may wait for.
    group.bench_function(
        "state_root_write_locked_part_1M_accounts_40k_changed",
        |b| {
            b.iter_custom(|iters| {
                let mut locked = std::time::Duration::ZERO;
                for _ in 0..iters {
                    round += 1;
                    state.apply(&block_diff(round));
                    let started = std::time::Instant::now();
                    let mut work = state.begin_root();
                    locked += started.elapsed();
                    black_box(work.root(&state));
                    let started = std::time::Instant::now();
                    state.end_root(work);
                    locked += started.elapsed();
                }
                locked
            })
        },
    );
    // A token with 100k holders whose block moves 2k balances (1k transfers): the
    // storage trie is kept, so only the written slots' paths are rehashed.
    let token = Address::repeat_byte(0x70);
    let mut contract = WorldState::new();
    contract.insert_account(
        token,
        1,
        U256::ZERO,
        None,
        (0..100_000u64).map(|i| (U256::from(i), U256::from(1_000_000 + i))),
    );
    contract.state_root();
    group.bench_function("state_root_contract_100k_slots_2k_written", |b| {
        b.iter(|| {
            round += 1;
            let mut diff = StateDiff::default();
            diff.update(
                token,
                AccountFields {
                    nonce: 1,
                    balance: U256::ZERO,
                    code_hash: alloy_trie::KECCAK_EMPTY,
                },
                false,
                (0..2_000u64).map(|i| {
                    (
                        U256::from((round * 7919 + i * 50) % 100_000),
                        U256::from(round + i),
                    )
                }),
            );
            contract.apply(&diff);
            black_box(contract.state_root())
        })
    });
    let envelopes: Vec<_> = txs.iter().map(|t| t.envelope.clone()).collect();
    let receipts: Vec<_> = txs.iter().map(|t| t.receipt.clone()).collect();
    group.bench_function("header_20k_txs_tx_and_receipt_roots", |b| {
        b.iter(|| {
            let parts = ViewParts::over(&envelopes, &receipts);
            black_box(peregrine_sequencer::view::block_header(
                B256::ZERO,
                &ctx,
                &parts,
                B256::ZERO,
                Bytes::new(),
            ))
        })
    });
    // The log thread's work for the open block's views ([`peregrine_sequencer::view`]):
    // the same 20k transactions, with both roots read after every mini-block.
    for per_mini in [1usize, 20] {
        group.bench_function(format!("views_20k_txs_mini_blocks_of_{per_mini}"), |b| {
            b.iter(|| {
                let mut views = ViewBuilder::default();
                for chunk in txs.chunks(per_mini) {
                    let parts = views.push(1, chunk.iter().map(|t| (&t.envelope, &t.receipt)));
                    black_box(parts);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, seal);
criterion_main!(benches);
