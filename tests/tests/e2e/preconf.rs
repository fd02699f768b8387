//! Preconfirmations (Peregrine only): signed mini-block headers checked by generic
//! libraries (viem, ethers, @openzeppelin/merkle-tree, cast), `eth_sendRawTransactionSync`
//! (EIP-7966) with viem, ethers, cast and raw, its error codes, pending reads right after
//! a receipt, and `peregrine preconf verify` against every field of a preconfirmation
//! tampered with in turn.

use std::thread;
use std::time::{Duration, Instant};

use peregrine_tests::cast::Cast;
use peregrine_tests::js::{node_script, node_script_timeout};
use peregrine_tests::preconf::{
    DEV_SEQUENCER_ADDRESS, exit_code, peregrine_cli, script_result, verify_file,
};
use peregrine_tests::util::{as_str, hex_quantity, lower};
use peregrine_tests::{DevAccount, Node, NodeOptions, Rpc, dev, skip_on_anvil, wait_until};
use serde_json::{Value, json};

use crate::common::node_with_config;

/// Where test transfers go.
const SINK: &str = "0x000000000000000000000000000000000000dEaD";

/// Runs a scenario of `tests/js/preconf-e2e.mjs` against `node`; panics (with its output)
/// unless it succeeds; returns its `RESULT` JSON.
#[track_caller]
pub(crate) fn scenario(node: &Node, name: &str, extra: &[&str], timeout: Duration) -> Value {
    let (url, ws) = (node.url(), node.ws_url());
    let mut args = vec![name, url.as_str(), ws.as_str()];
    args.extend_from_slice(extra);
    let out = node_script_timeout("preconf-e2e.mjs", &args, timeout);
    assert!(
        out.success(),
        "preconf-e2e.mjs {name} failed ({}):\n{out}",
        out.status
    );
    let result = script_result(&out);
    eprintln!("{}", out.stderr.trim_end());
    println!("{name}: {result}");
    result
}

/// Waits (20 s at most) for `preconf_getPreconfirmation(hash)` to answer one; returns it.
#[track_caller]
fn wait_preconfirmation(rpc: &Rpc, hash: &str, what: &str) -> Value {
    wait_until(
        what,
        Duration::from_secs(20),
        Duration::from_millis(20),
        || Some(rpc.request("preconf_getPreconfirmation", json!([hash]))).filter(|p| !p.is_null()),
    )
}

/// Signs a transfer offline with `cast mktx`; returns (raw, hash).
#[track_caller]
pub(crate) fn sign_transfer(key: &str, nonce: u64, to: &str, value: &str) -> (String, String) {
    let raw = Cast::offline_ok(&[
        "mktx",
        "--private-key",
        key,
        "--chain",
        "901",
        "--nonce",
        &nonce.to_string(),
        "--gas-limit",
        "21000",
        "--gas-price",
        "1gwei",
        "--priority-gas-price",
        "1000000",
        to,
        "--value",
        value,
    ]);
    let hash = Cast::keccak(&raw);
    (raw, hash)
}

/// The sender's next nonce counting executed-but-unsealed transactions.
#[track_caller]
fn pending_nonce(node: &Node, who: &str) -> u64 {
    hex_quantity(
        &node
            .rpc()
            .request("eth_getTransactionCount", json!([who, "pending"])),
    ) as u64
}

/// The sequencer address the node reports.
#[track_caller]
fn sequencer(node: &Node) -> String {
    let s = as_str(&node.rpc().request("preconf_sequencer", json!([]))).to_owned();
    assert_eq!(
        lower(&s),
        lower(DEV_SEQUENCER_ADDRESS),
        "`peregrine dev` without --preconf.key signs with the documented dev key"
    );
    s
}

// ---------------------------------------------------------------- 1. the stream

