//! Replicas (Peregrine only): `peregrine replica` follows a real sequencer's replication
//! stream, applies it without executing and must end up with the same chain, hash for
//! hash, serving the same JSON-RPC to real clients (cast), forwarding writes, surviving
//! SIGKILL and sequencer restarts, refusing every forgery a tampering proxy makes of the
//! real stream, and re-serving the sequencer's own signatures to a replica of its own.

use std::time::Duration;

use peregrine_tests::proxy::{Tamper, TamperProxy};
use peregrine_tests::util::{as_str, hex_quantity, lower};
use peregrine_tests::ws::WsClient;
use peregrine_tests::{Node, NodeOptions, Target, dev, skip_on_anvil, wait_until};
use serde_json::{Value, json};

use crate::common::{assert_success, deploy_counter, send_value};

/// Block time of the sequencers under test.
const BLOCK_TIME: &str = "300ms";

fn sequencer() -> Node {
    Node::start_opts(Target::Peregrine, NodeOptions::block_time(BLOCK_TIME))
}

/// The sequencer's newest sealed block (`safe`).
fn sealed_head(node: &Node) -> u64 {
    let block = node
        .rpc()
        .call("eth_getBlockByNumber", json!(["safe", false]))
        .expect("safe block");
    hex_quantity(&block["number"]) as u64
}

/// Waits until `replica` has sealed block `n`.
#[track_caller]
fn wait_sealed(replica: &Node, n: u64) {
    wait_until(
        &format!("the replica on port {} to seal block {n}", replica.port()),
        Duration::from_secs(30),
        Duration::from_millis(50),
        || Some(()).filter(|()| sealed_head(replica) >= n),
    );
}

/// Asserts `a` and `b` serve blocks `0..=to` identically (full blocks, with
/// transactions), and the receipts of every transaction in them.
#[track_caller]
fn assert_same_chain(a: &Node, b: &Node, to: u64) {
    let mut txs = 0;
    for n in 0..=to {
        let q = json!([format!("{n:#x}"), true]);
        let ours = a.rpc().call("eth_getBlockByNumber", q.clone()).unwrap();
        let theirs = b.rpc().call("eth_getBlockByNumber", q).unwrap();
        assert_eq!(
            ours,
            theirs,
            "block {n} differs between ports {} and {}",
            a.port(),
            b.port()
        );
        for tx in ours["transactions"].as_array().unwrap() {
            let hash = as_str(&tx["hash"]);
            let r1 = a
                .rpc()
                .call("eth_getTransactionReceipt", json!([hash]))
                .unwrap();
            let r2 = b
                .rpc()
                .call("eth_getTransactionReceipt", json!([hash]))
                .unwrap();
            assert_eq!(r1, r2, "receipt of {hash}");
            txs += 1;
        }
    }
    let logs = json!([{"fromBlock": "0x0", "toBlock": format!("{to:#x}")}]);
    assert_eq!(
        a.rpc().call("eth_getLogs", logs.clone()).unwrap(),
        b.rpc().call("eth_getLogs", logs).unwrap(),
        "logs of blocks 0..={to}"
    );
    println!(
        "ports {} and {}: blocks 0..={to} and {txs} receipts identical",
        a.port(),
        b.port()
    );
}

/// `n` transfers from dev account `from`, sent without waiting.
fn send_async(node: &Node, from: usize, n: usize) -> Vec<String> {
    let cast = node.cast();
    (0..n)
        .map(|i| {
            lower(
                cast.ok(&[
                    "send",
                    "--async",
                    "--private-key",
                    dev(from).private_key,
                    dev(9).address,
                    "--value",
                    &(1000 + i).to_string(),
                ])
                .trim(),
            )
        })
        .collect()
}

