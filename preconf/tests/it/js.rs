//! Independent check with real JavaScript libraries: `tests/js/preconf/verify.mjs` recovers
//! each signer with viem's `recoverTypedDataAddress` and checks each proof with
//! `@openzeppelin/merkle-tree`'s `StandardMerkleTree.verify`, plus the account-diff leaf and
//! logs-hash encodings.
//!
//! Skipped (with a note) only when `tests/js/node_modules/viem` is absent, that is when
//! `npm ci` has not been run in `tests/js`; any other problem, a missing `node` included,
//! fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use alloy_primitives::{Address, B256, Bytes, Log, LogData, U256, hex, keccak256};
use peregrine_preconf::{AccountDiffLeaf, MerkleTree, logs_hash};
use serde_json::{Value, json};

use crate::mini_block;

/// The workspace root: the nearest ancestor of this crate holding `tests/js/package.json`.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|dir| dir.join("tests/js/package.json").is_file())
        .unwrap_or_else(|| panic!("no tests/js/package.json above {}", manifest.display()))
        .to_owned()
}

fn hex32(b: B256) -> Value {
    Value::from(hex::encode_prefixed(b))
}

/// Account-diff leaves with their Rust-computed hashes, a proof of each against their
/// tree's root, and logs hashes, for the script to recompute independently.
fn vectors() -> Value {
    let accounts = [
        AccountDiffLeaf {
            address: Address::repeat_byte(0x11),
            deleted: false,
            nonce: 7,
            balance: U256::from(10).pow(U256::from(18)),
            code_hash: keccak256([]),
            storage_cleared: false,
            storage: vec![],
        },
        AccountDiffLeaf {
            address: Address::repeat_byte(0x22),
            deleted: false,
            nonce: 1,
            balance: U256::MAX,
            code_hash: keccak256("code"),
            storage_cleared: true,
            storage: vec![
                (U256::from(0), U256::from(1)),
                (U256::from(5), U256::MAX),
                (U256::MAX, U256::from(3)),
            ],
        },
        AccountDiffLeaf {
            address: Address::repeat_byte(0x33),
            deleted: true,
            ..Default::default()
        },
    ];
    let tree = MerkleTree::new(accounts.iter().map(AccountDiffLeaf::leaf).collect());
    let accounts: Vec<Value> = accounts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            json!({
                "address": a.address.to_checksum(None),
                "deleted": a.deleted,
                "nonce": a.nonce.to_string(),
                "balance": a.balance.to_string(),
                "codeHash": hex32(a.code_hash),
                "storageCleared": a.storage_cleared,
                "slots": a.storage.iter().map(|(k, _)| k.to_string()).collect::<Vec<_>>(),
                "values": a.storage.iter().map(|(_, v)| v.to_string()).collect::<Vec<_>>(),
                "storageHash": hex32(a.storage_hash()),
                "leaf": hex32(a.leaf()),
                "proof": tree.proof(i).into_iter().map(hex32).collect::<Vec<_>>(),
            })
        })
        .collect();
    let log = |address: u8, topics: usize, data: &[u8]| Log {
        address: Address::repeat_byte(address),
        data: LogData::new_unchecked(
            (0..topics).map(|t| keccak256([t as u8])).collect(),
            Bytes::copy_from_slice(data),
        ),
    };
    let log_sets = [
        vec![],
        vec![log(0xaa, 0, &[])],
        vec![log(0xaa, 1, &[1, 2, 3]), log(0xbb, 4, &[0x55; 100])],
    ];
    let logs: Vec<Value> = log_sets
        .iter()
        .map(|logs| {
            json!({
                "logs": logs.iter().map(|l| json!({
                    "address": l.address.to_checksum(None),
                    "topics": l.topics().iter().copied().map(hex32).collect::<Vec<_>>(),
                    "data": hex::encode_prefixed(&l.data.data),
                })).collect::<Vec<_>>(),
                "hash": hex32(logs_hash(logs)),
            })
        })
        .collect();
    json!({ "stateDiffRoot": hex32(tree.root()), "accounts": accounts, "logs": logs })
}

#[test]
fn viem_and_openzeppelin_accept_our_preconfirmations() {
    let root = workspace_root();
    let js = root.join("tests/js");
    if !js.join("node_modules/viem").is_dir() {
        println!(
            "SKIPPED: {} is absent; run `npm ci` in tests/js for the independent JavaScript check",
            js.join("node_modules/viem").display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for n in [1usize, 2, 3, 5, 8, 33] {
        let block = mini_block(n, 100 + n as u64);
        let mut indices = vec![0, n / 2, n - 1];
        indices.dedup();
        for i in indices {
            let path = dir.path().join(format!("preconf-{n}-{i}.json"));
            std::fs::write(
                &path,
                serde_json::to_vec_pretty(&block[i].to_json()).unwrap(),
            )
            .unwrap();
            files.push(path);
        }
    }
    let vectors_file = dir.path().join("vectors.json");
    std::fs::write(
        &vectors_file,
        serde_json::to_vec_pretty(&vectors()).unwrap(),
    )
    .unwrap();

    let output = Command::new("node")
        .current_dir(&root)
        .arg("tests/js/preconf/verify.mjs")
        .arg("--vectors")
        .arg(&vectors_file)
        .args(&files)
        .output()
        .expect("node is needed for the JavaScript check (tests/js/node_modules/viem is present)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "verify.mjs failed ({}; is `npm ci` in tests/js up to date?):\n{stdout}\n{stderr}",
        output.status
    );
    // The script must have checked every file, not merely exited 0.
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(
            stdout.contains(&format!("ok {name}")),
            "{name} not reported:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("ok vectors.json"),
        "vectors not checked:\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} preconfirmations verified", files.len())),
        "{stdout}"
    );
}