/// Test 1. viem over a WebSocket sends 20 mixed transactions (a deployment, transfers from
/// six senders, Counter.increment calls emitting `Incremented`, one reverting call) while a
/// `preconfirmations` subscription (plus three filtered ones) is open; every preconfirmation
/// must recover to `preconf_sequencer` with viem's `recoverTypedDataAddress`, its two proofs
/// must pass `StandardMerkleTree.verify`, exactly one must arrive per transaction, and the
/// sealed receipts (`waitForTransactionReceipt`) must agree: status, gasUsed,
/// cumulativeGasUsed, block, logs hash, and order in the block. The preconfirmations are
/// then checked again by the colleague's `tests/js/preconf/verify.mjs` and by
/// `peregrine preconf verify --sequencer`.
#[test]
fn preconfirmation_stream_checked_by_viem_and_openzeppelin() {
    if skip_on_anvil("preconfirmations are Peregrine's") {
        return;
    }
    let node = Node::from_env();
    let seq = sequencer(&node);
    let dir = tempfile::tempdir().expect("temp dir");
    let out_dir = dir.path().join("stream");
    let out_dir = out_dir.display().to_string();
    let res = scenario(&node, "stream", &[&out_dir], Duration::from_secs(240));
    assert!(
        res["transactions"].as_u64().unwrap_or(0) >= 20,
        "sent at least 20: {res}"
    );
    assert!(
        res["multiTxMiniBlocks"].as_u64().unwrap_or(0) >= 1 && res["maxProof"].as_u64() >= Some(1),
        "at least one mini-block held several transactions, so some proofs are non-empty: {res}"
    );
    assert_eq!(lower(as_str(&res["sequencer"])), lower(&seq));
    let files: Vec<String> = res["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| as_str(f).to_owned())
        .collect();
    assert_eq!(files.len() as u64, res["transactions"].as_u64().unwrap());

    // The colleague's independent checker (viem + OpenZeppelin, dev key derived from its seed).
    let mut args = vec![];
    args.extend(files.iter().map(String::as_str));
    let v = node_script("preconf/verify.mjs", &args);
    assert!(
        v.success(),
        "tests/js/preconf/verify.mjs rejected them:\n{v}"
    );
    assert!(
        v.stdout
            .contains(&format!("{} preconfirmations verified", files.len())),
        "{v}"
    );

    // And Peregrine's own verifier, requiring the sequencer.
    for f in &files {
        let out = peregrine_cli(&["preconf", "verify", f, "--sequencer", &seq]);
        assert_eq!(
            exit_code(&out),
            Some(0),
            "peregrine preconf verify {f} --sequencer {seq}:\n{out}"
        );
        assert!(out.stdout.contains("valid preconfirmation"), "{out}");
        assert!(out.stdout.contains("(the expected sequencer)"), "{out}");
    }
}

// ---------------------------------------------------------------- 2. sync send with viem

/// Test 2. viem's `sendRawTransactionSync`, `sendTransactionSync` and `writeContractSync`
/// work against Peregrine unmodified (status success, the right hash, `blockHash` the
/// block view of the mini-block until sealed, the same receipt from
/// `eth_getTransactionReceipt` at once, the sealed receipt agreeing later but for the block
/// hash, and the view still resolving); the raw JSON carries a
/// `preconfirmation` that `peregrine preconf verify --sequencer` accepts, as the receipt, as a
/// JSON-RPC response wrapping it, and as the bare preconfirmation; with another expected
/// sequencer it is refused.
#[test]
fn viem_send_raw_transaction_sync_and_cli_verify() {
    if skip_on_anvil("eth_sendRawTransactionSync preconfirmations are Peregrine's") {
        return;
    }
    let node = Node::from_env();
    let seq = sequencer(&node);
    let res = scenario(&node, "sync", &[], Duration::from_secs(180));
    let dir = tempfile::tempdir().expect("temp dir");
    let raw = res["raw"].as_array().expect("raw receipts");
    assert_eq!(raw.len(), 2);
    for (i, receipt) in raw.iter().enumerate() {
        let hash = lower(as_str(&receipt["transactionHash"]));
        let p = &receipt["preconfirmation"];
        assert_eq!(lower(as_str(&p["transaction"]["hash"])), hash);
        let wrapped = json!({"jsonrpc": "2.0", "id": 1, "result": receipt});
        for (name, doc) in [
            ("receipt", receipt.clone()),
            ("response", wrapped),
            ("preconf", p.clone()),
        ] {
            let out = verify_file(dir.path(), &format!("{name}-{i}.json"), &doc, Some(&seq));
            assert_eq!(exit_code(&out), Some(0), "verify {name} {i}:\n{out}");
            assert!(out.stdout.contains("valid preconfirmation"), "{out}");
            assert!(out.stdout.contains(&hash), "report names the tx: {out}");
            let block = hex_quantity(&receipt["blockNumber"]);
            assert!(
                out.stdout.contains(&format!("L2 block       {block}")),
                "report names the L2 block {block}: {out}"
            );
            let cumulative = p["receipt"]["cumulativeGasUsed"]
                .as_u64()
                .expect("cumulative gas");
            let logs_hash = lower(as_str(&p["receipt"]["logsHash"]));
            assert!(
                out.stdout
                    .contains(&format!("cumulative gas used {cumulative}"))
                    && out.stdout.contains(&format!("logs hash      {logs_hash}")),
                "report states the promised cumulative gas and logs hash: {out}"
            );
        }
        // With --any-signer instead: valid, and the report says the signer was not
        // compared.
        let out = verify_file(dir.path(), &format!("any-{i}.json"), receipt, None);
        assert_eq!(exit_code(&out), Some(0), "{out}");
        assert!(out.stdout.contains("not compared"), "{out}");
        // Another expected sequencer: refused.
        let out = verify_file(
            dir.path(),
            &format!("other-{i}.json"),
            receipt,
            Some(dev(0).address),
        );
        assert_eq!(
            exit_code(&out),
            Some(1),
            "another --sequencer must be refused:\n{out}"
        );
    }
    for v in res["viem"].as_array().expect("viem receipts") {
        let out = verify_file(dir.path(), "viem.json", v, Some(&seq));
        assert_eq!(exit_code(&out), Some(0), "{out}");
    }
}

/// Test 2b (5 s blocks, so every step happens while the block is pending). ethers v6 and
/// cast parse what Peregrine answers before the block seals: the `eth_sendRawTransactionSync`
/// receipt through ethers' own receipt formatter (blockHash = the block view, blockNumber =
/// the pending block, the same as `getTransactionReceipt` then), the preconfirmation
/// through ethers' `verifyTypedData`, a contract event through ethers' `WebSocketProvider`
/// (while the block is open), and `cast send --sync --json`; after the seal ethers'
/// `getTransactionReceipt` and `tx.wait()` see the sealed receipt, equal to the early one
/// but for `blockHash`.
#[test]
fn ethers_and_cast_parse_receipts_and_logs_before_the_seal() {
    if skip_on_anvil("pre-seal receipts and logs are Peregrine's") {
        return;
    }
    let node = Node::from_env_opts(NodeOptions::block_time("5s"));
    let res = scenario(&node, "preseal", &[], Duration::from_secs(180));
    assert!(res["checks"].as_u64() >= Some(30), "{res}");
}

// ---------------------------------------------------------------- the production key

/// `--preconf.key <file>` (the production path): the node signs with the key in the file,
/// `preconf_sequencer` names its address (as `cast wallet address` derives it), and a
/// preconfirmation verifies against that address and not against the dev key's. A key file
/// that is not a key stops start-up with a message naming the file and the problem,
/// never the file's contents.
#[test]
fn a_key_file_signs_the_preconfirmations() {
    if skip_on_anvil("preconfirmation signing keys are Peregrine's") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = Cast::keccak("peregrine e2e sequencer key");
    let address = lower(Cast::offline_ok(&["wallet", "address", "--private-key", &secret]).trim());
    assert_ne!(address, lower(DEV_SEQUENCER_ADDRESS));
    let key = dir.path().join("sequencer.key");
    std::fs::write(&key, format!("{secret}\n")).expect("write key");
    let key = key.display().to_string();
    let node = Node::from_env_opts(NodeOptions::default().arg(&["--preconf.key", &key]));
    let reported = node.rpc().request("preconf_sequencer", json!([]));
    assert_eq!(lower(as_str(&reported)), address, "preconf_sequencer");

    let (raw, hash) = sign_transfer(dev(0).private_key, 0, SINK, "1");
    let receipt = node
        .rpc()
        .request("eth_sendRawTransactionSync", json!([raw]));
    assert_eq!(lower(as_str(&receipt["transactionHash"])), hash);
    let out = verify_file(dir.path(), "p.json", &receipt, Some(&address));
    assert_eq!(
        exit_code(&out),
        Some(0),
        "verify against the key file's address:\n{out}"
    );
    assert!(out.stdout.contains("(the expected sequencer)"), "{out}");
    let out = verify_file(dir.path(), "p.json", &receipt, Some(DEV_SEQUENCER_ADDRESS));
    assert_eq!(
        exit_code(&out),
        Some(1),
        "the dev key did not sign it:\n{out}"
    );

    // Not a key: 62 hex digits. Start-up fails at once, naming the file and the problem.
    let bad = dir.path().join("bad.key");
    let short = &secret[2..64];
    std::fs::write(&bad, short).expect("write bad key");
    let bad = bad.display().to_string();
    let data = dir.path().join("data").display().to_string();
    let out = peregrine_cli(&[
        "dev",
        "--preconf.key",
        &bad,
        "--datadir",
        &data,
        "--rpc.addr",
        "127.0.0.1:0",
        "--metrics.addr",
        "127.0.0.1:0",
    ]);
    assert_ne!(
        exit_code(&out),
        Some(0),
        "a bad key file must stop start-up:\n{out}"
    );
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains(&bad) && said.contains("expected 64 hex digits, found 62"),
        "the error names the file and the problem:\n{out}"
    );
    assert!(
        !said.contains(short),
        "the error must not echo the key:\n{out}"
    );
}

