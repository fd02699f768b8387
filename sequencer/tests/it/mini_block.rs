//! The sequencer loop run on the test thread over a pre-filled ring, so every
//! transaction lands in one mini-block.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_primitives::{Address, Bytes, TxKind, U256, address, bytes};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use peregrine_sequencer::{
    GenesisSpec, MiniBlock, PendingTx, SequencerConfig,
    block::ChainEvent,
    genesis::{GenesisAccount, dev_mnemonic_signers},
    ring,
    state::WorldState,
    testing::draining_loop,
};

/// Counter: no calldata increments slot 0; any calldata only reads slot 0.
const COUNTER: Address = address!("c0ffee0000000000000000000000000000000001");
const COUNTER_CODE: Bytes = bytes!("36600e57600054600101600055005b6000545000");

fn call(signer: &PrivateKeySigner, nonce: u64, to: Address, input: Bytes) -> PendingTx {
    let tx = TxEip1559 {
        chain_id: 901,
        nonce,
        gas_limit: 100_000,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(to),
        value: U256::ZERO,
        access_list: Default::default(),
        input,
    };
    let sig = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    PendingTx::new(TxEnvelope::from(tx.into_signed(sig)), signer.address(), 0)
}

/// Probe: reads the balance of BOB (`PUSH20 BOB BALANCE POP STOP`), so its gas tells
/// whether BOB was cold (2 600) or warm (100) for the transaction.
const PROBE: Address = address!("c0ffee0000000000000000000000000000000002");
const PROBE_CODE: Bytes = bytes!("7370997970C51812dc3A010C7d01b50e0d17dc79C8315000");
const BOB: Address = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");

/// Runs `txs` through a fresh loop; returns the mini-blocks and the genesis state.
fn run(txs: Vec<PendingTx>) -> (Vec<MiniBlock>, WorldState) {
    run_with(txs, peregrine_sequencer::config::DEFAULT_MAX_MINI_BLOCK_TXS)
}

/// [`run`] with mini-blocks of at most `max_mini_block_txs` transactions.
fn run_with(txs: Vec<PendingTx>, max_mini_block_txs: usize) -> (Vec<MiniBlock>, WorldState) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SequencerConfig::new(dir.path().to_path_buf());
    cfg.max_mini_block_txs = max_mini_block_txs;
    let mut genesis = GenesisSpec::dev(0, U256::from(10u64).pow(U256::from(22)));
    for (address, code) in [(COUNTER, COUNTER_CODE), (PROBE, PROBE_CODE)] {
        genesis.accounts.push(GenesisAccount {
            address,
            nonce: 1,
            balance: U256::ZERO,
            code: Some(code),
            storage: vec![],
        });
    }
    let (producer, consumer) = ring::channel(txs.len().next_power_of_two().max(2)).unwrap();
    for tx in txs {
        producer.try_push(tx).unwrap();
    }
    let (looper, received) = draining_loop(cfg, genesis.state(), consumer);
    looper.run();
    let minis = received
        .try_iter()
        .filter_map(|e| match e {
            ChainEvent::MiniBlock(m) => Some(m),
            _ => None,
        })
        .collect();
    (minis, genesis.state())
}

#[test]
fn a_slot_written_then_only_read_in_one_mini_block_is_in_the_diff() {
    let alice = dev_mnemonic_signers().remove(0);
    let (minis, mut state) = run(vec![
        call(&alice, 0, COUNTER, Bytes::new()),
        call(&alice, 1, COUNTER, bytes!("01")),
        call(&alice, 2, COUNTER, Bytes::new()),
        call(&alice, 3, COUNTER, bytes!("01")),
    ]);
    assert_eq!(minis.len(), 1, "all four transactions share one mini-block");
    let mini = &minis[0];
    assert_eq!(mini.txs.len(), 4);
    assert!(mini.txs.iter().all(|t| t.receipt.status()));
    let diff = mini.diff.to_state_diff();
    let change = &diff.accounts[&COUNTER];
    assert_eq!(change.storage.get(&U256::ZERO), Some(&U256::from(2)));
    assert_eq!(diff.accounts[&alice.address()].info.unwrap().nonce, 4);
    // Applying the diff reproduces the loop's result.
    state.apply(&diff);
    assert_eq!(state.storage(&COUNTER, &U256::ZERO), U256::from(2));
}

#[test]
fn nonces_within_one_mini_block_come_from_the_journal() {
    let alice = dev_mnemonic_signers().remove(1);
    let bob = address!("70997970C51812dc3A010C7d01b50e0d17dc79C8");
    // nonce 0, a duplicate nonce 0 (must be dropped), then 1.
    let (minis, _) = run(vec![
        call(&alice, 0, bob, Bytes::new()),
        call(&alice, 0, COUNTER, Bytes::new()),
        call(&alice, 1, bob, Bytes::new()),
    ]);
    let executed: Vec<u64> = minis
        .iter()
        .flat_map(|m| {
            m.txs
                .iter()
                .map(|t| alloy_consensus::Transaction::nonce(&t.envelope))
        })
        .collect();
    assert_eq!(executed, vec![0, 1]);
}

