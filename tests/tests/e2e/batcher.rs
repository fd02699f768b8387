//! The L1 batcher (#10) against a real L1: anvil (`--hardfork prague`, blobs on), the
//! `PeregrineInbox` contract compiled with solc-js and deployed with cast, and
//! `peregrine dev --l1.rpc`. Each test checks the batcher's work the way an outsider
//! would: `peregrine derive` rebuilds the chain from L1 alone and compares every block
//! with the node (`--check`), the inbox's stored commitments are compared with the
//! mini-blocks the node's feed promised, and `safe` must move.

use alloy_primitives::{B256, U256, keccak256};
use peregrine_tests::{
    js::compile_contracts_in,
    node::{Node, NodeOptions, Target, peregrine_bin},
    util::{JsonLines, run_with_timeout},
    workspace_root,
    ws::WsClient,
};
use serde_json::{Value, json};
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

/// anvil's first two dev keys (public): the deployer, and the batcher.
pub(crate) const DEPLOYER_KEY: &str =
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const BATCHER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
pub(crate) const BATCHER_ADDRESS: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";

/// anvil with blobs, and the inbox deployed on it.
pub(crate) struct L1 {
    pub(crate) anvil: Node,
    pub(crate) inbox: String,
    key_file: tempfile::NamedTempFile,
}

impl L1 {
    pub(crate) fn start() -> L1 {
        let anvil = Node::start_opts(
            Target::Anvil,
            NodeOptions::default().arg(&["--hardfork", "prague"]),
        );
        let contracts = compile_contracts_in(&workspace_root().join("preconf/contracts"));
        let inbox = &contracts["PeregrineInbox"];
        let args = format!(
            "{:0>64}",
            BATCHER_ADDRESS.trim_start_matches("0x").to_lowercase()
        );
        let code = format!("{}{args}", inbox.bytecode);
        let receipt = anvil.cast().json(&[
            "send",
            "--private-key",
            DEPLOYER_KEY,
            "--json",
            "--create",
            &code,
        ]);
        let inbox = receipt["contractAddress"]
            .as_str()
            .expect("deployed")
            .to_owned();
        let key_file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(key_file.path(), BATCHER_KEY).unwrap();
        L1 {
            anvil,
            inbox,
            key_file,
        }
    }

    /// `peregrine dev` posting here, with `da` and `extra` flags.
    pub(crate) fn sequencer(&self, da: &str, config: &str) -> Node {
        self.sequencer_opts(da, config, NodeOptions::default())
    }

    /// [`L1::sequencer`] with further options.
    pub(crate) fn sequencer_opts(&self, da: &str, config: &str, opts: NodeOptions) -> Node {
        let dir = tempfile::tempdir().unwrap().keep();
        let cfg = dir.join("peregrine.toml");
        std::fs::write(&cfg, config).unwrap();
        Node::start_opts(
            Target::Peregrine,
            opts.arg(&[
                "--l1.rpc",
                &self.anvil.url(),
                "--batcher.key",
                &self.key_file.path().display().to_string(),
                "--batcher.inbox",
                &self.inbox,
                "--batcher.da",
                da,
                "--config",
                &cfg.display().to_string(),
            ]),
        )
    }

    /// `peregrine derive` reading this L1 and checking against `l2`, with `extra` flags.
    fn derive_cmd(&self, l2: &Node, extra: &[&str]) -> std::process::Command {
        let mut cmd = std::process::Command::new(peregrine_bin());
        cmd.args([
            "derive",
            "--l1.rpc",
            &self.anvil.url(),
            "--batcher.inbox",
            &self.inbox,
            "--batcher.address",
            BATCHER_ADDRESS,
            "--check",
            &l2.url(),
        ])
        .args(extra);
        cmd
    }

    /// `peregrine derive --check` against `l2`: its JSON summary.
    fn derive_check(&self, l2: &Node) -> Value {
        self.derive_check_with(l2, &[])
    }