// ---------------------------------------------------------------- 3. sync send errors

/// Whether a token of `msg` (split on non-digits) is the number `n`.
fn mentions_number(msg: &str, n: u64) -> bool {
    msg.split(|c: char| !c.is_ascii_digit())
        .any(|t| t == n.to_string())
}

/// Test 3b. EIP-7966 code 4: a transaction not preconfirmed within the timeout answers
/// code 4 with its hash as `data`, and is still executed and preconfirmed afterwards. The
/// node's default timeout and its cap are both 0 ms here, so a call naming no timeout and
/// one asking for 60 s are both held to 0 ms (the message says which timeout applied).
/// A 0 ms wait does not wait at all, but takes an outcome already known when the
/// transaction is in the ring (in theory possible if the RPC worker is descheduled right
/// there): each form is tried up to ten times and must time out at least once.
#[test]
fn send_raw_transaction_sync_times_out_with_code_4() {
    if skip_on_anvil("eth_sendRawTransactionSync timeouts are Peregrine's") {
        return;
    }
    let (_config, node) =
        node_with_config("[rpc]\nsync-timeout = \"0ms\"\nsync-timeout-cap = \"0ms\"\n");
    let rpc = node.rpc();
    let alice = dev(0);
    let mut nonce = 0;
    let mut timed_out = Vec::new();
    for (form, with_timeout) in [("no timeout", false), ("timeout 60000", true)] {
        let mut form_timed_out = false;
        for _ in 0..10 {
            let (raw, hash) = sign_transfer(alice.private_key, nonce, SINK, "1");
            nonce += 1;
            let params = if with_timeout {
                json!([raw, 60_000])
            } else {
                json!([raw])
            };
            match rpc.call("eth_sendRawTransactionSync", params) {
                Ok(r) => assert!(r["preconfirmation"].is_object(), "{form}: {r}"),
                Err(e) => {
                    assert_eq!(e.code, 4, "{form}: EIP-7966 timeout code: {e}");
                    assert_eq!(
                        e.data.as_ref().map(|d| lower(as_str(d))),
                        Some(hash.clone()),
                        "{form}: data = the transaction hash: {e}"
                    );
                    assert!(
                        e.message.contains("within 0 ms"),
                        "{form}: capped to 0 ms: {e}"
                    );
                    timed_out.push(hash);
                    form_timed_out = true;
                    break;
                }
            }
        }
        assert!(form_timed_out, "{form}: ten 0 ms waits never timed out");
    }
    // Accepted, not lost: each is preconfirmed once the sequencer gets to it.
    for hash in &timed_out {
        let p = wait_preconfirmation(rpc, hash, "the timed-out transaction's preconfirmation");
        assert_eq!(lower(as_str(&p["transaction"]["hash"])), *hash);
    }
    assert_eq!(pending_nonce(&node, alice.address), nonce);
}

