//! `eth_subscribe` feeds of mini-blocks (Peregrine only): gap-free resume with
//! `fromMiniBlock`, replay from redb after a restart, a stalled consumer that must not
//! delay anyone, `stateChanges` and `logs` before the block is sealed. The clients are
//! WebSocket connections from node (`ws`, viem) in `tests/js/preconf-e2e.mjs`.

use std::time::Duration;

use peregrine_tests::util::as_str;
use peregrine_tests::{Node, NodeOptions, skip_on_anvil};

use crate::preconf::scenario;

/// Test 5. Subscribe to `miniBlocks`, receive some, disconnect, send more while
/// disconnected, resubscribe with `fromMiniBlock = last + 1` while more keep coming: exactly
/// the missed mini-blocks, then the live ones, consecutive, each `parentHash` the previous
/// `hash`, each signed by the sequencer, no duplicate. Then SIGTERM, restart on the same
/// datadir: `fromMiniBlock: 0` replays the same history from redb (same numbers, hashes,
/// transactions), an old preconfirmation is still served, and the next mini-block continues
/// the chain (number and `parentHash`) on the same subscription.
#[test]
fn mini_blocks_resume_without_gap_and_replay_after_restart() {
    if skip_on_anvil("mini-blocks are Peregrine's") {
        return;
    }
    let mut node = Node::from_env();
    let before = scenario(&node, "resume", &[], Duration::from_secs(180));
    let records = before["records"].as_array().expect("records");
    assert!(
        records.len() >= 25,
        "25 transactions, one mini-block each: {before}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("history.json");
    std::fs::write(&file, before.to_string()).expect("write history");
    let status = node.restart().expect("node was running");
    assert!(status.success(), "SIGTERM exit status {status}");

    let after = scenario(
        &node,
        "replay",
        &[&file.display().to_string()],
        Duration::from_secs(180),
    );
    assert_eq!(after["replayed"].as_u64(), Some(records.len() as u64));
    assert_eq!(
        as_str(&records[0]["hash"]).len(),
        66,
        "hashes are 32-byte hex"
    );
}

/// Test 6. One WebSocket subscribes (sixteen `miniBlocks` subscriptions sharing its buffer)
/// and then stops reading. Eight other senders push 1000 transfers with
/// `eth_sendRawTransactionSync`, consecutive nonces each: every one must get a valid
/// preconfirmation (signature, proofs), `preconf_getPreconfirmation` must serve the same
/// one, and a healthy subscriber must see every mini-block in order with nothing closed.
/// When the stalled socket reads again it receives what was buffered, consecutive, then
/// for each subscription an error notification naming `fromMiniBlock = N` just after its
/// last item; resubscribing from N yields exactly the rest. No latency is asserted.
#[test]
fn stalled_subscriber_does_not_delay_others() {
    if skip_on_anvil("mini-block feeds are Peregrine's") {
        return;
    }
    let node = Node::from_env();
    let res = scenario(&node, "stalled", &["1000", "16"], Duration::from_secs(540));
    let last = res["lastMini"].as_u64().expect("lastMini");
    for n in res["resumeAt"].as_array().expect("resumeAt") {
        assert!(
            n.as_u64().expect("number") <= last,
            "the stalled subscriptions overflowed before the end: {res}"
        );
    }
}

/// A consumer that was away resumes with `fromMiniBlock` and reads as fast as it can: the
/// whole backlog (1500 one-transaction mini-blocks, then 2000 transactions in large
/// mini-blocks) must arrive on one subscription, for `miniBlocks` and `preconfirmations`,
/// and following the resume hints must never repeat a preconfirmation.
#[test]
fn fast_consumer_catches_up_a_long_backlog() {
    if skip_on_anvil("mini-block feeds are Peregrine's") {
        return;
    }
    let node = Node::from_env();
    scenario(
        &node,
        "backlog",
        &["1500", "2000"],
        Duration::from_secs(300),
    );
}

/// Test 7 (5 s blocks, so sealing comes late). Right after a seal, a transfer and a
/// `Counter.increment`: `stateChanges` for [bob, counter] reports bob's new balance (equal to
/// `eth_getBalance(pending)`) and the counter's slot 0 = 11, with the preconfirmation's
/// mini-block and the pending block number; `logs` delivers `Incremented(alice, 11)` while
/// `eth_blockNumber` is still below its `blockNumber` and `eth_getTransactionReceipt` is
/// still null, with the mini-block hash as `blockHash` and the logs hash the
/// preconfirmation commits to; after the seal, `eth_getLogs` returns the same log.
#[test]
fn state_changes_and_logs_arrive_before_the_seal() {
    if skip_on_anvil("stateChanges and pre-seal logs are Peregrine's") {
        return;
    }
    let node = Node::from_env_opts(NodeOptions::block_time("5s"));
    let res = scenario(&node, "statelogs", &[], Duration::from_secs(180));
    assert!(
        res["headAtLog"].as_u64() < res["pendingBlock"].as_u64(),
        "{res}"
    );
}

/// `eth_subscribe` with an unknown kind or bad params answers -32602 and leaves the
/// connection usable (subscribe, unsubscribe, a plain call).
#[test]
fn subscribe_with_bad_params_is_invalid_params() {
    if skip_on_anvil("Peregrine's subscription kinds") {
        return;
    }
    let node = Node::from_env();
    scenario(&node, "subparams", &[], Duration::from_secs(60));
}
