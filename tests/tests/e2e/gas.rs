//! Gas estimation and fee market endpoints.

use peregrine_tests::util::{hex_quantity, to_quantity};
use peregrine_tests::{Node, dev};
use serde_json::json;

use crate::common::{assert_success, deploy_counter, wait_for_block};

const GWEI: u128 = 1_000_000_000;

#[test]
fn estimate_gas_for_transfer_and_contract_call() {
    let node = Node::from_env();
    let cast = node.cast();
    let alice = dev(0);

    // A plain transfer costs exactly the intrinsic 21000.
    let est = cast.uint(&[
        "estimate",
        "--from",
        alice.address,
        dev(1).address,
        "--value",
        "1",
    ]);
    assert_eq!(est, 21_000);
    let raw = node.rpc().request(
        "eth_estimateGas",
        json!([{"from": alice.address, "to": dev(1).address, "value": "0x1"}]),
    );
    assert_eq!(hex_quantity(&raw), 21_000);

    // A contract call: the estimate suffices and is not wildly above what is used.
    let d = deploy_counter(&node, alice, 0);
    let est = cast.uint(&[
        "estimate",
        "--from",
        alice.address,
        &d.address,
        "increment()",
    ]);
    let r = cast.json(&[
        "send",
        "--private-key",
        alice.private_key,
        "--gas-limit",
        &est.to_string(),
        &d.address,
        "increment()",
        "--json",
    ]);
    assert_success(&r);
    let used = hex_quantity(&r["gasUsed"]);
    assert!(
        used <= est && est <= used * 2,
        "estimate {est} vs gasUsed {used} (increment with 3 cold SSTOREs)"
    );
    assert!(
        used > 21_000 + 3 * 20_000,
        "gasUsed {used} too low for three fresh slots"
    );
    // Too little gas for another increment (above the 21064 intrinsic cost, far
    // below the SLOADs/SSTOREs it needs): out of gas, status 0, whole limit consumed.
    let r = cast.json(&[
        "send",
        "--private-key",
        alice.private_key,
        "--gas-limit",
        "25000",
        &d.address,
        "increment()",
        "--json",
    ]);
    assert_eq!(r["status"], json!("0x0"), "25000 gas must run out: {r}");
    assert_eq!(
        hex_quantity(&r["gasUsed"]),
        25_000,
        "out-of-gas consumes the whole limit"
    );
}

#[test]
fn fee_endpoints_answer_sane_values() {
    let node = Node::from_env();
    let rpc = node.rpc();
    wait_for_block(&node, 4);

    // eth_gasPrice covers the current base fee (read after, as base fees only fall on an idle chain).
    let gas_price = hex_quantity(&rpc.request("eth_gasPrice", json!([])));
    let latest = rpc.block("latest", false);
    let base_fee = hex_quantity(&latest["baseFeePerGas"]);
    assert!(
        gas_price > 0 && gas_price < 1_000 * GWEI,
        "eth_gasPrice {gas_price}"
    );
    assert!(
        gas_price >= base_fee,
        "gasPrice {gas_price} < baseFee {base_fee}"
    );
    assert!(node.cast().uint(&["gas-price"]) > 0);

    let tip = hex_quantity(&rpc.request("eth_maxPriorityFeePerGas", json!([])));
    assert!(tip <= 100 * GWEI, "eth_maxPriorityFeePerGas {tip}");

    // eth_feeHistory over the last 4 blocks with two percentiles.
    let before = rpc.block_number();
    let fh = rpc.request("eth_feeHistory", json!(["0x4", "latest", [25, 75]]));
    let after = rpc.block_number();
    let oldest = hex_quantity(&fh["oldestBlock"]) as u64;
    assert!(
        oldest + 3 >= before && oldest + 3 <= after,
        "oldestBlock {oldest} for 4 blocks ending at latest ({before}..={after}): {fh}"
    );
    let base_fees = fh["baseFeePerGas"].as_array().expect("baseFeePerGas array");
    assert_eq!(
        base_fees.len(),
        5,
        "blockCount + 1 base fees (incl. next block): {fh}"
    );
    let ratios = fh["gasUsedRatio"].as_array().expect("gasUsedRatio array");
    assert_eq!(ratios.len(), 4);
    for r in ratios {
        let r = r.as_f64().expect("ratio is a number");
        assert!((0.0..=1.0).contains(&r), "gasUsedRatio {r}");
    }
    let rewards = fh["reward"].as_array().expect("reward array");
    assert_eq!(rewards.len(), 4);
    for r in rewards {
        let r = r.as_array().expect("per-block reward list");
        assert_eq!(r.len(), 2, "one reward per percentile");
        assert!(
            hex_quantity(&r[0]) <= hex_quantity(&r[1]),
            "percentiles ordered"
        );
    }
    // Each reported base fee is the base fee of that block.
    for (i, bf) in base_fees.iter().take(4).enumerate() {
        let b = rpc.block(&to_quantity(oldest as u128 + i as u128), false);
        assert_eq!(
            bf,
            &b["baseFeePerGas"],
            "feeHistory base fee of block {}",
            oldest + i as u64
        );
    }
    // Asking for more blocks than exist is clamped to genesis.
    let fh = rpc.request("eth_feeHistory", json!(["0x400", "0x2", []]));
    assert_eq!(fh["oldestBlock"], json!("0x0"), "{fh}");
    assert_eq!(
        fh["baseFeePerGas"].as_array().map(Vec::len),
        Some(4),
        "{fh}"
    );
}