/// Test 3. `eth_sendRawTransactionSync` errors (EIP-7966): a nonce gap answers code 5 naming
/// the missing nonce (data: the hash), and the transaction runs once the gap is filled;
/// insufficient funds answer code 5; a malformed timeout answers -32602 without submitting
/// the transaction; a resend of a preconfirmed transaction is the usual -32000.
#[test]
fn send_raw_transaction_sync_error_codes() {
    if skip_on_anvil("eth_sendRawTransactionSync is Peregrine's") {
        return;
    }
    let node = Node::from_env();
    let rpc = node.rpc();
    let alice = dev(0);

    // Two good ones: next nonce becomes 2.
    for n in 0..2 {
        let (raw, hash) = sign_transfer(alice.private_key, n, SINK, "1");
        let r = rpc.request("eth_sendRawTransactionSync", json!([raw]));
        assert_eq!(r["status"], json!("0x1"), "{r}");
        assert_eq!(lower(as_str(&r["transactionHash"])), hash);
        assert!(r["preconfirmation"].is_object(), "{r}");
    }

    // Nonce gap: nonce 7 while 2 is next. The gap's fillers are signed first so they can
    // follow at once (the node holds a gapped transaction for a limited time).
    let fillers: Vec<(String, String)> = (2..7)
        .map(|n| sign_transfer(alice.private_key, n, SINK, "1"))
        .collect();
    let (gapped, gapped_hash) = sign_transfer(alice.private_key, 7, SINK, "1");
    let err = rpc.request_err("eth_sendRawTransactionSync", json!([gapped]));
    assert_eq!(err.code, 5, "nonce gap: EIP-7966 code 5: {err}");
    assert!(
        err.message.to_lowercase().contains("nonce") && mentions_number(&err.message, 2),
        "the message names the missing nonce 2: {err}"
    );
    assert_eq!(
        err.data.as_ref().map(|d| lower(as_str(d))),
        Some(gapped_hash.clone()),
        "data = the transaction hash: {err}"
    );
    let batch: Vec<Value> = fillers
        .iter()
        .enumerate()
        .map(|(i, (raw, _))| json!({"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}))
        .collect();
    let resp = rpc.post_raw(&Value::Array(batch).to_string());
    for r in resp.json().as_array().expect("batch response") {
        assert!(r.get("error").is_none(), "filler refused: {r}");
    }
    // Gap filled: the held transaction is executed and preconfirmed.
    let p = wait_preconfirmation(
        rpc,
        &gapped_hash,
        "the gapped transaction's preconfirmation once the gap is filled",
    );
    assert_eq!(lower(as_str(&p["transaction"]["hash"])), gapped_hash);
    assert_eq!(pending_nonce(&node, alice.address), 8);

    // Insufficient funds: an account nobody funded ...
    let empty_key = Cast::keccak("peregrine-e2e: an account nobody funded");
    let (raw, hash) = sign_transfer(&empty_key, 0, SINK, "1");
    let err = rpc.request_err("eth_sendRawTransactionSync", json!([raw]));
    assert_eq!(err.code, 5, "insufficient funds: code 5: {err}");
    assert!(
        err.message.to_lowercase().contains("insufficient funds"),
        "{err}"
    );
    assert_eq!(err.data.as_ref().map(|d| lower(as_str(d))), Some(hash));
    // ... and a rich one sending more than it has.
    let bob = dev(1);
    let (raw, _) = sign_transfer(bob.private_key, 0, SINK, "20000000000000000000000");
    let err = rpc.request_err("eth_sendRawTransactionSync", json!([raw]));
    assert_eq!(err.code, 5, "value above balance: code 5: {err}");

    // A malformed timeout: -32602, and the transaction is not submitted.
    let carol = dev(2);
    let (raw, hash) = sign_transfer(carol.private_key, 0, SINK, "1");
    for bad in [
        json!("soon"),
        json!({"ms": 100}),
        json!(-5),
        json!(1.5),
        json!([1000]),
        json!("0xzz"),
        json!(true),
    ] {
        let err = rpc.request_err("eth_sendRawTransactionSync", json!([raw, bad]));
        assert_eq!(err.code, -32602, "timeout {bad}: {err}");
    }
    assert_eq!(
        pending_nonce(&node, carol.address),
        0,
        "a refused call submits nothing"
    );
    let status = rpc.request("peregrine_getTransactionStatus", json!([hash]));
    assert_eq!(status["status"], json!("unknown"), "{status}");
    // The same transaction with a well-formed timeout (hex string) goes through.
    let r = rpc.request("eth_sendRawTransactionSync", json!([raw, "0x2710"]));
    assert_eq!(r["status"], json!("0x1"), "{r}");
    // Resending it: the ordinary "already known" / nonce error, not 4 or 5.
    let err = rpc.request_err("eth_sendRawTransactionSync", json!([raw]));
    assert_eq!(err.code, -32000, "resend of a preconfirmed tx: {err}");
}

/// A wallet that sends with `eth_sendRawTransaction` and at once asks for its next nonce
/// (ethers and viem ask for `pending` before each send) gets the one after the
/// transaction it just sent, as from geth or anvil, which count their pool.
#[test]
fn pending_nonce_counts_a_transaction_sent_a_moment_ago() {
    let node = Node::from_env();
    let rpc = node.rpc();
    let erin = dev(5);
    let signed: Vec<(String, String)> = (0..20)
        .map(|n| sign_transfer(erin.private_key, n, SINK, "1"))
        .collect();
    for (n, (raw, hash)) in signed.iter().enumerate() {
        let sent = rpc.request("eth_sendRawTransaction", json!([raw]));
        assert_eq!(lower(as_str(&sent)), *hash);
        assert_eq!(
            pending_nonce(&node, erin.address),
            n as u64 + 1,
            "eth_getTransactionCount(pending) right after sending nonce {n}"
        );
    }
}

/// Two callers send the same transaction with `eth_sendRawTransactionSync` at the same
/// moment (a client retrying, two wallets relaying). The transaction is accepted once and
/// preconfirmed; neither caller may be told it timed out (code 4) before its timeout has
/// elapsed: one gets the receipt, the other the receipt too or a -32000 refusal ("already
/// known", "nonce too low").
#[test]
fn sync_send_of_the_same_transaction_twice_at_once() {
    if skip_on_anvil("eth_sendRawTransactionSync is Peregrine's") {
        return;
    }
    const TIMEOUT_MS: u64 = 20_000;
    let node = Node::from_env();
    let sender: DevAccount = dev(5);
    let txs: Vec<(String, String)> = (0..12)
        .map(|n| sign_transfer(sender.private_key, n, SINK, "1"))
        .collect();
    let mut problems = Vec::new();
    for (raw, hash) in &txs {
        let outcomes: Vec<(Result<Value, peregrine_tests::RpcError>, Duration)> =
            thread::scope(|s| {
                let calls: Vec<_> = (0..2)
                    .map(|_| {
                        s.spawn(|| {
                            let t0 = Instant::now();
                            let r = node
                                .rpc()
                                .call("eth_sendRawTransactionSync", json!([raw, TIMEOUT_MS]));
                            (r, t0.elapsed())
                        })
                    })
                    .collect();
                calls
                    .into_iter()
                    .map(|h| h.join().expect("caller thread"))
                    .collect()
            });
        let p = wait_preconfirmation(node.rpc(), hash, "the preconfirmation");
        assert_eq!(lower(as_str(&p["transaction"]["hash"])), *hash);
        let receipts = outcomes.iter().filter(|(r, _)| r.is_ok()).count();
        for (r, elapsed) in &outcomes {
            match r {
                Ok(v) => assert_eq!(lower(as_str(&v["transactionHash"])), *hash),
                Err(e) if e.code == 4 && *elapsed < Duration::from_millis(TIMEOUT_MS) => {
                    problems.push(format!(
                        "tx {hash}: code 4 \"{}\" after {elapsed:?} although the timeout was {TIMEOUT_MS} ms and the transaction was preconfirmed",
                        e.message
                    ))
                }
                // The duplicate: "already known", or "nonce too low" once the first is in.
                Err(e) if e.code == -32000 => {}
                Err(e) => problems.push(format!("tx {hash}: unexpected error: {e}")),
            }
        }
        if receipts == 0 {
            problems.push(format!(
                "tx {hash}: preconfirmed, but neither caller got its receipt: {:?}",
                outcomes
                    .iter()
                    .map(|(r, t)| format!("{:?} after {t:?}", r.as_ref().err()))
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} double sends misreported:\n{}",
        problems.len(),
        txs.len(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------- 4. tampering

/// Gets a preconfirmation at index >= 1 of a mini-block of several transactions (so both
/// proofs are non-empty): sends batches of transfers from eight senders in one HTTP
/// request and asks `preconf_getPreconfirmation` for each.
#[track_caller]
fn preconf_with_proofs(node: &Node) -> Value {
    let rpc = node.rpc();
    for _attempt in 0..5 {
        let txs: Vec<(String, String)> = (1..=8)
            .map(|i| {
                let a = dev(i);
                sign_transfer(a.private_key, pending_nonce(node, a.address), SINK, "1")
            })
            .collect();
        let batch: Vec<Value> = txs
            .iter()
            .enumerate()
            .map(|(i, (raw, _))| json!({"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}))
            .collect();
        rpc.post_raw(&Value::Array(batch).to_string());
        let mut best: Option<Value> = None;
        for (_, hash) in &txs {
            let p = wait_preconfirmation(rpc, hash, "a preconfirmation");
            let len = |p: &Value| p["proofs"]["transaction"].as_array().map_or(0, Vec::len);
            if p["transaction"]["index"].as_u64() >= Some(1)
                && len(&p) > 0
                && best.as_ref().is_none_or(|b| len(&p) > len(b))
            {
                best = Some(p);
            }
        }
        if let Some(p) = best {
            return p;
        }
    }
    panic!("5 batches of 8 transfers never shared a mini-block");
}

/// Changes the last hex digit of a `0x` string.
fn flip_hex(s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

/// Changes hex digit `i` (counted after `0x`).
fn flip_hex_at(s: &str, i: usize) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    chars[2 + i] = if chars[2 + i] == 'a' { 'b' } else { 'a' };
    chars.into_iter().collect()
}

/// `n - s` for the secp256k1 group order `n` (the other, high-`s` form of a signature).
fn secp256k1_neg_s(s: &[u8]) -> Vec<u8> {
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];
    let mut out = vec![0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let mut d = N[i] as i16 - s[i] as i16 - borrow;
        borrow = 0;
        if d < 0 {
            d += 256;
            borrow = 1;
        }
        out[i] = d as u8;
    }
    out
}

/// Test 4. One real preconfirmation (index >= 1, non-empty proofs), changed one field at a
/// time: every signed message field, the domain, the signature (r, s, v, a high-s twin, a
/// signature by another key made with `cast wallet sign --data`), the index, the hash, each
/// receipt field, proof elements. `peregrine preconf verify --sequencer` must exit 1 for
/// each; the untouched one, and changes to what is not signed (stage timestamps, letter
/// case of hex), exit 0; input that is not JSON exits 2.
#[test]
fn tampered_preconfirmations_fail_verification() {
    if skip_on_anvil("peregrine preconf verify is Peregrine's") {
        return;
    }
    let node = Node::from_env();
    let seq = sequencer(&node);
    let p = preconf_with_proofs(&node);
    let dir = tempfile::tempdir().expect("temp dir");
    println!("tampering with {p}");

    let verify = |name: &str, v: &Value, sequencer: Option<&str>| {
        verify_file(dir.path(), &format!("{name}.json"), v, sequencer)
    };
    let original = verify("original", &p, Some(&seq));
    assert_eq!(exit_code(&original), Some(0), "untouched:\n{original}");

    let mut variants: Vec<(String, Value)> = Vec::new();
    let mut add = |name: &str, f: &dyn Fn(&mut Value)| {
        let mut v = p.clone();
        f(&mut v);
        assert_ne!(v, p, "variant {name} changes nothing");
        variants.push((name.to_owned(), v));
    };
    let bump = |v: &mut Value| *v = json!(v.as_u64().expect("a number") + 1);
    let flip = |v: &mut Value| *v = json!(flip_hex(as_str(v)));

    // Every field of the signed message.
    for field in [
        "chainId",
        "blockNumber",
        "miniBlockNumber",
        "firstSequence",
        "timestampMicros",
    ] {
        add(&format!("message.{field}"), &|v| {
            bump(&mut v["typedData"]["message"][field])
        });
    }
    for field in [
        "parentHash",
        "transactionsRoot",
        "receiptsRoot",
        "stateDiffRoot",
        "sendersHash",
        "blockContextHash",
    ] {
        add(&format!("message.{field}"), &|v| {
            flip(&mut v["typedData"]["message"][field])
        });
    }
    // The domain.
    add("domain.name", &|v| {
        v["typedData"]["domain"]["name"] = json!("peregrine")
    });
    add("domain.version", &|v| {
        v["typedData"]["domain"]["version"] = json!("1")
    });
    add("domain.chainId", &|v| {
        bump(&mut v["typedData"]["domain"]["chainId"])
    });
    add("domain.chainId+message.chainId", &|v| {
        bump(&mut v["typedData"]["domain"]["chainId"]);
        bump(&mut v["typedData"]["message"]["chainId"]);
    });
    add("primaryType", &|v| {
        v["typedData"]["primaryType"] = json!("EIP712Domain")
    });
    add("types.MiniBlockHeader[1].type", &|v| {
        v["typedData"]["types"]["MiniBlockHeader"][1]["type"] = json!("uint256")
    });
    add("message.extraField", &|v| {
        v["typedData"]["message"]["extra"] = json!(1)
    });
    // The signature: r, s, v, the high-s twin, someone else's.
    add("signature.r", &|v| {
        v["signature"] = json!(flip_hex_at(as_str(&v["signature"]), 10))
    });
    add("signature.s", &|v| {
        v["signature"] = json!(flip_hex_at(as_str(&v["signature"]), 64 + 10))
    });
    add("signature.v", &|v| {
        let s = as_str(&v["signature"]);
        let vv = if s.ends_with("1b") { "1c" } else { "1b" };
        v["signature"] = json!(format!("{}{vv}", &s[..s.len() - 2]))
    });
    add("signature.high-s", &|v| {
        let bytes = peregrine_tests::util::decode_hex(as_str(&v["signature"]));
        let mut sig = bytes[..32].to_vec();
        sig.extend(secp256k1_neg_s(&bytes[32..64]));
        sig.push(if bytes[64] == 27 { 28 } else { 27 });
        v["signature"] = json!(peregrine_tests::util::encode_hex(&sig));
    });
    add("signature.truncated", &|v| {
        let s = as_str(&v["signature"]).to_owned();
        v["signature"] = json!(s[..s.len() - 2].to_owned())
    });
    let typed_path = dir.path().join("typed.json");
    std::fs::write(&typed_path, p["typedData"].to_string()).expect("write typed data");
    let other_sig = Cast::offline_ok(&[
        "wallet",
        "sign",
        "--private-key",
        dev(0).private_key,
        "--data",
        "--from-file",
        &typed_path.display().to_string(),
    ]);
    let other_sig = other_sig.split_whitespace().last().unwrap_or("").to_owned();
    assert_eq!(other_sig.len(), 132, "cast wallet sign output: {other_sig}");
    add("signature.byAnotherKey", &|v| {
        v["signature"] = json!(other_sig)
    });
    // The transaction.
    add("transaction.index+1", &|v| {
        bump(&mut v["transaction"]["index"])
    });
    add("transaction.index=0", &|v| {
        v["transaction"]["index"] = json!(0)
    });
    add("transaction.hash", &|v| flip(&mut v["transaction"]["hash"]));
    // The receipt.
    add("receipt.success", &|v| {
        let b = v["receipt"]["success"].as_bool().expect("bool");
        v["receipt"]["success"] = json!(!b)
    });
    add("receipt.gasUsed", &|v| bump(&mut v["receipt"]["gasUsed"]));
    add("receipt.cumulativeGasUsed", &|v| {
        bump(&mut v["receipt"]["cumulativeGasUsed"])
    });
    add("receipt.logsHash", &|v| flip(&mut v["receipt"]["logsHash"]));
    // The proofs.
    for kind in ["transaction", "receipt"] {
        add(&format!("proofs.{kind}[0]"), &|v| {
            flip(&mut v["proofs"][kind][0])
        });
        add(&format!("proofs.{kind}[last]"), &|v| {
            let a = v["proofs"][kind].as_array_mut().expect("proof");
            let last = a.len() - 1;
            a[last] = json!(flip_hex(as_str(&a[last])));
        });
        add(&format!("proofs.{kind}.dropLast"), &|v| {
            v["proofs"][kind].as_array_mut().expect("proof").pop();
        });
        add(&format!("proofs.{kind}.extra"), &|v| {
            let a = v["proofs"][kind].as_array_mut().expect("proof");
            let first = a[0].clone();
            a.push(first);
        });
        add(&format!("proofs.{kind}.empty"), &|v| {
            v["proofs"][kind] = json!([])
        });
    }
    add("proofs.swapped", &|v| {
        let t = v["proofs"]["transaction"].clone();
        v["proofs"]["transaction"] = v["proofs"]["receipt"].clone();
        v["proofs"]["receipt"] = t;
    });

    let mut accepted = Vec::new();
    for (name, v) in &variants {
        let out = verify(&format!("tampered-{name}"), v, Some(&seq));
        if exit_code(&out) != Some(1) {
            accepted.push(format!(
                "{name}: exit {:?}\n{}",
                exit_code(&out),
                out.combined().trim()
            ));
        }
    }
    assert!(
        accepted.is_empty(),
        "{} of {} tampered preconfirmations were not refused with exit 1:\n{}",
        accepted.len(),
        variants.len(),
        accepted.join("\n")
    );
    println!("{} tampered variants refused", variants.len());

    // Someone else's valid signature is only caught by --sequencer, which is why verify
    // requires it: without it (or an explicit --any-signer) the call is a usage error.
    let (_, by_other) = variants
        .iter()
        .find(|(n, _)| n == "signature.byAnotherKey")
        .expect("variant");
    let file = dir.path().join("other.json");
    std::fs::write(&file, by_other.to_string()).expect("write");
    let out = peregrine_cli(&["preconf", "verify", &file.display().to_string()]);
    assert_eq!(exit_code(&out), Some(2), "no --sequencer:\n{out}");
    assert!(
        out.stderr.contains("--sequencer"),
        "the usage error names --sequencer:\n{out}"
    );
    let out = verify("other-any-signer", by_other, None);
    assert_eq!(exit_code(&out), Some(0), "{out}");
    assert!(
        out.stdout.contains(dev(0).address),
        "the report names the real signer {}: {out}",
        dev(0).address
    );

    // What is not signed may change.
    let mut v = p.clone();
    for k in ["received", "ordered", "executed", "signed", "sent"] {
        v["timestamps"][k] = json!(1);
    }
    let out = verify("timestamps", &v, Some(&seq));
    assert_eq!(
        exit_code(&out),
        Some(0),
        "stage timestamps are not signed:\n{out}"
    );
    let mut v = p.clone();
    v["transaction"]["hash"] = json!(format!(
        "0x{}",
        as_str(&p["transaction"]["hash"])[2..].to_uppercase()
    ));
    let out = verify("uppercase", &v, Some(&seq));
    assert_eq!(
        exit_code(&out),
        Some(0),
        "hex digits in either case:\n{out}"
    );

    // From standard input, and input that is not JSON (exit 2, not 1).
    let file = dir.path().join("original.json").display().to_string();
    let bin = peregrine_tests::node::peregrine_bin().display().to_string();
    let out = peregrine_tests::util::run_with_timeout(
        std::process::Command::new("sh").args([
            "-c",
            &format!("'{bin}' preconf verify - --sequencer {seq} < '{file}'"),
        ]),
        Duration::from_secs(60),
    );
    assert_eq!(exit_code(&out), Some(0), "verify from stdin:\n{out}");
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "not json").expect("write");
    let out = peregrine_cli(&[
        "preconf",
        "verify",
        &junk.display().to_string(),
        "--any-signer",
    ]);
    assert_eq!(exit_code(&out), Some(2), "not JSON:\n{out}");
    assert!(out.stderr.contains("not JSON"), "{out}");
}

// ---------------------------------------------------------------- viem's WebSocket transport

/// viem's WebSocket transport, unmodified, against Peregrine's `eth_subscribe`: the raw
/// `transport.subscribe(['preconfirmations'])`, `watchBlockNumber` (newHeads) and
/// `watchContractEvent` (logs) must deliver. (They need the subscription id to be a
/// string, as geth sends it.)
#[test]
fn viem_websocket_subscriptions_deliver() {
    if skip_on_anvil("checks Peregrine's eth_subscribe") {
        return;
    }
    let node = Node::from_env();
    scenario(&node, "viemws", &[], Duration::from_secs(120));
}
