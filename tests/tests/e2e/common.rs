//! Helpers shared by the e2e test modules.

use std::time::Duration;

use peregrine_tests::cast::Cast;
use peregrine_tests::js::{Contract, compile};
use peregrine_tests::util::{as_str, hex_quantity, lower};
use peregrine_tests::{DevAccount, Node, NodeOptions, RpcError, wait_until};
use serde_json::{Value, json};

/// Sends `value` wei from `from` to `to` with `cast send` and returns the receipt.
#[track_caller]
pub(crate) fn send_value(cast: &Cast, from: DevAccount, to: &str, value: u128) -> Value {
    cast.json(&[
        "send",
        "--private-key",
        from.private_key,
        to,
        "--value",
        &value.to_string(),
        "--json",
    ])
}

/// Asserts a receipt reports success.
#[track_caller]
pub(crate) fn assert_success(receipt: &Value) {
    assert_eq!(
        receipt["status"],
        json!("0x1"),
        "transaction failed: {receipt}"
    );
}

/// `gasUsed * effectiveGasPrice` of a receipt, in wei.
#[track_caller]
pub(crate) fn fee_paid(receipt: &Value) -> u128 {
    hex_quantity(&receipt["gasUsed"]) * hex_quantity(&receipt["effectiveGasPrice"])
}

/// Block number of a receipt, log or transaction.
#[track_caller]
pub(crate) fn block_of(v: &Value) -> u64 {
    hex_quantity(&v["blockNumber"]) as u64
}

/// Transaction hash of a receipt.
#[track_caller]
pub(crate) fn tx_hash(receipt: &Value) -> String {
    lower(as_str(&receipt["transactionHash"]))
}

/// Waits (bounded) until the chain head is at least `n`.
#[track_caller]
pub(crate) fn wait_for_block(node: &Node, n: u64) -> u64 {
    wait_until(
        &format!("block {n} (anvil mines every second, peregrine every 200ms)"),
        Duration::from_secs(20),
        Duration::from_millis(100),
        || Some(node.rpc().block_number()).filter(|b| *b >= n),
    )
}

/// Asserts the JSON-RPC error code, except where anvil is known to deviate from
/// the geth/spec convention (then only a note is printed, the message checks still run).
#[track_caller]
pub(crate) fn assert_code(node: &Node, err: &RpcError, expected: i64, anvil_deviates: bool) {
    if node.is_anvil() && anvil_deviates {
        if err.code != expected {
            println!(
                "NOTE: anvil answers code {} where the standard is {expected} ({}); not asserted on anvil",
                err.code, err.message
            );
        }
        return;
    }
    assert_eq!(err.code, expected, "unexpected error code: {err}");
}

/// Case-insensitive substring assertion on an error message.
#[track_caller]
pub(crate) fn assert_msg_contains(err: &RpcError, needle: &str) {
    assert!(
        err.message.to_lowercase().contains(&needle.to_lowercase()),
        "error message should mention {needle:?}: {err}"
    );
}

/// A freshly deployed `Counter` (see `tests/js/contracts/Counter.sol`).
pub(crate) struct Deployed {
    /// The compiled contract.
    pub(crate) contract: Contract,
    /// Lower-case address.
    pub(crate) address: String,
    /// The deployment receipt.
    pub(crate) receipt: Value,
}

/// Compiles `Counter` and deploys it from `from` with `cast send --create`,
/// checking the address matches `cast compute-address` for the sender's nonce.
#[track_caller]
pub(crate) fn deploy_counter(node: &Node, from: DevAccount, initial: u64) -> Deployed {
    let contract = compile("Counter");
    let cast = node.cast();
    let nonce = cast.uint(&["nonce", from.address]);
    let receipt = cast.json(&[
        "send",
        "--private-key",
        from.private_key,
        "--create",
        &contract.bytecode,
        "constructor(uint256)",
        &initial.to_string(),
        "--json",
    ]);
    assert_success(&receipt);
    assert!(
        receipt["to"].is_null(),
        "creation receipt has a `to`: {receipt}"
    );
    let address = lower(as_str(&receipt["contractAddress"]));
    let computed = Cast::offline_ok(&[
        "compute-address",
        from.address,
        "--nonce",
        &nonce.to_string(),
    ]);
    let computed = computed
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_lowercase();
    assert_eq!(
        address, computed,
        "contract address is not keccak(rlp(sender, nonce))"
    );
    Deployed {
        contract,
        address,
        receipt,
    }
}

/// Starts a node with `toml` as its `--config` file; the returned directory holds the
/// file and must live as long as the node.
pub(crate) fn node_with_config(toml: &str) -> (tempfile::TempDir, Node) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("peregrine.toml");
    std::fs::write(&config, toml).expect("write config");
    let config = config.to_string_lossy().into_owned();
    let node = Node::from_env_opts(NodeOptions::default().arg(&["--config", &config]));
    (dir, node)
}

/// The receipt of `hash` once its block is sealed: before the seal a receipt names the
/// block view it was preconfirmed in, after it the sealed block (docs/api.md, "Blocks
/// under construction"). Tests that compare block hashes over time start from this one.
/// anvil seals as it mines: its receipt is already final.
#[track_caller]
pub(crate) fn sealed_receipt(node: &Node, hash: &str) -> Value {
    if !node.is_anvil() {
        wait_until(
            &format!("{hash} sealed"),
            Duration::from_secs(20),
            Duration::from_millis(20),
            || {
                let status = node
                    .rpc()
                    .request("peregrine_getTransactionStatus", json!([hash]));
                (status["status"] == json!("included")).then_some(())
            },
        );
    }
    node.rpc()
        .request("eth_getTransactionReceipt", json!([hash]))
}

/// `receipt` (as a client got it, maybe before the seal) once its block is sealed: the
/// sealed receipt, checked to equal `receipt` in every field but the block hash (which
/// moves from the block view to the sealed block, in the receipt and its logs).
#[track_caller]
pub(crate) fn settled(node: &Node, receipt: &Value) -> Value {
    if node.is_anvil() {
        // Mined is sealed there (and cast prints fewer fields than anvil answers).
        return receipt.clone();
    }
    let sealed = sealed_receipt(node, &tx_hash(receipt));
    // `revertReason` is cast's own (it replays a failed transaction to find it).
    let without_block_hash = |r: &Value| {
        let mut r = r.clone();
        if let Some(o) = r.as_object_mut() {
            o.remove("revertReason");
        }
        r["blockHash"] = Value::Null;
        if let Some(logs) = r["logs"].as_array_mut() {
            for log in logs {
                log["blockHash"] = Value::Null;
            }
        }
        r
    };
    assert_eq!(
        without_block_hash(&sealed),
        without_block_hash(receipt),
        "the sealed receipt differs from the early one in more than the block hash"
    );
    sealed
}

/// Waits for the next seal (`safe` is the last sealed block), so that the next moments
/// fall in one open block.
#[track_caller]
pub(crate) fn just_after_a_seal(rpc: &peregrine_tests::Rpc) {
    let sealed = |rpc: &peregrine_tests::Rpc| hex_quantity(&rpc.block("safe", false)["number"]);
    let before = sealed(rpc);
    wait_until(
        "a seal",
        Duration::from_secs(20),
        Duration::from_millis(10),
        || (sealed(rpc) > before).then_some(()),
    );
}