#[test]
fn a_replica_serves_the_sequencers_chain_and_forwards_writes() {
    if skip_on_anvil("replicas are Peregrine's") {
        return;
    }
    let seq = sequencer();
    let r1 = Node::replica_of(&seq.ws_url(), &[]);
    // A replica of the replica: the fan-out tree.
    let r2 = Node::replica_of(&r1.ws_url(), &[]);

    // Writes through the replica: a deployment, calls with logs, transfers; cast waits
    // for each receipt on the replica.
    let counter = deploy_counter(&r1, dev(1), 5);
    for _ in 0..3 {
        let receipt = r1.cast().json(&[
            "send",
            "--private-key",
            dev(2).private_key,
            &counter.address,
            "increment()",
            "--json",
        ]);
        assert_success(&receipt);
        assert_eq!(receipt["logs"].as_array().unwrap().len(), 1, "{receipt}");
    }
    assert_success(&send_value(&r1.cast(), dev(3), dev(9).address, 7));
    // And straight to the sequencer.
    let sent = send_async(&seq, 4, 5);

    // eth_sendRawTransactionSync through the replica answers with the sequencer's
    // signed preconfirmation.
    let raw = r1.cast().ok(&[
        "mktx",
        "--private-key",
        dev(5).private_key,
        dev(9).address,
        "--value",
        "9",
    ]);
    let answer = r1
        .rpc()
        .call("eth_sendRawTransactionSync", json!([raw.trim()]))
        .expect("forwarded sync send");
    assert_success(&answer);
    let message = &answer["preconfirmation"]["typedData"]["message"];
    assert_eq!(message["chainId"], json!(901), "{answer}");
    let verified = peregrine_tests::preconf::verify_file(
        tempfile::tempdir().unwrap().path(),
        "forwarded.json",
        &answer,
        Some(peregrine_tests::preconf::DEV_SEQUENCER_ADDRESS),
    );
    assert_eq!(
        peregrine_tests::preconf::exit_code(&verified),
        Some(0),
        "the forwarded preconfirmation verifies: {verified:?}"
    );
    // A refused write comes back with the sequencer's error: "already known" while the
    // transaction is in flight, "nonce too low" once its block is sealed (geth answers
    // the same two ways, pool then chain); which one depends on when the seal falls.
    let err = r1
        .rpc()
        .call("eth_sendRawTransaction", json!([raw.trim()]))
        .expect_err("a duplicate");
    assert!(
        err.message.contains("known") || err.message.contains("nonce too low"),
        "{err}"
    );

    // Every transaction sealed, on all three.
    for hash in &sent {
        wait_until(
            "the sequencer to seal the direct transfers",
            Duration::from_secs(20),
            Duration::from_millis(50),
            || {
                let r = seq
                    .rpc()
                    .call("eth_getTransactionReceipt", json!([hash]))
                    .ok()?;
                Some(()).filter(|()| !r.is_null())
            },
        );
    }
    std::thread::sleep(Duration::from_millis(700));
    let head = sealed_head(&seq);
    wait_sealed(&r1, head);
    wait_sealed(&r2, head);
    assert_same_chain(&seq, &r1, head);
    assert_same_chain(&seq, &r2, head);

    // The same state, read through cast.
    for node in [&r1, &r2] {
        let cast = node.cast();
        for who in [dev(1).address, dev(2).address, dev(9).address] {
            assert_eq!(
                cast.ok(&["balance", who]),
                seq.cast().ok(&["balance", who]),
                "balance of {who}"
            );
            assert_eq!(cast.ok(&["nonce", who]), seq.cast().ok(&["nonce", who]));
        }
        assert_eq!(
            cast.ok(&["call", &counter.address, "count()(uint256)"])
                .trim(),
            "8",
            "5 + 3 increments, read by eth_call on the replica"
        );
        assert_eq!(
            cast.ok(&["storage", &counter.address, "0"]),
            seq.cast().ok(&["storage", &counter.address, "0"])
        );
    }

    // The feeds a replica re-serves are the sequencer's: its signatures, byte for byte.
    let records = |node: &Node| -> Vec<Value> {
        let (mut ws, _) = WsClient::connect(node.port(), 1024);
        let sub = ws.subscribe(json!(["miniBlocks", {"fromMiniBlock": 0}]));
        (0..5)
            .map(|_| {
                ws.next_notification(&sub, Duration::from_secs(10), "a record")
                    .json["result"]
                    .clone()
            })
            .collect()
    };
    let theirs = records(&seq);
    assert_eq!(
        records(&r2),
        theirs,
        "records re-served by a replica's replica"
    );
    assert_eq!(
        r2.rpc().call("preconf_sequencer", json!([])).unwrap(),
        seq.rpc().call("preconf_sequencer", json!([])).unwrap()
    );
}

