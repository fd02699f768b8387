//! `eth_subscribe` feeds of mini-blocks (Peregrine only): gap-free resume with
//! `fromMiniBlock`, replay from redb after a restart, a stalled consumer that must not
//! delay anyone, the bound `rpc.subscription-buffer` puts on what is held for it,
//! `stateChanges` and `logs` before the block is sealed. The clients are WebSocket
//! connections from node (`ws`, viem) in `tests/js/preconf-e2e.mjs`, and one from Rust
//! with a fixed receive buffer (`peregrine_tests::ws`).

use std::time::Duration;

use peregrine_tests::util::as_str;
use peregrine_tests::ws::WsClient;
use peregrine_tests::{Node, NodeOptions, skip_on_anvil};
use serde_json::{Value, json};

use crate::common::node_with_config;
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

/// `rpc.subscription-buffer` is enforced: it bounds what the server holds for a connection
/// that stopped reading, and the subscriber is then told and closed.
///
/// A node with a buffer of 64 notifications and a 300 ms slow-subscriber timeout. A socket
/// with a 4 KiB receive buffer (no autotuning) subscribes to `miniBlocks` and stops reading,
/// while `biglogs` sends 120 calls that each log 100 kB, so each notification is ~200 kB
/// and the kernel's buffers hold only a dozen or so. When it reads again, it must get
/// consecutive mini-blocks, then the error naming `fromMiniBlock` = the next one, and:
/// - at least 64 notifications (the server buffered as many as configured);
/// - no more than 64 + 1 (the one being written) + what fits in the kernel's buffers:
///   the server socket's send buffer (at most `tcp_wmem`'s maximum, as it autotunes) plus
///   the client's receive buffer. With the default buffer (1 024) nothing would be closed.
///
/// Resubscribing from that number on a new connection gives exactly the rest.
#[test]
fn subscription_buffer_bounds_what_a_stalled_connection_holds() {
    if skip_on_anvil("mini-block feeds are Peregrine's") {
        return;
    }
    const BUFFER: usize = 64;
    let (_config, node) = node_with_config(&format!(
        "[rpc]\nsubscription-buffer = {BUFFER}\nslow-subscriber-timeout = \"300ms\"\n"
    ));
    let (mut stalled, recv_buffer) = WsClient::connect(node.port(), 4096);
    let sub = stalled.subscribe(json!(["miniBlocks"]));

    let sent = scenario(
        &node,
        "biglogs",
        &["120", "100000"],
        Duration::from_secs(300),
    );
    let first = sent["deployMini"].as_u64().expect("deployMini");
    let last = sent["minis"]
        .as_array()
        .and_then(|m| m.last())
        .and_then(Value::as_u64)
        .expect("minis");
    // Past the slow-subscriber timeout since the last notification was queued.
    std::thread::sleep(Duration::from_secs(1));

    let mut numbers = Vec::new();
    let mut sizes = Vec::new();
    let error = loop {
        let msg = stalled.next_notification(
            &sub,
            Duration::from_secs(20),
            "the stalled connection gets its notifications, then an error",
        );
        let params = &msg.json;
        if let Some(error) = params.get("error") {
            break error.to_string();
        }
        let number = params["result"]["header"]["miniBlockNumber"].as_u64();
        numbers.push(number.expect("a miniBlocks notification has a header number"));
        sizes.push(msg.len);
    };
    let n = numbers.len();
    let expected: Vec<u64> = (first..first + n as u64).collect();
    assert_eq!(
        numbers, expected,
        "consecutive mini-blocks from the first one sent"
    );
    let resume_at = error
        .split("fromMiniBlock = ")
        .nth(1)
        .and_then(|rest| rest.trim_end_matches('"').parse::<u64>().ok())
        .unwrap_or_else(|| panic!("the error names where to resume: {error}"));
    assert_eq!(
        resume_at,
        first + n as u64,
        "resume just after the last one: {error}"
    );
    assert!(
        resume_at <= last,
        "closed before the end ({resume_at} > {last})"
    );

    assert!(
        n >= BUFFER,
        "{n} notifications before the error: fewer than the buffer of {BUFFER}"
    );
    let wmem_max = tcp_wmem_max();
    let in_kernel: usize = sizes[..n.saturating_sub(BUFFER + 1)].iter().sum();
    println!(
        "{n} notifications of {}..{} bytes before the error; {in_kernel} bytes beyond the \
         buffer (send buffer cap {wmem_max}, receive buffer {recv_buffer})",
        sizes.iter().min().unwrap_or(&0),
        sizes.iter().max().unwrap_or(&0),
    );
    assert!(
        in_kernel <= wmem_max + recv_buffer,
        "{n} notifications arrived: beyond {BUFFER} + 1, {in_kernel} bytes, more than the \
         kernel's buffers could hold ({wmem_max} + {recv_buffer}): the server buffered more \
         than rpc.subscription-buffer"
    );

    let (mut resumed, _) = WsClient::connect(node.port(), 1 << 20);
    let sub = resumed.subscribe(json!(["miniBlocks", {"fromMiniBlock": resume_at}]));
    for want in resume_at..=last {
        let what = format!("mini-block {want} after resuming");
        let msg = resumed.next_notification(&sub, Duration::from_secs(20), &what);
        assert_eq!(
            msg.json["result"]["header"]["miniBlockNumber"].as_u64(),
            Some(want),
            "resumed feed: {}",
            msg.json
        );
    }
}

/// The largest send buffer TCP autotuning gives a socket (`net.ipv4.tcp_wmem`'s third value).
fn tcp_wmem_max() -> usize {
    let text = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem").expect("read tcp_wmem");
    text.split_whitespace()
        .nth(2)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("tcp_wmem: {text}"))
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
/// its block is open, naming the block view its receipt names (the receipt read then
/// carries the same log), with the logs hash the preconfirmation commits to; after the
/// seal, `eth_getLogs` returns the same log under the sealed block's hash.
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

/// A transaction that was answered with a hash and then dropped (here: its nonce gap
/// never closed) is announced on the `preconfirmations` feed, not only in
/// `peregrine_getTransactionStatus`.
#[test]
fn preconfirmations_announce_a_dropped_transaction() {
    if peregrine_tests::skip_on_anvil("Peregrine's preconfirmations feed") {
        return;
    }
    let (_config, node) = crate::common::node_with_config("[sequencer]\nnonce-hold = \"200ms\"\n");
    let alice = peregrine_tests::dev(5);
    let (mut ws, _) = peregrine_tests::ws::WsClient::connect(node.port(), 1 << 20);
    let sub = ws.subscribe(json!(["preconfirmations", {"from": [alice.address]}]));
    // Nonce 1 while the next is 0: held for the gap, then dropped.
    let raw =
        crate::preconf::sign_transfer(alice.private_key, 1, peregrine_tests::dev(6).address, "1").0;
    let hash = node.rpc().request("eth_sendRawTransaction", json!([raw]));
    let item = ws.next_notification(&sub, Duration::from_secs(10), "the drop notice");
    assert_eq!(
        item.json["result"]["transactionHash"], hash,
        "{}",
        item.json
    );
    let reason = item.json["result"]["dropped"]["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(reason.starts_with("nonce gap"), "{}", item.json);
    let status = node
        .rpc()
        .request("peregrine_getTransactionStatus", json!([hash]));
    assert_eq!(status["status"], json!("dropped"), "{status}");
}
