//! Promises with teeth (#11): `PeregrineBond` on a real L1 (anvil), compiled with solc-js,
//! judged against real signed headers from a running node and the real commitments its
//! batcher posted. Forged headers are signed with `cast wallet sign` (EIP-712) using the
//! development sequencer key, which is public. Proofs go through `peregrine preconf
//! prove` and, for the thousand honest preconfirmations, straight to the contract with
//! `eth_call`. The contract's interface is written here again from its source, and the
//! EIP-712 digest computed with alloy: nothing of Peregrine's own code is trusted.

use crate::batcher::{
    DEPLOYER_KEY, L1, block_number, load, merkle_levels, promised, root_of, wait_safe,
};
use alloy_primitives::{B256, Bytes, keccak256};
use alloy_sol_types::{SolCall, SolError, SolStruct, eip712_domain, sol};
use peregrine_tests::{
    Node, NodeOptions,
    cast::Cast,
    js::compile_contracts_in,
    preconf::{DEV_SEQUENCER_ADDRESS, peregrine_cli},
    util::{CmdOutput, JsonLines},
    workspace_root,
    ws::WsClient,
};
use serde_json::{Value, json};
use std::time::Duration;

sol! {
    #[derive(Debug)]
    struct MiniBlockHeader {
        uint64 chainId;
        uint64 blockNumber;
        uint64 miniBlockNumber;
        bytes32 parentHash;
        uint64 firstSequence;
        bytes32 transactionsRoot;
        bytes32 receiptsRoot;
        bytes32 stateDiffRoot;
        uint64 timestampMicros;
        bytes32 sendersHash;
        bytes32 blockContextHash;
    }
    #[derive(Debug)]
    struct Signature {
        bytes32 r;
        bytes32 vs;
    }
    function proveEquivocation(MiniBlockHeader a, Signature signatureA, MiniBlockHeader b, Signature signatureB);
    function proveMismatch(MiniBlockHeader h, Signature signature, bytes32 committed, bytes32[] proof);
    function proveNotPosted(MiniBlockHeader h, Signature signature);
    error NoFault();
    error BadProof();
    error Posted(uint64 l2Block);
    error NotEquivocation();
}

/// The development sequencer's key: keccak256("peregrine.dev.sequencer") (public, see
/// `docs/api.md`).
fn dev_sequencer_key() -> String {
    format!("{:#x}", keccak256("peregrine.dev.sequencer"))
}

/// anvil's fourth dev key (public): the challenger.
const CHALLENGER_KEY: &str = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
const CHALLENGER: &str = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
/// anvil's fifth dev key: a key that is not the sequencer's.
const OTHER_KEY: &str = "0x47e179ec197488593b187f80a17eb15dc1ce1e4e3f1c9b6d38a65f3f2e58e9f1";

const ETHER: u128 = 1_000_000_000_000_000_000;
const BONDED: u128 = 10 * ETHER;
const SAFETY_PENALTY: u128 = ETHER;
const LIVENESS_PENALTY: u128 = ETHER / 10;
const POSTING_DEADLINE: u64 = 600;
const CHALLENGE_WINDOW: u64 = 3_600;
const WITHDRAWAL_DELAY: u64 = 7_200;

/// The bond deployed on `l1` for L2 chain `chain_id`, funded by the sequencer's key.
struct Court {
    bond: String,
    chain_id: u64,
    key_file: tempfile::NamedTempFile,
}

