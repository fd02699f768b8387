//! What ingress accepts, the node keeps: a transaction that would certainly be dropped is
//! refused with the limit that refuses it, not answered with a hash and dropped later.

use crate::node::{BOB, CHAIN_ID, config, eip1559, genesis, signer, wait_included};
use alloy_primitives::{B256, U256};
use alloy_signer_local::PrivateKeySigner;
use peregrine_sequencer::{IngressError, Node, SequencerConfig, TxStatus};
use std::time::{Duration, Instant};

/// An EIP-1559 transfer to Bob.
fn tx(
    signer: &PrivateKeySigner,
    nonce: u64,
    gas: u64,
    max_fee: u128,
    tip: u128,
    value: U256,
) -> Vec<u8> {
    eip1559(signer, CHAIN_ID, nonce, gas, (max_fee, tip), BOB, value)
}

const GWEI: u128 = 1_000_000_000;

fn transfer(signer: &PrivateKeySigner, nonce: u64, max_fee: u128) -> Vec<u8> {
    tx(signer, nonce, 21_000, max_fee, max_fee / 10, U256::from(1))
}

fn start(tweak: impl FnOnce(&mut SequencerConfig)) -> (tempfile::TempDir, Node) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    tweak(&mut cfg);
    let node = Node::start(cfg, &genesis()).unwrap();
    (dir, node)
}