fn create(signer: &PrivateKeySigner, nonce: u64, init: Bytes) -> PendingTx {
    let tx = TxEip1559 {
        chain_id: 901,
        nonce,
        gas_limit: 200_000,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 0,
        to: TxKind::Create,
        value: U256::ZERO,
        access_list: Default::default(),
        input: init,
    };
    let sig = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    PendingTx::new(TxEnvelope::from(tx.into_signed(sig)), signer.address(), 0)
}

/// A recipient nobody has used (nor a precompile).
fn fresh(round: u64) -> Address {
    Address::repeat_byte(0x40 + round as u8)
}

fn transfer(signer: &PrivateKeySigner, nonce: u64, to: Address, value: u64) -> PendingTx {
    let envelope =
        peregrine_sequencer::testing::transfer(signer, 901, nonce, to, U256::from(value));
    PendingTx::new(envelope, signer.address(), 0)
}

/// Accounts stay loaded in revm's journal from one mini-block to the next (to spare the
/// database read and revm's allocations); they must come back cold and as committed, so
/// results cannot depend on where mini-blocks end. The same transactions run once as
/// one-transaction mini-blocks (every account kept across a boundary) and once as a
/// single mini-block (revm's own journal semantics across transactions) must give the
/// same receipts, gas, logs, created addresses and state.
#[test]
fn results_do_not_depend_on_mini_block_boundaries() {
    let signers = dev_mnemonic_signers();
    let (alice, bob, carol, dave) = (&signers[0], &signers[1], &signers[2], &signers[3]);
    assert_eq!(bob.address(), BOB);
    let mut nonces = std::collections::HashMap::new();
    let mut next = |s: &PrivateKeySigner| {
        let n = nonces.entry(s.address()).or_insert(0u64);
        *n += 1;
        *n - 1
    };
    let mut txs = Vec::new();
    for round in 0..24u64 {
        txs.push(transfer(alice, next(alice), BOB, 1));
        txs.push(call(carol, next(carol), PROBE, Bytes::new()));
        txs.push(call(alice, next(alice), COUNTER, Bytes::new()));
        // A fresh recipient each round; round 0 sends nothing, so it stays empty (and
        // touched: EIP-161 deletes it).
        txs.push(transfer(bob, next(bob), fresh(round), round));
        txs.push(call(dave, next(dave), COUNTER, bytes!("01")));
        if round % 8 == 3 {
            // Init code: SSTORE(0, 1), deploys empty code.
            txs.push(create(carol, next(carol), bytes!("600160005500")));
        }
        txs.push(call(dave, next(dave), PROBE, Bytes::new()));
    }
    let n = txs.len();
    let (single, _) = run_with(txs.clone(), 1);
    let (batched, _) = run_with(txs, 1024);
    assert_eq!(single.len(), n, "one mini-block per transaction");
    assert_eq!(batched.len(), 1, "all in one mini-block");

    let outcome = |minis: &[MiniBlock]| {
        minis
            .iter()
            .flat_map(|m| m.txs.iter())
            .map(|t| {
                (
                    t.hash,
                    t.receipt.status(),
                    t.gas_used,
                    t.receipt.logs().to_vec(),
                    t.contract_address,
                )
            })
            .collect::<Vec<_>>()
    };
    let (a, b) = (outcome(&single), outcome(&batched));
    assert_eq!(a.len(), n);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y, "transaction {} differs", x.0);
    }
    // BOB is touched by a transfer right before every probe, in the mini-block before it
    // when each transaction is its own: a probe must still find BOB cold.
    let probe_gas: Vec<u64> = single
        .iter()
        .flat_map(|m| m.txs.iter())
        .filter(|t| alloy_consensus::Transaction::to(&t.envelope) == Some(PROBE))
        .map(|t| t.gas_used)
        .collect();
    assert_eq!(probe_gas.len(), 48);
    assert!(
        probe_gas.iter().all(|&g| g == 21_000 + 3 + 2_600 + 2),
        "BALANCE of BOB must cost the cold 2600: {probe_gas:?}"
    );
    // The state both runs end in.
    let merged = |minis: &[MiniBlock]| {
        let mut diff = peregrine_sequencer::diff::StateDiff::default();
        for m in minis {
            diff.merge(&m.diff.to_state_diff());
        }
        diff
    };
    let (x, y) = (merged(&single), merged(&batched));
    assert_eq!(x, y);
    assert!(
        x.accounts.contains_key(&fresh(1)) && !x.accounts.contains_key(&fresh(0)),
        "funded recipients exist, the empty one does not: {:?}",
        x.accounts.keys().collect::<Vec<_>>()
    );
}