impl Court {
    fn open(l1: &L1, l2: &Node) -> Court {
        let chain_id = hex_u64(&l2.rpc().request("eth_chainId", json!([])));
        let contracts = compile_contracts_in(&workspace_root().join("preconf/contracts"));
        let args = Cast::offline_ok(&[
            "abi-encode",
            "c(address,address,uint64,uint64,uint64,uint64,uint256,uint256)",
            DEV_SEQUENCER_ADDRESS,
            &l1.inbox,
            &chain_id.to_string(),
            &POSTING_DEADLINE.to_string(),
            &CHALLENGE_WINDOW.to_string(),
            &WITHDRAWAL_DELAY.to_string(),
            &SAFETY_PENALTY.to_string(),
            &LIVENESS_PENALTY.to_string(),
        ]);
        let code = format!(
            "{}{}",
            contracts["PeregrineBond"].bytecode,
            args.trim().trim_start_matches("0x")
        );
        let receipt = l1.anvil.cast().json(&[
            "send",
            "--private-key",
            DEPLOYER_KEY,
            "--json",
            "--create",
            &code,
        ]);
        let bond = receipt["contractAddress"].as_str().unwrap().to_owned();
        // The sequencer's key deposits (it needs L1 ether first).
        l1.anvil.rpc().request(
            "anvil_setBalance",
            json!([DEV_SEQUENCER_ADDRESS, format!("{:#x}", 100 * ETHER)]),
        );
        l1.anvil.cast().ok(&[
            "send",
            "--private-key",
            &dev_sequencer_key(),
            &bond,
            "deposit()",
            "--value",
            &BONDED.to_string(),
        ]);
        let key_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(key_file.path(), CHALLENGER_KEY).unwrap();
        let court = Court {
            bond,
            chain_id,
            key_file,
        };
        assert_eq!(court.uint(l1, "bond()(uint256)"), BONDED);
        court
    }

    fn uint(&self, l1: &L1, sig: &str) -> u128 {
        l1.anvil.cast().uint(&["call", &self.bond, sig])
    }

    /// `peregrine preconf prove <args> --bond <bond> [--send --key <challenger>]`.
    fn prove(&self, l1: &L1, args: &[&str], send: bool) -> CmdOutput {
        let url = l1.anvil.url();
        let key = self.key_file.path().display().to_string();
        let mut full: Vec<&str> = vec!["preconf", "prove"];
        full.extend_from_slice(args);
        full.extend(["--l1.rpc", &url, "--bond", &self.bond]);
        if send {
            full.extend(["--send", "--key", &key]);
        }
        peregrine_cli(&full)
    }
}

/// `peregrine watch` running against `l2` and this court; killed on drop.
struct Watcher {
    lines: JsonLines,
    /// Its datadir, removed on drop, after the watcher is killed.
    _datadir: tempfile::TempDir,
}

impl Watcher {
    fn start(l1: &L1, l2: &Node, court: &Court) -> Watcher {
        let dir = tempfile::tempdir().unwrap();
        let lines = JsonLines::start(
            "the watcher",
            std::process::Command::new(peregrine_tests::node::peregrine_bin())
                .args([
                    "watch",
                    "--sequencer",
                    &l2.ws_url(),
                    "--l1.rpc",
                    &l1.anvil.url(),
                ])
                .args(["--key", &court.key_file.path().display().to_string()])
                .args(["--bond", &court.bond])
                .args(["--datadir", &dir.path().join("data").display().to_string()]),
        );
        Watcher {
            lines,
            _datadir: dir,
        }
    }

    /// Waits (60 s at most) for a line that `pred` accepts; the last such line.
    #[track_caller]
    fn wait_for(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.lines.wait_for(what, Duration::from_secs(60), pred)
    }
}