/// Waits (bounded) for `hash`'s status to satisfy `want`.
fn wait_status(node: &Node, hash: B256, what: &str, want: impl Fn(&TxStatus) -> bool) -> TxStatus {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = node.chain().tx_status(&hash).filter(|s| want(s)) {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{hash} never became {what}: {:?}",
            node.chain().tx_status(&hash)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn queued(s: &TxStatus) -> bool {
    matches!(s, TxStatus::Queued { .. })
}

#[test]
fn a_cost_that_wraps_around_2_256_is_refused() {
    let (_dir, node) = start(|_| {});
    // An account nobody funded.
    let empty = PrivateKeySigner::from_bytes(&B256::repeat_byte(0x42)).unwrap();
    let (gas, fee) = (21_000u64, GWEI);
    // gas × fee + value ≡ 0 (mod 2²⁵⁶): with wrapping arithmetic the cost was 0.
    let value = U256::ZERO.wrapping_sub(U256::from(gas) * U256::from(fee));
    let refused = node
        .ingress()
        .submit(&tx(&empty, 0, gas, fee, 0, value))
        .unwrap_err();
    assert_eq!(refused, IngressError::CostOverflow);
    assert!(
        refused.to_string().starts_with("insufficient funds"),
        "{refused}"
    );
    node.shutdown().unwrap();
}

#[test]
fn one_transaction_may_not_ask_for_more_than_max_tx_gas() {
    let (_dir, node) = start(|_| {});
    let alice = signer(0);
    let cap = peregrine_sequencer::config::DEFAULT_MAX_TX_GAS;
    assert_eq!(cap, 16_777_216, "EIP-7825's cap");
    let over = tx(&alice, 0, cap + 1, GWEI, 0, U256::from(1));
    assert_eq!(
        node.ingress().submit(&over).unwrap_err(),
        IngressError::TxGasCap {
            gas: cap + 1,
            limit: cap
        }
    );
    let at = node
        .ingress()
        .submit(&tx(&alice, 0, cap, GWEI, 0, U256::from(1)))
        .unwrap();
    wait_included(&node, at);
    node.shutdown().unwrap();
}

#[test]
fn a_nonce_the_gap_queue_cannot_reach_is_refused() {
    let (_dir, node) = start(|c| c.max_queued_per_sender = 8);
    let alice = signer(1);
    // Next nonce 0, nothing in flight: 1..=7 fit in a queue of 8, 8 does not.
    let err = node
        .ingress()
        .submit(&transfer(&alice, 8, GWEI))
        .unwrap_err();
    assert!(
        matches!(
            err,
            IngressError::NonceTooFarAhead {
                next: 0,
                in_flight: 0,
                nonce: 8,
                limit: 8
            }
        ),
        "{err:?}"
    );
    let held = node.ingress().submit(&transfer(&alice, 7, GWEI)).unwrap();
    wait_status(&node, held, "queued", queued);
    // One more in flight moves the reach by one.
    node.ingress().submit(&transfer(&alice, 8, GWEI)).unwrap();
    // Closing the gap executes everything.
    for nonce in 0..7 {
        node.ingress()
            .submit(&transfer(&alice, nonce, GWEI))
            .unwrap();
    }
    wait_included(&node, held);
    node.shutdown().unwrap();
}

#[test]
fn a_sender_may_have_only_so_many_transactions_in_flight() {
    let (_dir, node) = start(|c| c.max_inflight_per_sender = 3);
    let alice = signer(2);
    for nonce in 1..=3 {
        node.ingress()
            .submit(&transfer(&alice, nonce, GWEI))
            .unwrap();
    }
    let err = node
        .ingress()
        .submit(&transfer(&alice, 4, GWEI))
        .unwrap_err();
    assert_eq!(
        err,
        IngressError::SenderBusy {
            in_flight: 3,
            limit: 3
        }
    );
    // Another sender is not affected.
    node.ingress()
        .submit(&transfer(&signer(3), 0, GWEI))
        .unwrap();
    node.shutdown().unwrap();
}

#[test]
fn replacing_a_held_transaction_needs_a_ten_percent_bump() {
    let (_dir, node) = start(|_| {});
    let alice = signer(4);
    let first = node.ingress().submit(&transfer(&alice, 1, GWEI)).unwrap();
    wait_status(&node, first, "queued", queued);
    // Same nonce, other value, same fees: underpriced.
    let same_fees = tx(&alice, 1, 21_000, GWEI, GWEI / 10, U256::from(2));
    assert_eq!(
        node.ingress().submit(&same_fees).unwrap_err(),
        IngressError::ReplacementUnderpriced { bump_percent: 10 }
    );
    // Only the fee cap raised: still underpriced.
    let cap_only = tx(&alice, 1, 21_000, GWEI * 2, GWEI / 10, U256::from(2));
    assert!(node.ingress().submit(&cap_only).is_err());
    let bumped = node
        .ingress()
        .submit(&transfer(&alice, 1, GWEI * 11 / 10))
        .unwrap();
    let TxStatus::Dropped { reason } = wait_status(&node, first, "dropped", |s| {
        matches!(s, TxStatus::Dropped { .. })
    }) else {
        unreachable!()
    };
    assert!(reason.contains("replaced"), "{reason}");
    node.ingress().submit(&transfer(&alice, 0, GWEI)).unwrap();
    wait_included(&node, bumped);
    assert!(
        node.chain()
            .reader()
            .unwrap()
            .tx_location(&first)
            .unwrap()
            .is_none()
    );
    node.shutdown().unwrap();
}

#[test]
fn a_full_gap_queue_makes_room_from_the_sender_holding_the_most() {
    let (_dir, node) = start(|c| c.max_queued_total = 4);
    let (hog, other) = (signer(5), signer(6));
    let hogged: Vec<B256> = (1..=4)
        .map(|nonce| node.ingress().submit(&transfer(&hog, nonce, GWEI)).unwrap())
        .collect();
    for &h in &hogged {
        wait_status(&node, h, "queued", queued);
    }
    // The queue is full; another sender's gapped transaction still gets a place.
    let theirs = node.ingress().submit(&transfer(&other, 1, GWEI)).unwrap();
    wait_status(&node, theirs, "queued", queued);
    let TxStatus::Dropped { reason } = wait_status(&node, hogged[3], "dropped", |s| {
        matches!(s, TxStatus::Dropped { .. })
    }) else {
        unreachable!()
    };
    assert!(reason.contains("evicted"), "{reason}");
    // The other sender's gap closes and it executes.
    let first = node.ingress().submit(&transfer(&other, 0, GWEI)).unwrap();
    wait_included(&node, first);
    wait_included(&node, theirs);
    node.shutdown().unwrap();
}