#[test]
fn a_replica_resumes_after_sigkill_and_follows_sequencer_restarts() {
    if skip_on_anvil("replicas are Peregrine's") {
        return;
    }
    let mut seq = sequencer();
    let mut replica = Node::replica_of(&seq.ws_url(), &[]);
    let check = |seq: &Node, replica: &Node, what: &str| {
        std::thread::sleep(Duration::from_millis(700));
        let head = sealed_head(seq);
        wait_sealed(replica, head);
        assert_same_chain(seq, replica, head);
        println!("{what}: same chain up to block {head}");
    };
    send_async(&seq, 1, 10);
    check(&seq, &replica, "before any kill");

    // SIGKILL the replica while the chain goes on; it resumes from its own datadir.
    for round in 0..3 {
        send_async(&seq, 1, 5);
        replica.kill_hard();
        send_async(&seq, 2, 5);
        replica.restart();
        check(&seq, &replica, &format!("replica killed, round {round}"));
    }

    // The sequencer killed and restarted (same port and datadir): the replica reconnects.
    send_async(&seq, 3, 5);
    seq.kill_hard();
    seq.restart();
    send_async(&seq, 3, 5);
    check(&seq, &replica, "sequencer killed");
    seq.stop();
    seq.restart();
    send_async(&seq, 4, 5);
    check(&seq, &replica, "sequencer stopped cleanly");
    let log = replica.log();
    assert!(
        log.contains("replication stream interrupted"),
        "the replica saw the sequencer go away"
    );
}