fn hex_u64(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// The signed header of a preconfirmation (or of `{typedData, signature}`), the signature
/// in EIP-2098 compact form.
fn header_of(p: &Value) -> (MiniBlockHeader, Signature) {
    let m = &p["typedData"]["message"];
    let u = |k: &str| m[k].as_u64().unwrap_or_else(|| panic!("{k} in {m}"));
    let h = |k: &str| -> B256 { m[k].as_str().unwrap().parse().unwrap() };
    let header = MiniBlockHeader {
        chainId: u("chainId"),
        blockNumber: u("blockNumber"),
        miniBlockNumber: u("miniBlockNumber"),
        parentHash: h("parentHash"),
        firstSequence: u("firstSequence"),
        transactionsRoot: h("transactionsRoot"),
        receiptsRoot: h("receiptsRoot"),
        stateDiffRoot: h("stateDiffRoot"),
        timestampMicros: u("timestampMicros"),
        sendersHash: h("sendersHash"),
        blockContextHash: h("blockContextHash"),
    };
    let sig: Bytes = p["signature"].as_str().unwrap().parse().unwrap();
    assert_eq!(sig.len(), 65);
    let mut vs = B256::from_slice(&sig[32..64]);
    if sig[64] == 28 {
        vs.0[0] |= 0x80;
    }
    let signature = Signature {
        r: B256::from_slice(&sig[..32]),
        vs,
    };
    (header, signature)
}

/// The EIP-712 digest of `h` in the Peregrine domain, by alloy.
fn digest(h: &MiniBlockHeader) -> B256 {
    h.eip712_signing_hash(&eip712_domain! {
        name: "Peregrine",
        version: "2",
        chain_id: h.chainId,
    })
}

/// `typed` (EIP-712 typed data) signed with `key` by `cast wallet sign --data`.
fn cast_sign(typed: &Value, key: &str) -> String {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), typed.to_string()).unwrap();
    Cast::offline_ok(&[
        "wallet",
        "sign",
        "--data",
        "--from-file",
        &file.path().display().to_string(),
        "--private-key",
        key,
    ])
    .trim()
    .to_owned()
}

/// `{typedData, signature}` of preconfirmation `p`'s typed data changed by `edit`, signed
/// with `key`.
fn forged(p: &Value, key: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let mut typed = p["typedData"].clone();
    edit(&mut typed);
    let signature = cast_sign(&typed, key);
    json!({"typedData": typed, "signature": signature})
}

fn write_json(dir: &std::path::Path, name: &str, v: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(v).unwrap()).unwrap();
    path.display().to_string()
}

/// A preconfirmation for a fresh transfer on `l2`.
fn a_preconfirmation(l2: &Node, key: &str) -> Value {
    let receipt = l2.cast().json(&[
        "send",
        "--private-key",
        key,
        "--json",
        "0x000000000000000000000000000000000000dEaD",
        "--value",
        "1",
    ]);
    let hash = receipt["transactionHash"].as_str().unwrap().to_owned();
    let p = l2
        .rpc()
        .request("preconf_getPreconfirmation", json!([hash]));
    assert!(p.is_object(), "no preconfirmation for {hash}: {p}");
    p
}

/// Moves L1's clock `secs` forward and mines a block.
fn warp(l1: &L1, secs: u64) {
    l1.anvil.rpc().request("evm_increaseTime", json!([secs]));
    l1.anvil.rpc().request("evm_mine", json!([]));
}

fn l1_now(l1: &L1) -> u64 {
    hex_u64(&l1.anvil.rpc().block("latest", false)["timestamp"])
}

fn exit(out: &CmdOutput) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// The report `peregrine preconf prove` printed.
fn report(out: &CmdOutput) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn equivocation_is_slashed_once_and_the_challenger_is_paid() {
    let l1 = L1::start();
    let l2 = Node::start(peregrine_tests::node::Target::Peregrine);
    let court = Court::open(&l1, &l2);
    let dir = tempfile::tempdir().unwrap();
    let real = a_preconfirmation(&l2, DEPLOYER_KEY);
    // The same mini-block, with other transactions: the dev key signs it (anyone can, the
    // key is public; what matters is that the bonded key signed two headers).
    let other = forged(&real, &dev_sequencer_key(), |t| {
        t["message"]["transactionsRoot"] = json!(B256::repeat_byte(7));
    });
    let a = write_json(dir.path(), "a.json", &real);
    let b = write_json(dir.path(), "b.json", &other);

    // Asked first (eth_call): it would slash.
    let out = court.prove(&l1, &["equivocation", &a, &b], false);
    assert_eq!(exit(&out), 0, "{out}");
    assert_eq!(
        report(&out)["check"],
        json!("the bond would slash"),
        "{out}"
    );

    let before = balance(&l1, CHALLENGER);
    let out = court.prove(&l1, &["equivocation", &a, &b], true);
    assert_eq!(exit(&out), 0, "{out}");
    let r = report(&out);
    assert_eq!(r["fault"], json!("equivocation"));
    assert_eq!(r["sent"]["status"], json!(1), "{r}");
    let gas = r["sent"]["gasUsed"].as_u64().unwrap();
    println!("proveEquivocation gas: {gas}");
    assert_eq!(court.uint(&l1, "bond()(uint256)"), BONDED - SAFETY_PENALTY);
    assert_eq!(court.uint(&l1, "burned()(uint256)"), SAFETY_PENALTY / 2);
    let tx = l1
        .anvil
        .rpc()
        .request("eth_getTransactionReceipt", json!([r["sent"]["hash"]]));
    let fee = u128::from(hex_u64(&tx["gasUsed"])) * u128::from(hex_u64(&tx["effectiveGasPrice"]));
    assert_eq!(
        balance(&l1, CHALLENGER) + fee - before,
        SAFETY_PENALTY / 2,
        "the challenger gets half"
    );

    // Once only, in either order.
    for (x, y) in [(&a, &b), (&b, &a)] {
        let out = court.prove(&l1, &["equivocation", x, y], true);
        assert_eq!(exit(&out), 1, "{out}");
        assert!(out.stderr.contains("AlreadyProven"), "{out}");
    }
    assert_eq!(court.uint(&l1, "bond()(uint256)"), BONDED - SAFETY_PENALTY);
    assert!(
        gas <= 80_000,
        "proveEquivocation used {gas} gas (goal 80 000)"
    );
}