    /// [`L1::derive_check`] with `extra` flags.
    fn derive_check_with(&self, l2: &Node, extra: &[&str]) -> Value {
        let out = run_with_timeout(&mut self.derive_cmd(l2, extra), Duration::from_secs(120));
        assert!(
            out.success(),
            "peregrine derive --check failed:\n{}",
            out.combined()
        );
        let last = out.out().lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("derive printed {last:?}: {e}"))
    }

    /// The inbox's commitment of L2 block `n`: (root, count, first mini-block, L1 block).
    pub(crate) fn commitment(&self, n: u64) -> (B256, u64, u64, u64) {
        let out = self.anvil.cast().ok(&[
            "call",
            &self.inbox,
            "commitment(uint64)(bytes32,uint32,uint64,uint64)",
            &n.to_string(),
        ]);
        let mut lines = out
            .lines()
            .map(|l| l.split_whitespace().next().unwrap_or_default());
        let root: B256 = lines.next().unwrap().parse().unwrap();
        let count = lines.next().unwrap().parse().unwrap();
        let first = lines.next().unwrap().parse().unwrap();
        let l1 = lines.next().unwrap().parse().unwrap();
        (root, count, first, l1)
    }
}

/// `peregrine-loadtest` sending 300 tx/s of ETH and ERC-20 transfers for `secs`.
pub(crate) fn load(node: &Node, secs: u64) -> std::process::Child {
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

pub(crate) fn block_number(node: &Node, tag: &str) -> u64 {
    let b = node.rpc().block(tag, false);
    u64::from_str_radix(b["number"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// Waits until `safe` on `l2` reaches `target`; panics with the log after `within`.
pub(crate) fn wait_safe(l2: &Node, target: u64, within: Duration) -> u64 {
    let deadline = Instant::now() + within;
    loop {
        let safe = block_number(l2, "safe");
        if safe >= target {
            return safe;
        }
        assert!(
            Instant::now() < deadline,
            "safe stuck at {safe}, wanted {target}\n{}",
            tail(&l2.log())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// The node's mini-block header digests by L2 block, from its `miniBlocks` feed, with
/// the number of each block's first mini-block.
pub(crate) fn promised(l2: &Node) -> BTreeMap<u64, (u64, Vec<B256>)> {
    let (mut ws, _) = WsClient::connect(l2.port(), 1 << 24);
    let sub = ws.subscribe(json!(["miniBlocks", {"fromMiniBlock": 0}]));
    let mut out: BTreeMap<u64, (u64, Vec<B256>)> = BTreeMap::new();
    while let Some(n) = ws.next(Duration::from_secs(2)) {
        assert_eq!(
            n.json["params"]["subscription"].as_str(),
            Some(sub.as_str())
        );
        let r = &n.json["params"]["result"];
        let block = r["header"]["blockNumber"].as_u64().expect("blockNumber");
        let number = r["header"]["miniBlockNumber"]
            .as_u64()
            .expect("miniBlockNumber");
        out.entry(block)
            .or_insert((number, Vec::new()))
            .1
            .push(r["hash"].as_str().unwrap().parse().unwrap());
    }
    out
}

/// The commitment tree, computed here independently, level by level (leaves first):
/// leaves keccak(keccak(abi.encode(uint256 i, bytes32 digest))), pairs hashed sorted, an
/// odd node promoted.
pub(crate) fn merkle_levels(digests: &[B256]) -> Vec<Vec<B256>> {
    let mut levels = vec![
        digests
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let mut enc = U256::from(i).to_be_bytes::<32>().to_vec();
                enc.extend_from_slice(d.as_slice());
                keccak256(keccak256(enc))
            })
            .collect::<Vec<B256>>(),
    ];
    while levels.last().unwrap().len() > 1 {
        let next = levels
            .last()
            .unwrap()
            .chunks(2)
            .map(|p| match p {
                [a, b] => {
                    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                    keccak256([lo.as_slice(), hi.as_slice()].concat())
                }
                [a] => *a,
                _ => unreachable!(),
            })
            .collect();
        levels.push(next);
    }
    levels
}

/// The commitment root (zero for no mini-blocks).
pub(crate) fn root_of(digests: &[B256]) -> B256 {
    merkle_levels(digests)
        .last()
        .and_then(|top| top.first())
        .copied()
        .unwrap_or(B256::ZERO)
}

/// Load, then: `safe` reaches the head, derivation reproduces every block, and the
/// commitment of every block on L1 is the one its mini-blocks make.
fn posts_and_derives(da: &str) {
    let l1 = L1::start();
    let l2 = l1.sequencer(da, "");
    assert_eq!(
        block_number(&l2, "safe"),
        0,
        "nothing is safe before L1 has it"
    );
    let status = load(&l2, 3).wait().unwrap();
    assert!(status.success(), "peregrine-loadtest: {status}");
    let head = block_number(&l2, "latest");
    let safe = wait_safe(&l2, head, Duration::from_secs(60));
    assert!(safe <= block_number(&l2, "latest"));
    let summary = l1.derive_check(&l2);
    let derived = summary["derived"].as_u64().unwrap();
    assert!(derived > head, "{summary}");
    assert_eq!(summary["matched"], json!(derived), "{summary}");
    assert_eq!(summary["reposted"], json!(0), "{summary}");
    assert!(
        summary["transactions"].as_u64().unwrap() >= 800,
        "{summary}"
    );
    let promised = promised(&l2);
    let mut checked = 0;
    for n in 0..=head {
        let (first, digests) = promised.get(&n).cloned().unwrap_or_default();
        let (root, count, first_on_l1, l1_block) = l1.commitment(n);
        assert!(l1_block > 0, "block {n} has no commitment on L1");
        assert_eq!(count, digests.len() as u64, "block {n}: mini-block count");
        if !digests.is_empty() {
            assert_eq!(first_on_l1, first, "block {n}: first mini-block");
        }
        assert_eq!(root, root_of(&digests), "block {n}: commitment root");
        checked += usize::from(!digests.is_empty());
    }
    assert!(checked > 3, "blocks with mini-blocks checked: {checked}");
    let channels = metric(
        &l2,
        &format!("peregrine_batcher_channels_total{{da=\"{da}\"}}"),
    );
    assert!(channels >= 1.0, "no {da} channel in the metrics");
    // Everything sent was posted as `da` says.
    let other = if da == "blobs" { "calldata" } else { "blobs" };
    assert_eq!(
        metric(
            &l2,
            &format!("peregrine_batcher_channels_total{{da=\"{other}\"}}")
        ),
        0.0
    );
}

#[test]
fn calldata_batches_reach_l1_and_derivation_reproduces_every_block() {
    posts_and_derives("calldata");
}

#[test]
fn blob_batches_reach_l1_and_derivation_reproduces_every_block() {
    posts_and_derives("blobs");
}

/// SIGKILL while a batch transaction waits in L1's mempool (mining paused): after the
/// restart the batcher sends the same signed transaction again (its state holds it), no
/// nonce is reused or skipped, and no block is posted twice.
#[test]
fn a_restart_with_a_batch_transaction_pending_posts_nothing_twice() {
    let l1 = L1::start();
    let rpc = l1.anvil.rpc();
    let mut l2 = l1.sequencer("calldata", "");
    wait_safe(&l2, 1, Duration::from_secs(30));
    rpc.request("evm_setAutomine", json!([false]));
    rpc.request("evm_setIntervalMining", json!([0]));
    let status = load(&l2, 2).wait().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let nonce = |tag: &str| nonce(rpc, tag);
    while nonce("pending") <= nonce("latest") {
        assert!(
            Instant::now() < deadline,
            "no batch transaction reached the mempool"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pending = nonce("pending");
    l2.kill_hard();
    l2.restart();
    rpc.request("evm_setIntervalMining", json!([1]));
    let head = block_number(&l2, "latest");
    wait_safe(&l2, head, Duration::from_secs(60));
    assert!(
        nonce("latest") >= pending,
        "latest nonce {} < {pending} pending before the kill (safe {}, head {head})\n{}",
        nonce("latest"),
        block_number(&l2, "safe"),
        tail(&l2.log())
    );
    let summary = l1.derive_check(&l2);
    assert_eq!(
        summary["reposted"],
        json!(0),
        "a block was posted twice: {summary}"
    );
    assert_eq!(summary["matched"], summary["derived"], "{summary}");
}

/// anvil_dropAllTransactions while a batch transaction waits: the batcher notices it
/// is not included and sends it again; then a 3-deep L1 reorg removes included batches:
/// they are detected and posted again, and `safe` comes back. All along, `peregrine
/// derive --follow` with a datadir derives and checks every block as it is posted, goes
/// back over the reorg, and derives the re-posted blocks again; killed, it resumes from
/// its datadir.
#[test]
fn mempool_wipes_and_l1_reorgs_are_recovered() {
    let l1 = L1::start();
    let rpc = l1.anvil.rpc();
    let l2 = l1.sequencer(
        "calldata",
        "[batcher]\nresubmit-after = \"1s\"\nfee-bump-after = \"30s\"\n",
    );
    let derive_dir = tempfile::tempdir().unwrap();
    let datadir = derive_dir.path().display().to_string();
    let follow = [
        "--datadir",
        &datadir,
        "--follow",
        "--poll-interval",
        "200ms",
    ];
    let mut follower = JsonLines::start(
        "peregrine derive --follow",
        &mut l1.derive_cmd(&l2, &follow),
    );
    let progress = |v: &Value| v["event"] == json!("progress");
    wait_safe(&l2, 1, Duration::from_secs(30));
    // Mempool wipe.
    rpc.request("evm_setIntervalMining", json!([0]));
    let status = load(&l2, 1).wait().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    while nonce(rpc, "pending") <= nonce(rpc, "latest") {
        assert!(
            Instant::now() < deadline,
            "no batch transaction reached the mempool"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    rpc.request("anvil_dropAllTransactions", json!([]));
    assert_eq!(
        nonce(rpc, "pending"),
        nonce(rpc, "latest"),
        "the wipe left the batch transaction"
    );
    rpc.request("evm_setIntervalMining", json!([1]));
    let head = block_number(&l2, "latest");
    wait_safe(&l2, head, Duration::from_secs(60));
    // Reorg: once the batcher has seen its latest batches included (`safe` at the head),
    // drop the newest 3 L1 blocks, which hold at least one of them (a channel closes every
    // 2 s, an L1 block comes every 1 s).
    let status = load(&l2, 1).wait().unwrap();
    assert!(status.success());
    let reorged_before = metric(&l2, "peregrine_batcher_reorged_txs_total");
    let head = block_number(&l2, "latest");
    wait_safe(&l2, head, Duration::from_secs(60));
    // L1 holds still while the follower reads up to its tip, so that the reorg replaces
    // L1 blocks it has read.
    rpc.request("evm_setIntervalMining", json!([0]));
    let tip = l1_block_number(rpc);
    let before = follower.wait_for("the L1 tip", Duration::from_secs(60), |v| {
        progress(v) && v["l1Block"].as_u64() >= Some(tip)
    });
    assert_eq!(before["matched"], before["derived"], "{before}");
    rpc.request("anvil_reorg", json!([3, []]));
    rpc.request("evm_setIntervalMining", json!([1]));
    let head = block_number(&l2, "latest");
    wait_safe(&l2, head, Duration::from_secs(60));
    assert!(
        metric(&l2, "peregrine_batcher_reorged_txs_total") > reorged_before,
        "the reorg was not noticed\n{}",
        tail(&l2.log())
    );
    // The follower went back exactly over the 3 replaced L1 blocks, and with them over
    // the L2 blocks whose batches they held (the batcher saw at least one of its
    // transactions go); then it derived those blocks again from their re-posts.
    let reorg = follower.wait_for("the reorg undone", Duration::from_secs(30), |v| {
        v["event"] == json!("reorg")
    });
    assert_eq!(reorg["removedL1Blocks"], json!(3), "{reorg}");
    assert_eq!(reorg["l1Ancestor"], json!(tip - 3), "{reorg}");
    assert!(reorg["droppedL2Blocks"].as_u64() >= Some(1), "{reorg}");
    let after = follower.wait_for("the blocks again", Duration::from_secs(60), |v| {
        progress(v) && v["head"]["number"].as_u64() >= Some(head)
    });
    assert_eq!(after["matched"], after["derived"], "{after}");
    assert!(
        after["derived"].as_u64() > before["derived"].as_u64(),
        "{before} {after}"
    );
    // Killed (as a crash would), it resumes from its datadir where it stopped, and
    // derives what was posted since.
    follower.kill();
    let load = load(&l2, 1).wait().unwrap();
    assert!(load.success());
    let newer = block_number(&l2, "latest");
    wait_safe(&l2, newer, Duration::from_secs(60));
    let resumed = l1.derive_check_with(&l2, &["--datadir", &datadir]);
    eprintln!("before the reorg: {before}\nthe reorg: {reorg}\nafter: {after}\nresumed: {resumed}");
    assert!(resumed["resumedAt"].as_u64() > Some(head), "{resumed}");
    let resumed_at = resumed["resumedAt"].as_u64().unwrap();
    assert!(newer >= resumed_at, "{resumed}");
    assert_eq!(
        resumed["derived"].as_u64(),
        resumed["head"]["number"]
            .as_u64()
            .map(|h| h + 1 - resumed_at),
        "{resumed}"
    );
    assert!(
        resumed["head"]["number"].as_u64() >= Some(newer),
        "{resumed}"
    );
    assert_eq!(resumed["matched"], resumed["derived"], "{resumed}");
    // And from scratch, the same chain.
    let summary = l1.derive_check(&l2);
    assert_eq!(summary["matched"], summary["derived"], "{summary}");
}

/// L1's newest block number.
fn l1_block_number(rpc: &peregrine_tests::rpc::Rpc) -> u64 {
    peregrine_tests::util::hex_quantity(&rpc.request("eth_blockNumber", json!([]))) as u64
}

/// The batcher's L1 nonce at `tag`.
fn nonce(rpc: &peregrine_tests::rpc::Rpc, tag: &str) -> u64 {
    let v = rpc.request("eth_getTransactionCount", json!([BATCHER_ADDRESS, tag]));
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn metric(node: &Node, name: &str) -> f64 {
    let text = ureq::get(&format!("{}/metrics", node.metrics_url()))
        .call()
        .unwrap_or_else(|e| panic!("/metrics: {e}\n{}", tail(&node.log())))
        .body_mut()
        .read_to_string()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name).filter(|r| r.starts_with(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// `peregrine-loadtest` at 300 tx/s for `secs`, its JSON report in `out`.
fn load_report(node: &Node, secs: u64, out: &std::path::Path) -> std::process::Child {
    std::process::Command::new(peregrine_tests::node::loadtest_bin())
        .args(["--rpc", &node.ws_url(), "--rate", "300", "--accounts", "16"])
        .args([
            "--mix",
            "eth=50,erc20=50",
            "--duration",
            &format!("{secs}s"),
        ])
        .args(["--out", &out.display().to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start peregrine-loadtest")
}

fn signal(node: &Node, sig: &str) {
    let pid = node.pid().expect("running").to_string();
    let st = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap();
    assert!(st.success(), "kill {sig} {pid}");
}

/// L1 stops answering (anvil SIGSTOPped) for 30 s under load: the sequencer goes on
/// preconfirming (0 errors), `safe` stays, the backlog and `l1_up` show it; after SIGCONT
/// the batcher catches up, with no gap (derivation reproduces every block) and no
/// duplicate (nothing reposted).
#[test]
fn an_l1_outage_delays_safe_and_never_a_preconfirmation() {
    let l1 = L1::start();
    let l2 = l1.sequencer("calldata", "");
    wait_safe(&l2, 1, Duration::from_secs(30));
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("load.json");
    let mut load = load_report(&l2, 38, &report);
    std::thread::sleep(Duration::from_secs(3));
    signal(&l1.anvil, "-STOP");
    let stopped = Instant::now();
    std::thread::sleep(Duration::from_secs(15));
    let safe_during = block_number(&l2, "safe");
    let backlog = metric(&l2, "peregrine_batcher_backlog_blocks");
    let up = metric(&l2, "peregrine_batcher_l1_up");
    std::thread::sleep(Duration::from_secs(30).saturating_sub(stopped.elapsed()));
    assert_eq!(
        block_number(&l2, "safe"),
        safe_during,
        "safe moved while L1 was down"
    );
    signal(&l1.anvil, "-CONT");
    let status = load.wait().unwrap();
    assert!(status.success(), "peregrine-loadtest: {status}");
    let r: Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(
        r["errors"],
        json!(0),
        "transactions failed during the outage: {}",
        r["errors_by_kind"]
    );
    assert!(
        r["completed"].as_u64().unwrap() > 8_000,
        "{}",
        r["completed"]
    );
    assert_eq!(up, 0.0, "l1_up during the outage");
    assert!(
        backlog > 50.0,
        "backlog during the outage: {backlog} blocks"
    );
    let head = block_number(&l2, "latest");
    wait_safe(&l2, head, Duration::from_secs(120));
    let summary = l1.derive_check(&l2);
    assert_eq!(summary["reposted"], json!(0), "{summary}");
    assert_eq!(summary["matched"], summary["derived"], "{summary}");
    assert!(summary["derived"].as_u64().unwrap() > head, "{summary}");
}

/// Past `batcher.max-backlog` (L1 down), new transactions are refused with -32005 naming
/// the backlog, and `/ready` says why; once L1 is back and the backlog drains, they are
/// accepted again.
#[test]
fn a_backlog_past_its_limit_pauses_intake_until_it_drains() {
    let l1 = L1::start();
    let l2 = l1.sequencer("calldata", "[batcher]\nmax-backlog = \"16 KiB\"\n");
    wait_safe(&l2, 1, Duration::from_secs(30));
    signal(&l1.anvil, "-STOP");
    // Load until intake pauses (each transfer block adds ~100+ bytes a transaction).
    let deadline = Instant::now() + Duration::from_secs(60);
    let cast = l2.cast();
    let refused = loop {
        let out = cast.run(&[
            "send",
            "--private-key",
            DEPLOYER_KEY,
            "--async",
            "0x000000000000000000000000000000000000dEaD",
            "--value",
            "1",
        ]);
        if !out.success() {
            break out.combined();
        }
        assert!(
            Instant::now() < deadline,
            "intake never paused\n{}",
            tail(&l2.log())
        );
        let _ = load(&l2, 1).wait();
    };
    assert!(
        refused.contains("-32005") || refused.contains("32005"),
        "{refused}"
    );
    assert!(refused.contains("batcher.max-backlog"), "{refused}");
    let ready = ureq::get(&format!("{}/ready", l2.metrics_url()))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    let status = ready.status().as_u16();
    let body = ready.into_body().read_to_string().unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("L1 backlog"), "{body}");
    signal(&l1.anvil, "-CONT");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let out = cast.run(&[
            "send",
            "--private-key",
            DEPLOYER_KEY,
            "--async",
            "0x000000000000000000000000000000000000dEaD",
            "--value",
            "1",
        ]);
        if out.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "intake never resumed: {}",
            out.combined()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let head = block_number(&l2, "latest");
    wait_safe(&l2, head, Duration::from_secs(60));
    let summary = l1.derive_check(&l2);
    assert_eq!(summary["matched"], summary["derived"], "{summary}");
}

/// A blob transaction that stays out of L1 (mining paused, as under a blob fee spike) is
/// bumped (2× all three fees, the pool's rule) within the blob-fee budget, then, the
/// budget reached, replaced at the same nonce by the same frames and commitments in
/// calldata. Derivation still reproduces every block, once.
///
/// (A real spike could not be made here: anvil 1.7 keeps `excessBlobGas` at 0 and the
/// blob base fee at 1 wei under blocks of 9 blobs, measured with 5 such blocks. `auto`'s
/// choice under a spike is a unit test, `poster::tests`.)
#[test]
fn a_stuck_blob_transaction_is_bumped_within_budget_then_moved_to_calldata() {
    let l1 = L1::start();
    let rpc = l1.anvil.rpc();
    let l2 = l1.sequencer(
        "blobs",
        "[batcher]\nmax-fee-per-blob-gas = 4\nfee-bump-after = \"1s\"\nresubmit-after = \"1s\"\n",
    );
    wait_safe(&l2, 1, Duration::from_secs(30));
    rpc.request("evm_setIntervalMining", json!([0]));
    let status = load(&l2, 1).wait().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(&l2, "peregrine_batcher_da_switches_total") < 1.0 {
        assert!(
            Instant::now() < deadline,
            "no switch to calldata\n{}",
            tail(&l2.log())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        metric(&l2, "peregrine_batcher_fee_bumps_total") >= 1.0,
        "no bump before the switch"
    );
    rpc.request("evm_setIntervalMining", json!([1]));
    let head = block_number(&l2, "latest");
    wait_safe(&l2, head, Duration::from_secs(90));
    let summary = l1.derive_check(&l2);
    assert_eq!(summary["reposted"], json!(0), "{summary}");
    assert_eq!(summary["matched"], summary["derived"], "{summary}");
}

/// An inbox that would refuse the batcher's posts (here: no inbox at that address) is
/// found before anything is paid for: nothing is sent, and the log says why.
#[test]
fn a_wrong_inbox_is_refused_before_any_post() {
    let mut l1 = L1::start();
    l1.inbox = "0x000000000000000000000000000000000000bEEF".into();
    let l2 = l1.sequencer("calldata", "");
    let status = load(&l2, 1).wait().unwrap();
    assert!(status.success(), "the sequencer goes on without a batcher");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !l2.log().contains("no PeregrineInbox there") {
        assert!(
            Instant::now() < deadline,
            "no error about the inbox\n{}",
            tail(&l2.log())
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        nonce(l1.anvil.rpc(), "pending"),
        0,
        "the batcher sent something"
    );
    assert_eq!(block_number(&l2, "safe"), 0);
}