/// Starts a sequencer and a replica following it through a proxy doing `tamper`, sends
/// transfers, and checks the replica refuses the forged item with one of `reasons` and
/// never serves it; then the proxy turns honest and the replica catches up, hash for hash.
fn refuses(tamper: Tamper, reasons: &[&str], forged_tx_unseen: bool) {
    if skip_on_anvil("replicas are Peregrine's") {
        return;
    }
    let seq = sequencer();
    let proxy = TamperProxy::start(seq.port(), tamper);
    let replica = Node::replica_of(&proxy.ws_url(), &[]);
    let sent = send_async(&seq, 1, 3);
    let reason = wait_until(
        &format!("the replica to refuse {tamper:?}"),
        Duration::from_secs(20),
        Duration::from_millis(50),
        || {
            let log = replica.log();
            reasons
                .iter()
                .find(|r| log.contains(&format!(r#""reason":"{r}""#)))
                .copied()
        },
    );
    println!("{tamper:?} refused: {reason}");
    if forged_tx_unseen {
        // The forged mini-block holds the first transfer: never served, however often
        // the replica asks again.
        std::thread::sleep(Duration::from_millis(500));
        for method in ["eth_getTransactionReceipt", "eth_getTransactionByHash"] {
            assert_eq!(
                replica.rpc().call(method, json!([sent[0]])).unwrap(),
                Value::Null,
                "{method} of the forged mini-block's transaction"
            );
        }
        let receipt = wait_until(
            "the sequencer's receipt of the first transfer",
            Duration::from_secs(10),
            Duration::from_millis(20),
            || {
                let r = seq
                    .rpc()
                    .call("eth_getTransactionReceipt", json!([sent[0]]))
                    .ok()?;
                Some(r).filter(|r| !r.is_null())
            },
        );
        let block = hex_quantity(&receipt["blockNumber"]) as u64;
        assert!(
            sealed_head(&replica) < block,
            "the replica sealed block {block}, which holds the forged mini-block"
        );
    }
    proxy.set(Tamper::Honest);
    std::thread::sleep(Duration::from_millis(700));
    let head = sealed_head(&seq);
    wait_sealed(&replica, head);
    assert_same_chain(&seq, &replica, head);
}

#[test]
fn a_replica_refuses_a_bad_signature() {
    refuses(Tamper::BadSignature, &["bad_signature"], true);
}

#[test]
fn a_replica_refuses_a_changed_balance_in_a_diff() {
    refuses(Tamper::RicherDiff, &["root_mismatch"], true);
}

#[test]
fn a_replica_refuses_a_dropped_mini_block() {
    refuses(Tamper::Drop, &["wrong_number", "seal_mismatch"], true);
}

#[test]
fn a_replica_refuses_two_swapped_mini_blocks() {
    refuses(Tamper::Swap, &["wrong_number", "seal_mismatch"], true);
}

#[test]
fn a_replica_refuses_a_replayed_mini_block() {
    // The genuine first copy is applied; the replay is refused.
    refuses(Tamper::Replay, &["wrong_number"], false);
}

#[test]
fn a_replica_refuses_a_forged_seal() {
    refuses(Tamper::ForgedSeal, &["bad_signature"], false);
}

#[test]
fn viem_and_ethers_work_against_a_replica() {
    if skip_on_anvil("replicas are Peregrine's") {
        return;
    }
    let seq = sequencer();
    let replica = Node::replica_of(&seq.ws_url(), &[]);
    // viem: deployment, reads, reverts with reasons and custom errors, logs, blocks, fees.
    peregrine_tests::js::checked_script("e2e.mjs", &[&replica.url()]);
    // viem and ethers v6: ten sends in a row each (every nonce read back from the replica
    // right after the previous send), receipts across the seal, block watchers.
    peregrine_tests::js::checked_script("realtime.mjs", &["check", &replica.url()]);
    std::thread::sleep(Duration::from_millis(700));
    let head = sealed_head(&seq);
    wait_sealed(&replica, head);
    assert_same_chain(&seq, &replica, head);
}

#[test]
fn a_replicas_subscriptions_follow_the_stream() {
    if skip_on_anvil("replicas are Peregrine's") {
        return;
    }
    let seq = sequencer();
    let replica = Node::replica_of(&seq.ws_url(), &[]);
    let counter = deploy_counter(&replica, dev(1), 0);
    let (mut ws, _) = WsClient::connect(replica.port(), 1 << 20);
    let logs = ws.subscribe(json!(["logs", {"address": counter.address}]));
    let heads = ws.subscribe(json!(["newHeads"]));
    let receipt = replica.cast().json(&[
        "send",
        "--private-key",
        dev(2).private_key,
        &counter.address,
        "increment()",
        "--json",
    ]);
    assert_success(&receipt);
    let mut log = None;
    let mut head = None;
    while log.is_none() || head.is_none() {
        let msg = ws.next(Duration::from_secs(10)).expect("a notification");
        let params = &msg.json["params"];
        if params["subscription"] == json!(logs) {
            log = Some(params["result"].clone());
        } else if params["subscription"] == json!(heads) {
            head = Some(params["result"].clone());
        }
    }
    let log = log.unwrap();
    assert_eq!(log["transactionHash"], receipt["transactionHash"], "{log}");
    assert_eq!(log["blockNumber"], receipt["blockNumber"]);
    assert_eq!(log["topics"], receipt["logs"][0]["topics"]);
    let head = head.unwrap();
    let sealed = seq
        .rpc()
        .call("eth_getBlockByNumber", json!([head["number"], false]))
        .unwrap();
    assert_eq!(
        head["hash"], sealed["hash"],
        "newHeads on the replica: the sequencer's blocks"
    );
}

/// `peregrine-loadtest` sending 300 tx/s of ETH and ERC-20 transfers to `node` for `secs`.
fn load(node: &Node, secs: u64) -> std::process::Child {
    std::process::Command::new(peregrine_tests::node::loadtest_bin())
        .args(["--rpc", &node.ws_url(), "--rate", "300", "--accounts", "16"])
        .args([
            "--mix",
            "eth=50,erc20=50",
            "--duration",
            &format!("{secs}s"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start peregrine-loadtest")
}

/// Every stored mini-block record of `node` from 0 up to `upto` (exclusive), through its
/// `miniBlocks` feed: what it promises to re-serve.
fn records_upto(node: &Node, upto: u64) -> Vec<Value> {
    let (mut ws, _) = WsClient::connect(node.port(), 1 << 22);
    let sub = ws.subscribe(json!(["miniBlocks", {"fromMiniBlock": 0}]));
    (0..upto)
        .map(|n| {
            let r = ws
                .next_notification(&sub, Duration::from_secs(20), "a record")
                .json["result"]
                .clone();
            assert_eq!(
                r["header"]["miniBlockNumber"],
                json!(n),
                "no gap, no duplicate"
            );
            r
        })
        .collect()
}

/// Chaos under load: the replica is SIGKILLed and its connection cut at random moments
/// (`PEREGRINE_CHAOS_ROUNDS` of each, default 10; `scripts/replica-chaos.sh` runs
/// 100), while `peregrine-loadtest` sends transfers and ERC-20 transfers to the sequencer.
/// Afterwards: every block hash, and every mini-block record (no gap, no duplicate), equal
/// to the sequencer's. The seed is printed (`PEREGRINE_CHAOS_SEED` repeats it).
#[test]
fn replica_chaos_kills_and_cuts_under_load() {
    if skip_on_anvil("replicas are Peregrine's") {
        return;
    }
    let rounds: u64 = std::env::var("PEREGRINE_CHAOS_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let seed = std::env::var("PEREGRINE_CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(peregrine_tests::util::SplitMix64::seed_from_clock);
    println!("chaos: {rounds} kills and {rounds} cuts, seed {seed}");
    let mut rng = peregrine_tests::util::SplitMix64::new(seed);
    let seq = sequencer();
    let proxy = TamperProxy::start(seq.port(), Tamper::Honest);
    // Durable after every block: a replica killed every few hundred milliseconds keeps
    // what it applied (with the default 8 blocks, each restart would begin again from
    // genesis, and catching up would outlast the run).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("replica.toml");
    std::fs::write(&config, "[replica]\ncheckpoint-blocks = 1\n").unwrap();
    let config = config.to_string_lossy().into_owned();
    let mut replica = Node::replica_of(&proxy.ws_url(), &["--config", &config]);
    let load_secs = 5 + rounds * 6 / 10;
    let mut load = std::process::Command::new(peregrine_tests::node::loadtest_bin())
        .args(["--rpc", &seq.ws_url(), "--rate", "300", "--accounts", "16"])
        .args([
            "--mix",
            "eth=50,erc20=50",
            "--duration",
            &format!("{load_secs}s"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start peregrine-loadtest");
    let (mut kills, mut cuts) = (0, 0);
    for _ in 0..rounds {
        std::thread::sleep(Duration::from_millis(rng.range(50, 400)));
        replica.kill_hard();
        replica.restart();
        kills += 1;
        std::thread::sleep(Duration::from_millis(rng.range(50, 400)));
        cuts += proxy.cut();
    }
    let status = load.wait().expect("the load ends by itself");
    assert!(status.success(), "peregrine-loadtest: {status}");
    std::thread::sleep(Duration::from_millis(700));
    let head = sealed_head(&seq);
    wait_until(
        &format!("the replica to catch up to block {head}"),
        Duration::from_secs(120),
        Duration::from_millis(100),
        || Some(()).filter(|()| sealed_head(&replica) >= head),
    );
    for n in 0..=head {
        let q = json!([format!("{n:#x}"), false]);
        assert_eq!(
            seq.rpc().call("eth_getBlockByNumber", q.clone()).unwrap(),
            replica.rpc().call("eth_getBlockByNumber", q).unwrap(),
            "block {n}"
        );
    }
    let sealed = seq
        .rpc()
        .call("eth_getBlockByNumber", json!([format!("{head:#x}"), false]))
        .unwrap();
    assert_eq!(hex_quantity(&sealed["number"]), u128::from(head));
    let upto = {
        let (mut ws, _) = WsClient::connect(seq.port(), 1 << 20);
        // The first mini-block of the open block: every record before it is sealed.
        let sub = ws.subscribe(json!(["miniBlocks", {"version": 2, "fromBlock": head + 1}]));
        let first = ws
            .next_notification(&sub, Duration::from_secs(20), "an item")
            .json;
        let item = &first["result"];
        item["miniBlock"]["record"]["header"]["miniBlockNumber"]
            .as_u64()
            .or_else(|| item["seal"]["nextMiniBlock"].as_u64())
            .expect("a mini-block or a seal")
    };
    assert_eq!(records_upto(&replica, upto), records_upto(&seq, upto));
    println!(
        "chaos: {kills} kills, {cuts} connections cut; blocks 0..={head} and mini-blocks \
         0..{upto} identical"
    );
}

/// A replica stopped with SIGTERM while it applies a busy open block exits cleanly (its
/// last sealed blocks made durable, the open block's mini-blocks left to the stream) and,
/// restarted, catches up to the same chain. Three stops at random moments of the load:
/// most land with many mini-blocks of the open block already written ahead and blocks
/// not yet durable, which once made the stop wait for itself forever.
#[test]
fn a_replica_stops_cleanly_under_load() {
    if skip_on_anvil("replicas are Peregrine's") {
        return;
    }
    let seed = peregrine_tests::util::SplitMix64::seed_from_clock();
    println!("seed {seed}");
    let mut rng = peregrine_tests::util::SplitMix64::new(seed);
    let seq = sequencer();
    let mut replica = Node::replica_of(&seq.ws_url(), &[]);
    let mut load = load(&seq, 8);
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(rng.range(800, 1800)));
        let status = replica.stop();
        assert!(status.success(), "the replica exits 0 on SIGTERM: {status}");
        replica.restart();
    }
    assert!(load.wait().expect("the load ends").success());
    std::thread::sleep(Duration::from_millis(700));
    let head = sealed_head(&seq);
    wait_sealed(&replica, head);
    assert_same_chain(&seq, &replica, head);
}

/// `rpc.max-replication-streams` is enforced: one more replication stream than allowed is
/// refused with `-32005`; one ended frees its slot.
#[test]
fn replication_streams_are_bounded() {
    if skip_on_anvil("the replication stream is Peregrine's") {
        return;
    }
    let (_dir, node) = crate::common::node_with_config("[rpc]\nmax-replication-streams = 1\n");
    let params = json!(["miniBlocks", {"version": 2, "fromMiniBlock": 0, "fromBlock": 1}]);
    let (mut first, _) = WsClient::connect(node.port(), 1 << 20);
    first.subscribe(params.clone());
    let (mut second, _) = WsClient::connect(node.port(), 1 << 20);
    let refused = second.call("eth_subscribe", params.clone());
    assert_eq!(refused["error"]["code"], json!(-32005), "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rpc.max-replication-streams"),
        "{refused}"
    );
    drop(first);
    wait_until(
        "the first stream's slot to free",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || {
            let answer = second.call("eth_subscribe", params.clone());
            answer["result"].as_str().map(str::to_owned)
        },
    );
}