fn balance(l1: &L1, who: &str) -> u128 {
    l1.anvil.cast().uint(&["balance", who])
}

#[test]
fn proofs_for_another_chain_domain_or_key_tampered_or_after_withdrawal_are_refused() {
    let l1 = L1::start();
    let l2 = Node::start(peregrine_tests::node::Target::Peregrine);
    let court = Court::open(&l1, &l2);
    let dir = tempfile::tempdir().unwrap();
    let real = a_preconfirmation(&l2, DEPLOYER_KEY);
    let dev = dev_sequencer_key();
    let conflicting = |key: &str, edit: &dyn Fn(&mut Value)| {
        forged(&real, key, |t| {
            t["message"]["receiptsRoot"] = json!(B256::repeat_byte(9));
            edit(t);
        })
    };
    let expect_refused = |name: &str, a: &Value, b: &Value, error: &str| {
        let a = write_json(dir.path(), &format!("{name}-a.json"), a);
        let b = write_json(dir.path(), &format!("{name}-b.json"), b);
        let out = court.prove(&l1, &["equivocation", &a, &b], true);
        assert_eq!(exit(&out), 1, "{name}: {out}");
        assert!(out.stderr.contains(error), "{name}: wanted {error}: {out}");
    };
    let chain = court.chain_id + 1;
    let other_chain = |t: &mut Value| {
        t["domain"]["chainId"] = json!(chain);
        t["message"]["chainId"] = json!(chain);
    };
    expect_refused(
        "chain",
        &forged(&real, &dev, other_chain),
        &conflicting(&dev, &other_chain),
        "WrongChain",
    );
    // Signed in another domain (version "1"), presented as version 2.
    let mut other_domain = conflicting(&dev, &|t| t["domain"]["version"] = json!("1"));
    other_domain["typedData"]["domain"]["version"] = json!("2");
    expect_refused("domain", &real, &other_domain, "WrongSigner");
    expect_refused(
        "key",
        &real,
        &conflicting(OTHER_KEY, &|_| {}),
        "WrongSigner",
    );
    // A real header with one field changed under its real signature.
    let mut tampered = real.clone();
    tampered["typedData"]["message"]["firstSequence"] = json!(12_345);
    expect_refused(
        "tampered",
        &tampered,
        &conflicting(&dev, &|_| {}),
        "WrongSigner",
    );
    // Not the same position: another mini-block number and another parent.
    let elsewhere = forged(&real, &dev, |t| {
        let m = &mut t["message"];
        m["miniBlockNumber"] = json!(m["miniBlockNumber"].as_u64().unwrap() + 1);
        m["parentHash"] = json!(B256::repeat_byte(3));
    });
    let a = write_json(dir.path(), "elsewhere-a.json", &real);
    let b = write_json(dir.path(), "elsewhere-b.json", &elsewhere);
    let out = court.prove(&l1, &["equivocation", &a, &b], false);
    assert_eq!(exit(&out), 1, "{out}");
    assert_eq!(
        court.uint(&l1, "bond()(uint256)"),
        BONDED,
        "nothing slashed"
    );

    // Withdrawal: after the delay the bond is gone; old headers are past their window,
    // and fresh ones find nothing to slash.
    let seq = |sig: &str| {
        l1.anvil
            .cast()
            .ok(&["send", "--private-key", &dev, &court.bond, sig]);
    };
    seq("requestWithdrawal()");
    let early = l1
        .anvil
        .cast()
        .run(&["send", "--private-key", &dev, &court.bond, "withdraw()"]);
    assert!(
        !early.status.success(),
        "withdrew before the delay: {early}"
    );
    warp(&l1, WITHDRAWAL_DELAY + 1);
    seq("withdraw()");
    assert_eq!(court.uint(&l1, "bond()(uint256)"), 0);
    expect_refused("late", &real, &conflicting(&dev, &|_| {}), "TooLate");
    let now = l1_now(&l1) * 1_000_000;
    let fresh = |root: u8| {
        forged(&real, &dev, |t| {
            t["message"]["timestampMicros"] = json!(now);
            t["message"]["receiptsRoot"] = json!(B256::repeat_byte(root));
        })
    };
    expect_refused("withdrawn", &fresh(1), &fresh(2), "NoBond");
}

/// `eth_call` of `data` on `to`: the revert data (panics if it did not revert).
fn reverts(l1: &L1, to: &str, data: Vec<u8>) -> Bytes {
    let res = l1.anvil.rpc().call(
        "eth_call",
        json!([{"to": to, "input": Bytes::from(data)}, "latest"]),
    );
    let err = res.expect_err("the call should revert");
    err.data
        .and_then(|d| d.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or_else(|| panic!("revert without data: {}", err.message))
}

/// The proof of leaf `i` of `root_of(digests)`'s tree: the sibling on each level.
fn proof_of(digests: &[B256], i: usize) -> Vec<B256> {
    let levels = merkle_levels(digests);
    let mut proof = Vec::new();
    let mut i = i;
    for level in &levels[..levels.len() - 1] {
        if let Some(s) = level.get(i ^ 1) {
            proof.push(*s);
        }
        i /= 2;
    }
    proof
}

/// Every preconfirmation `l2` gave, from its feed (from the first mini-block).
fn preconfirmations(l2: &Node) -> Vec<Value> {
    let (mut ws, _) = WsClient::connect(l2.port(), 1 << 24);
    ws.subscribe(json!(["preconfirmations", {"fromMiniBlock": 0}]));
    let mut out = Vec::new();
    while let Some(n) = ws.next(Duration::from_secs(2)) {
        out.push(n.json["params"]["result"].clone());
    }
    out
}

#[test]
fn an_honest_run_leaves_nothing_to_prove() {
    let l1 = L1::start();
    let l2 = l1.sequencer("calldata", "");
    let court = Court::open(&l1, &l2);
    let mut watcher = Watcher::start(&l1, &l2, &court);
    let status = load(&l2, 4).wait().unwrap();
    assert!(status.success(), "peregrine-loadtest: {status}");
    let head = block_number(&l2, "latest");
    wait_safe(&l2, head, Duration::from_secs(60));
    let promised = promised(&l2);
    let preconfs = preconfirmations(&l2);
    // The watcher recorded every mini-block that had a preconfirmation, checked them all
    // against L1, and found nothing.
    let with_txs: std::collections::BTreeSet<u64> = preconfs
        .iter()
        .map(|p| {
            p["typedData"]["message"]["miniBlockNumber"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let status = watcher.wait_for("everything checked", |v| {
        v["recorded"].as_u64() == Some(with_txs.len() as u64) && v["pending"] == json!(0)
    });
    assert_eq!(status["faults"], json!(0), "{status}");
    assert_eq!(status["checkedHeaders"], status["recorded"], "{status}");
    assert!(
        preconfs.len() >= 1_000,
        "{} preconfirmations",
        preconfs.len()
    );

    let mut refused = 0;
    let mut roots = std::collections::BTreeMap::new();
    for (k, p) in preconfs.iter().take(1_000).enumerate() {
        let (h, sig) = header_of(p);
        let d = digest(&h);
        let (first, digests) = &promised[&h.blockNumber];
        let j = (h.miniBlockNumber - first) as usize;
        assert_eq!(digests[j], d, "the feed's header is the preconfirmed one");
        let committed_root = *roots
            .entry(h.blockNumber)
            .or_insert_with(|| l1.commitment(h.blockNumber).0);
        assert_eq!(root_of(digests), committed_root, "block {}", h.blockNumber);
        // Against its real commitment: kept.
        let call = proveMismatchCall {
            h: h.clone(),
            signature: sig.clone(),
            committed: d,
            proof: proof_of(digests, j),
        };
        let data = reverts(&l1, &court.bond, call.abi_encode());
        assert_eq!(&data[..4], NoFault::SELECTOR, "preconfirmation {k}");
        // Another committed digest claimed at its position: the proof does not hold.
        if digests.len() > 1 {
            let other = (j + 1) % digests.len();
            let call = proveMismatchCall {
                h: h.clone(),
                signature: sig.clone(),
                committed: digests[other],
                proof: proof_of(digests, other),
            };
            let data = reverts(&l1, &court.bond, call.abi_encode());
            assert_eq!(&data[..4], BadProof::SELECTOR, "preconfirmation {k}");
        }
        let call = proveNotPostedCall {
            h: h.clone(),
            signature: sig.clone(),
        };
        let data = reverts(&l1, &court.bond, call.abi_encode());
        assert_eq!(&data[..4], Posted::SELECTOR, "preconfirmation {k}");
        // Two real headers of different mini-blocks are no equivocation.
        let next = &preconfs[(k + 1) % preconfs.len()];
        let (h2, sig2) = header_of(next);
        if h2.miniBlockNumber != h.miniBlockNumber {
            let call = proveEquivocationCall {
                a: h,
                signatureA: sig,
                b: h2,
                signatureB: sig2,
            };
            let data = reverts(&l1, &court.bond, call.abi_encode());
            assert_eq!(&data[..4], NotEquivocation::SELECTOR, "preconfirmation {k}");
        }
        refused += 1;
    }
    assert_eq!(refused, 1_000);

    // The command line finds nothing either.
    let dir = tempfile::tempdir().unwrap();
    for (k, p) in preconfs
        .iter()
        .step_by(preconfs.len() / 3)
        .take(3)
        .enumerate()
    {
        let file = write_json(dir.path(), &format!("p{k}.json"), p);
        let out = court.prove(
            &l1,
            &["mismatch", &file, "--batcher.inbox", &l1.inbox],
            false,
        );
        assert_eq!(exit(&out), 1, "{out}");
        assert!(out.stderr.contains("promise is kept"), "{out}");
    }
    assert_eq!(court.uint(&l1, "bond()(uint256)"), BONDED);
}

/// The batcher commits to other headers than the sequencer signed (the test-only fault
/// switch `PEREGRINE_TEST_FAULT`): the broken preconfirmation is slashed, once.
fn a_broken_commitment_is_slashed(fault: &str) {
    let l1 = L1::start();
    let l2 = l1.sequencer_opts(
        "calldata",
        "",
        NodeOptions::default().env("PEREGRINE_TEST_FAULT", fault),
    );
    let court = Court::open(&l1, &l2);
    let status = load(&l2, 2).wait().unwrap();
    assert!(status.success(), "peregrine-loadtest: {status}");
    let head = block_number(&l2, "latest");
    wait_safe(&l2, head, Duration::from_secs(60));
    assert!(
        l2.log().contains("test fault injected"),
        "no fault injected"
    );
    // The block whose commitment is not what the feed promised, and the position.
    let promised = promised(&l2);
    let mut broken = None;
    for (n, (first, digests)) in &promised {
        if l1.commitment(*n).0 != root_of(digests) {
            let position = if fault == "omit" {
                digests.len() - 1
            } else {
                0
            };
            broken = Some(first + position as u64);
            break;
        }
    }
    let mini = broken.expect("a commitment differs from the feed");
    let p = preconfirmations(&l2)
        .into_iter()
        .find(|p| p["typedData"]["message"]["miniBlockNumber"] == json!(mini))
        .expect("a preconfirmation in the broken mini-block");
    let dir = tempfile::tempdir().unwrap();
    let file = write_json(dir.path(), "p.json", &p);
    let args = [
        "mismatch",
        file.as_str(),
        "--batcher.inbox",
        l1.inbox.as_str(),
    ];
    // The command line finds it, and the bond agrees (eth_call).
    let out = court.prove(&l1, &args, false);
    assert_eq!(exit(&out), 0, "{out}");
    let r = report(&out);
    let kind = if fault == "omit" {
        "omitted"
    } else {
        "mismatch"
    };
    assert_eq!(r["fault"], json!(kind), "{r}");
    assert_eq!(r["check"], json!("the bond would slash"), "{r}");
    // The watcher, started now, catches up from the first mini-block and proves it.
    let mut watcher = Watcher::start(&l1, &l2, &court);
    let line = watcher.wait_for("the fault", |v| v["fault"] == json!(kind));
    assert_eq!(line["status"], json!(1), "{line}");
    assert_eq!(line["miniBlock"], json!(mini), "{line}");
    let gas = line["gasUsed"].as_u64().unwrap();
    println!("proveMismatch ({kind}) gas: {gas}");
    assert_eq!(court.uint(&l1, "bond()(uint256)"), BONDED - SAFETY_PENALTY);
    // Proven once: the same proof again is refused.
    let out = court.prove(&l1, &args, true);
    assert_eq!(exit(&out), 1, "{out}");
    assert!(out.stderr.contains("AlreadyProven"), "{out}");
    assert!(
        gas <= 150_000,
        "proveMismatch used {gas} gas (goal 150 000)"
    );
    // One proof per block, and no other fault in this run.
    let status = watcher.wait_for("a status after the proof", |v| v["faults"].is_u64());
    assert_eq!(status["faults"], json!(1), "{status}");
}

#[test]
fn a_header_committed_differently_is_slashed() {
    a_broken_commitment_is_slashed("mismatch");
}

#[test]
fn a_header_left_out_of_the_commitment_is_slashed() {
    a_broken_commitment_is_slashed("omit");
}

#[test]
fn a_block_never_posted_is_slashed_after_the_deadline() {
    // No batcher: nothing is ever committed.
    let l1 = L1::start();
    let l2 = Node::start(peregrine_tests::node::Target::Peregrine);
    let court = Court::open(&l1, &l2);
    let dir = tempfile::tempdir().unwrap();
    let p = a_preconfirmation(&l2, DEPLOYER_KEY);
    let file = write_json(dir.path(), "p.json", &p);
    let args = [
        "mismatch",
        file.as_str(),
        "--batcher.inbox",
        l1.inbox.as_str(),
    ];
    let out = court.prove(&l1, &args, true);
    assert_eq!(exit(&out), 1, "{out}");
    assert!(out.stderr.contains("StillInTime"), "{out}");
    warp(&l1, POSTING_DEADLINE + 5);
    let out = court.prove(&l1, &args, true);
    assert_eq!(exit(&out), 0, "{out}");
    let r = report(&out);
    assert_eq!(r["fault"], json!("notPosted"), "{r}");
    println!("proveNotPosted gas: {}", r["sent"]["gasUsed"]);
    assert_eq!(
        court.uint(&l1, "bond()(uint256)"),
        BONDED - LIVENESS_PENALTY
    );
    let out = court.prove(&l1, &args, true);
    assert_eq!(exit(&out), 1, "{out}");
    assert!(out.stderr.contains("AlreadyProven"), "{out}");
}
