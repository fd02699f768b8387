//! Crash recovery (Peregrine only): load over one WebSocket (`tests/js/crash-load.mjs`)
//! records every preconfirmation the client receives; the node is SIGKILLed at a random
//! moment, restarted on the same datadir and port, and then every received
//! preconfirmation must be served again by `preconf_getPreconfirmation`, identical in every
//! field but the two wall-clock timestamps `timestamps.signed` and `timestamps.sent`
//! (same signed header, position, receipt and proofs), and must end up sealed in the block
//! it promised, with the status it promised; after that the chain goes on (a new transfer
//! is included, blocks keep coming).
//!
//! The node runs with 2 s blocks, so at the kill there are always many preconfirmed but
//! unsealed transactions: exactly what the write-ahead log has to bring back.
//!
//! Knobs (all printed, so a failure can be repeated):
//! - `PEREGRINE_CRASH_ITERATIONS` (default 3): crashes in a row on one datadir, each on
//!   top of the state the previous recovery left.
//! - `PEREGRINE_CRASH_SEED`: the PRNG seed choosing the kill delays (default: the clock).
//! - `PEREGRINE_CRASH_DURABILITY` (`os` or `fsync`): start the node with
//!   `--wal.durability <mode>` (default: no WAL flag at all).
//! - `PEREGRINE_CRASH_SIGNAL=TERM`: stop gracefully instead of SIGKILL, a control run
//!   showing the checks themselves hold for a node that loses nothing.
//!
//! `scripts/crash-test.sh [iterations]` runs many iterations (default 50).

use std::collections::BTreeMap;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use peregrine_tests::js::node_script_background;
use peregrine_tests::util::{SplitMix64, as_str, json_diff, lower, parse_u128};
use peregrine_tests::{Node, NodeOptions, dev, skip_on_anvil, wait_until};
use serde_json::{Value, json};

use crate::common::{assert_success, block_of, send_value, wait_for_block};

/// `--block-time` of the node under test: long, so that many preconfirmations are still
/// unsealed (only in memory and the WAL) whenever the kill lands.
const BLOCK_TIME: &str = "2s";
const BLOCK_TIME_MS: u64 = 2_000;
/// Dev accounts 0..SENDERS send the load; 8 and 9 are left for the checks.
const SENDERS: &str = "6";
/// Upper bound of transactions per load run (the script also stops after 30 s).
const MAX_TXS: &str = "20000";
/// The kill lands this many milliseconds (uniformly drawn) after the first preconfirmation
/// was recorded, i.e. while the load is running; the range spans more than one block time,
/// so some kills come right after a seal and some just before one.
const KILL_DELAY_MS: (u64, u64) = (300, 2500);
/// How long the load may take to record its first preconfirmation before the kill comes
/// anyway.
const FIRST_RECORD_TIMEOUT: Duration = Duration::from_secs(15);
/// The load script stops by itself after 30 s; it should exit as soon as the socket closes.
const SCRIPT_EXIT_TIMEOUT: Duration = Duration::from_secs(45);
/// The one field of a preconfirmation taken from the wall clock when it is served (each
/// answer has its own `sent`); everything else, `timestamps.signed` included (the log
/// keeps it), must come back identical.
const WALL_CLOCK_FIELDS: [&str; 1] = ["timestamps.sent"];
/// How many records of each iteration are checked again after every later restart.
const CARRIED_PER_ITERATION: usize = 20;
/// Requests per JSON-RPC batch when checking records.
const BATCH: usize = 200;

/// One preconfirmation the load script received (one line of its output file).
#[derive(Debug, Clone)]
struct Record {
    /// 1-based line in the output file.
    line: usize,
    /// `sync` (the `eth_sendRawTransactionSync` answer) or `sub` (the subscription).
    src: String,
    /// Lower-case transaction hash.
    hash: String,
    /// The preconfirmation as received (subscription items without `transactionHash`).
    preconf: Value,
    /// The sync receipt without its `preconfirmation` field (`sync` records only).
    receipt: Option<Value>,
}

impl Record {
    fn block_number(&self) -> u64 {
        self.preconf["typedData"]["message"]["blockNumber"]
            .as_u64()
            .unwrap_or_else(|| panic!("record {} lacks typedData.message.blockNumber", self.line))
    }

    fn mini_block(&self) -> u64 {
        self.preconf["typedData"]["message"]["miniBlockNumber"]
            .as_u64()
            .unwrap_or_default()
    }

    fn describe(&self) -> String {
        format!(
            "tx {} (line {}, via {}; block {}, mini-block {}, index {}, success {})",
            self.hash,
            self.line,
            self.src,
            self.block_number(),
            self.mini_block(),
            self.preconf["transaction"]["index"],
            self.preconf["receipt"]["success"],
        )
    }
}

/// Reads the records the load script wrote (every line must be whole: the script is not
/// killed, only the node).
#[track_caller]
fn read_records(path: &Path) -> Vec<Record> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| {
                panic!("{}:{}: not JSON ({e}): {l:.300}", path.display(), i + 1)
            });
            let preconf = v["preconfirmation"].clone();
            assert!(
                preconf.is_object(),
                "{}:{}: no preconfirmation object: {l:.300}",
                path.display(),
                i + 1
            );
            let hash = lower(as_str(&preconf["transaction"]["hash"]));
            assert_eq!(
                lower(as_str(&v["hash"])),
                hash,
                "line {}: recorded hash",
                i + 1
            );
            Record {
                line: i + 1,
                src: as_str(&v["src"]).to_owned(),
                hash,
                preconf,
                receipt: Some(v["receipt"].clone()).filter(Value::is_object),
            }
        })
        .collect()
}

fn count_lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}

fn env_u64(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok().filter(|v| !v.trim().is_empty())?;
    Some(
        u64::try_from(parse_u128(&v))
            .unwrap_or_else(|_| panic!("{name}={v} does not fit in 64 bits")),
    )
}

/// How the node is brought down: SIGKILL (the crash under test) or SIGTERM (control run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    Sigkill,
    Sigterm,
}

impl Kill {
    fn from_env() -> Kill {
        match std::env::var("PEREGRINE_CRASH_SIGNAL").as_deref() {
            Err(_) | Ok("") | Ok("KILL") | Ok("kill") => Kill::Sigkill,
            Ok("TERM") | Ok("term") => Kill::Sigterm,
            Ok(other) => panic!("PEREGRINE_CRASH_SIGNAL={other:?}: use KILL or TERM"),
        }
    }
}

/// What one load-and-kill round saw.
struct LoadRun {
    /// Head block number just before the kill.
    head_before: u64,
    /// Milliseconds from the first recorded preconfirmation to the kill (None: none came).
    killed_after_ms: Option<u128>,
    /// Lines recorded when the kill was sent.
    lines_at_kill: usize,
    /// The script's `RESULT` line.
    result: String,
}

/// Runs the load script against `node`, waits for its first record, sleeps `delay_ms`,
/// brings the node down (SIGKILL), and waits for the script to finish.
#[track_caller]
fn load_and_kill(node: &mut Node, out: &Path, delay_ms: u64, kill: Kill, ctx: &str) -> LoadRun {
    let ws = node.ws_url();
    let out_s = out.display().to_string();
    let mut script = node_script_background("crash-load.mjs", &[&ws, &out_s, MAX_TXS, SENDERS]);
    let deadline = Instant::now() + FIRST_RECORD_TIMEOUT;
    let first = loop {
        if count_lines(out) > 0 {
            break Some(Instant::now());
        }
        if !script.is_running() || Instant::now() >= deadline {
            break None;
        }
        thread::sleep(Duration::from_millis(2));
    };
    if first.is_some() {
        thread::sleep(Duration::from_millis(delay_ms));
    } else {
        println!(
            "{ctx}: no preconfirmation recorded within {FIRST_RECORD_TIMEOUT:?}; killing anyway"
        );
    }
    let head_before = node.rpc().block_number();
    let lines_at_kill = count_lines(out);
    let killed_after_ms = first.map(|t| t.elapsed().as_millis());
    let pid = node.pid().expect("node running");
    match kill {
        Kill::Sigkill => {
            let status = node.kill_hard();
            println!(
                "{ctx}: SIGKILL pid {pid} {} ms after the first record ({lines_at_kill} lines recorded, head {head_before}): {status}",
                killed_after_ms.map_or("-".into(), |m| m.to_string())
            );
        }
        Kill::Sigterm => {
            let status = node.stop();
            println!("{ctx}: SIGTERM (control run) pid {pid}: {status}");
        }
    }
    let output = script.wait(SCRIPT_EXIT_TIMEOUT);
    assert!(
        output.success(),
        "{ctx}: crash-load.mjs failed ({}):\n{output}",
        output.status
    );
    let result = output
        .stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or("(no RESULT line)")
        .to_owned();
    LoadRun {
        head_before,
        killed_after_ms,
        lines_at_kill,
        result,
    }
}

/// `method(hash)` for every distinct transaction hash of `records`, in JSON-RPC batches.
#[track_caller]
fn by_hash<'a>(
    node: &Node,
    records: &'a [Record],
    method: &str,
    ctx: &str,
) -> BTreeMap<&'a str, Value> {
    let mut hashes: Vec<&str> = records.iter().map(|r| r.hash.as_str()).collect();
    hashes.sort_unstable();
    hashes.dedup();
    let calls: Vec<(&str, Value)> = hashes.iter().map(|h| (method, json!([h]))).collect();
    hashes
        .iter()
        .copied()
        .zip(node.rpc().batch(&calls, BATCH))
        .map(|(h, r)| {
            let v = r.unwrap_or_else(|e| panic!("{ctx}: {method}({h}): {e}"));
            (h, v)
        })
        .collect()
}

/// Every record must be served again by `preconf_getPreconfirmation`, identical but for
/// [`WALL_CLOCK_FIELDS`]. Panics naming the lost and the changed transactions.
#[track_caller]
fn check_preconfirmations(node: &Node, records: &[Record], ctx: &str) {
    if records.is_empty() {
        return;
    }
    let served = by_hash(node, records, "preconf_getPreconfirmation", ctx);
    let mut lost: Vec<&Record> = Vec::new();
    let mut changed: Vec<String> = Vec::new();
    for r in records {
        let got = &served[r.hash.as_str()];
        if got.is_null() {
            // Report each transaction once, even when both the sync answer and the
            // subscription delivered it.
            if !lost.iter().any(|l| l.hash == r.hash) {
                lost.push(r);
            }
            continue;
        }
        let diff = json_diff(&r.preconf, got, &WALL_CLOCK_FIELDS);
        if !diff.is_empty() {
            changed.push(format!(
                "{}:\n      {}",
                r.describe(),
                diff.iter()
                    .take(8)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n      ")
            ));
        }
    }
    if lost.is_empty() && changed.is_empty() {
        return;
    }
    let mut msg = format!(
        "{ctx}: after the restart, {} of {} transactions whose preconfirmation the client \
         received are LOST (preconf_getPreconfirmation returns null) and {} records differ \
         from what was received",
        lost.len(),
        served.len(),
        changed.len()
    );
    if let Some(first) = lost.first() {
        msg.push_str(&format!("\n  first lost transaction: {}", first.describe()));
        let mut blocks: Vec<u64> = lost.iter().map(|r| r.block_number()).collect();
        blocks.sort_unstable();
        blocks.dedup();
        msg.push_str(&format!(
            "\n  lost transactions were promised blocks {blocks:?}; head after restart {}",
            node.rpc().block_number()
        ));
        for r in lost.iter().skip(1).take(4) {
            msg.push_str(&format!("\n  also lost: {}", r.describe()));
        }
    }
    for c in changed.iter().take(5) {
        msg.push_str(&format!("\n  changed: {c}"));
    }
    panic!("{msg}");
}

/// Once the promised blocks are sealed, every record's transaction has a receipt in the
/// block its preconfirmation named, with the promised status; a sync answer's receipt equals
/// the sealed receipt in every field but `blockHash` (the mini-block's hash before sealing).
#[track_caller]
fn check_sealed(node: &Node, records: &[Record], ctx: &str) {
    let Some(max_block) = records.iter().map(Record::block_number).max() else {
        return;
    };
    wait_until(
        &format!("{ctx}: block {max_block} sealed after the restart"),
        Duration::from_secs(30) + Duration::from_millis(3 * BLOCK_TIME_MS),
        Duration::from_millis(100),
        // `safe` is the last sealed block (eth_blockNumber counts the open one too).
        || {
            let safe = node.rpc().block("safe", false);
            Some(()).filter(|_| {
                peregrine_tests::util::hex_quantity(&safe["number"]) as u64 >= max_block
            })
        },
    );
    let sealed = by_hash(node, records, "eth_getTransactionReceipt", ctx);
    let mut problems = Vec::new();
    for r in records {
        let rc = &sealed[r.hash.as_str()];
        if rc.is_null() {
            problems.push(format!("no sealed receipt for {}", r.describe()));
            continue;
        }
        if block_of(rc) != r.block_number() {
            problems.push(format!(
                "{} sealed in block {} instead",
                r.describe(),
                block_of(rc)
            ));
        }
        let ok = rc["status"] == json!("0x1");
        if Some(ok) != r.preconf["receipt"]["success"].as_bool() {
            problems.push(format!(
                "{} has sealed status {}",
                r.describe(),
                rc["status"]
            ));
        }
        if let Some(sync) = &r.receipt {
            let diff = json_diff(sync, rc, &["blockHash"]);
            if !diff.is_empty() {
                problems.push(format!(
                    "{}: the sealed receipt differs from the sync answer: {}",
                    r.describe(),
                    diff.join("; ")
                ));
            }
        }
    }
    assert_none(
        &problems,
        &format!(
            "{ctx}: of {} records, some disagree with the sealed chain",
            records.len()
        ),
    );
}

/// Panics with `what`, how many problems there are and the first ten, unless none.
#[track_caller]
fn assert_none(problems: &[String], what: &str) {
    assert!(
        problems.is_empty(),
        "{what}: {}:\n  {}",
        problems.len(),
        problems
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// A receipt without its block hashes (the receipt's and its logs').
fn without_block_hash(receipt: &Value) -> Value {
    let mut r = receipt.clone();
    r["blockHash"] = Value::Null;
    if let Some(logs) = r["logs"].as_array_mut() {
        for log in logs {
            log["blockHash"] = Value::Null;
        }
    }
    r
}

/// The receipts the client read before the kill (the sync answers) are served again at
/// once after the restart, identical in every field while their block is still open (the
/// block hash too: the same view, rebuilt by the replay); a block sealed since changes
/// only the block hash, and the view the old one names still resolves to a block holding
/// the transaction at its index. Returns (same view, sealed since).
#[track_caller]
fn check_receipts_after_restart(node: &Node, records: &[Record], ctx: &str) -> (usize, usize) {
    let now = by_hash(node, records, "eth_getTransactionReceipt", ctx);
    let (mut same_view, mut sealed_since) = (0, 0);
    let mut problems = Vec::new();
    let mut views: BTreeMap<String, Value> = BTreeMap::new();
    for r in records {
        let Some(before) = &r.receipt else { continue };
        let after = &now[r.hash.as_str()];
        if after.is_null() {
            problems.push(format!("{}: no receipt after the restart", r.describe()));
            continue;
        }
        let diff = if after["blockHash"] == before["blockHash"] {
            same_view += 1;
            json_diff(before, after, &[])
        } else {
            sealed_since += 1;
            let old = lower(as_str(&before["blockHash"]));
            let view = views.entry(old.clone()).or_insert_with(|| {
                node.rpc()
                    .request("eth_getBlockByHash", json!([old, false]))
            });
            let index = parse_u128(as_str(&before["transactionIndex"])) as usize;
            if view["transactions"][index].as_str().map(lower) != Some(r.hash.clone()) {
                problems.push(format!(
                    "{}: the block {old} its receipt named before the kill does not hold it at index {index}",
                    r.describe()
                ));
            }
            json_diff(&without_block_hash(before), &without_block_hash(after), &[])
        };
        if !diff.is_empty() {
            problems.push(format!(
                "{}: the receipt differs from the one read before the kill: {}",
                r.describe(),
                diff.join("; ")
            ));
        }
    }
    assert_none(
        &problems,
        &format!("{ctx}: receipts read before the kill are not served identically"),
    );
    (same_view, sealed_since)
}

/// After the restart the chain goes on: a new transfer is included in a new block and the
/// head keeps moving. Returns the transfer's block.
#[track_caller]
fn check_chain_continues(node: &Node, after: u64, ctx: &str) -> u64 {
    let r = send_value(&node.cast(), dev(9), dev(8).address, 1);
    assert_success(&r);
    let b = block_of(&r);
    assert!(
        b > after,
        "{ctx}: the new transfer landed in block {b}, not after block {after}"
    );
    wait_for_block(node, b + 1);
    b
}

/// A few records spread over the run, checked again after every later restart.
fn sample(records: &[Record], n: usize) -> Vec<Record> {
    if records.len() <= n {
        return records.to_vec();
    }
    (0..n)
        .map(|i| records[i * (records.len() - 1) / (n - 1)].clone())
        .collect()
}

/// The harness's `Node::kill_hard`: SIGKILL, no shutdown, and `restart` brings the node
/// back on the same port (any target).
#[test]
fn kill_hard_then_restart() {
    use std::os::unix::process::ExitStatusExt;
    let mut node = Node::from_env();
    let (port, pid) = (node.port(), node.pid().expect("running"));
    let status = node.kill_hard();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");
    assert!(!node.is_running());
    assert_eq!(node.restart(), None, "nothing to stop after kill_hard");
    assert_eq!(node.port(), port);
    assert_ne!(node.pid(), Some(pid), "a new process");
    assert_eq!(node.rpc().request("eth_chainId", json!([])), json!("0x385"));
    assert!(
        node.log().contains("SIGKILL sent to pid"),
        "the log marks the kill"
    );
}

/// A wallet that takes its nonce at `latest` (cast) sends at once after a SIGKILL and
/// restart: the replayed, still open block counts (it used to fail with "nonce too low"
/// until the open block sealed).
#[test]
fn cast_sends_right_after_a_sigkill_and_restart() {
    if skip_on_anvil("crash recovery is Peregrine's (anvil keeps no datadir)") {
        return;
    }
    let mut node = Node::from_env_opts(NodeOptions::block_time("3s"));
    let cast = node.cast();
    let (from, to) = (dev(6), dev(7));
    crate::common::just_after_a_seal(node.rpc());
    let before: Vec<Value> = (0..5)
        .map(|_| {
            let r = send_value(&cast, from, to.address, 1);
            assert_success(&r);
            r
        })
        .collect();
    let open = block_of(&before[4]);
    let status = |node: &Node, r: &Value| {
        node.rpc().request(
            "peregrine_getTransactionStatus",
            json!([r["transactionHash"]]),
        )["status"]
            .clone()
    };
    assert_eq!(
        status(&node, &before[4]),
        json!("pending"),
        "still open at the kill"
    );
    node.kill_hard();
    node.restart();
    let cast = node.cast();
    let after = send_value(&cast, from, to.address, 1);
    assert_success(&after);
    let nonce = |r: &Value| {
        let tx = node
            .rpc()
            .request("eth_getTransactionByHash", json!([r["transactionHash"]]));
        peregrine_tests::util::hex_quantity(&tx["nonce"])
    };
    assert_eq!(
        nonce(&after),
        nonce(&before[4]) + 1,
        "the next nonce after the replayed ones"
    );
    if status(&node, &before[4]) == json!("pending") {
        assert_eq!(
            block_of(&after),
            open,
            "into the replayed open block, before its seal"
        );
    }
    for r in &before {
        let again = node
            .rpc()
            .request("eth_getTransactionReceipt", json!([r["transactionHash"]]));
        if status(&node, r) == json!("pending") {
            assert_eq!(
                &again, r,
                "a receipt read before the kill, served identically"
            );
        }
    }
}

#[test]
fn preconfirmations_survive_sigkill() {
    if skip_on_anvil("crash recovery is Peregrine's (anvil keeps no datadir)") {
        return;
    }
    let iterations = env_u64("PEREGRINE_CRASH_ITERATIONS").unwrap_or(3).max(1);
    let seed = env_u64("PEREGRINE_CRASH_SEED").unwrap_or_else(SplitMix64::seed_from_clock);
    let kill = Kill::from_env();
    let mut opts = NodeOptions::block_time(BLOCK_TIME);
    match std::env::var("PEREGRINE_CRASH_DURABILITY").as_deref() {
        Err(_) | Ok("") => {}
        Ok(mode @ ("os" | "fsync")) => opts = opts.arg(&["--wal.durability", mode]),
        Ok(other) => panic!("PEREGRINE_CRASH_DURABILITY={other:?}: use os or fsync"),
    }
    println!(
        "crash test: {iterations} iteration(s), seed {seed:#x} (repeat with \
         PEREGRINE_CRASH_SEED={seed:#x}), {kill:?}, block time {BLOCK_TIME}, extra flags {:?}",
        opts.extra_args
    );
    let mut node = Node::from_env_opts(opts);
    println!("node: {}", node.command_line().join(" "));
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = SplitMix64::new(seed);
    let mut recorded_per_iteration = Vec::new();
    let mut carried: Vec<Record> = Vec::new();
    let started = Instant::now();

    for it in 1..=iterations {
        let mut delay_ms = rng.range(KILL_DELAY_MS.0, KILL_DELAY_MS.1);
        for attempt in 1..=2 {
            let ctx = format!(
                "iteration {it}/{iterations} attempt {attempt} (seed {seed:#x}, kill delay {delay_ms} ms)"
            );
            let out = dir.path().join(format!("iteration-{it}-{attempt}.jsonl"));
            let run = load_and_kill(&mut node, &out, delay_ms, kill, &ctx);
            let records = read_records(&out);
            let syncs = records.iter().filter(|r| r.src == "sync").count();
            let mut txs: Vec<&str> = records.iter().map(|r| r.hash.as_str()).collect();
            txs.sort_unstable();
            txs.dedup();
            println!(
                "{ctx}: recorded {} preconfirmations ({syncs} sync answers, {} subscription \
                 items) of {} transactions, {} of them at the kill; script: {}",
                records.len(),
                records.len() - syncs,
                txs.len(),
                run.lines_at_kill,
                run.result
            );
            let t = Instant::now();
            node.restart();
            let head_after = node.rpc().block_number();
            println!(
                "{ctx}: restarted in {} ms, head {head_after} (was {} before the kill)",
                t.elapsed().as_millis(),
                run.head_before
            );
            assert!(
                head_after >= run.head_before,
                "{ctx}: the head went back from {} to {head_after} across the crash",
                run.head_before
            );
            let t = Instant::now();
            check_preconfirmations(&node, &records, &ctx);
            check_preconfirmations(
                &node,
                &carried,
                &format!("{ctx}, records of earlier iterations"),
            );
            let t_preconf = t.elapsed().as_millis();
            let (same_view, sealed_since) = check_receipts_after_restart(&node, &records, &ctx);
            println!(
                "{ctx}: receipts read before the kill served again: {same_view} identical \
                 (block still open), {sealed_since} identical but for the sealed block's hash"
            );
            let t = Instant::now();
            check_sealed(&node, &records, &ctx);
            let t_sealed = t.elapsed().as_millis();
            let t = Instant::now();
            let promised = records.iter().map(Record::block_number).max().unwrap_or(0);
            let b = check_chain_continues(&node, promised.max(run.head_before), &ctx);
            println!(
                "{ctx}: OK — all {} received preconfirmations recovered identically and sealed \
                 where promised (blocks up to {promised}); a new transfer landed in block {b} \
                 (checks: preconfirmations {t_preconf} ms, sealed receipts {t_sealed} ms, \
                 new transfer {} ms); {} s elapsed",
                records.len(),
                t.elapsed().as_millis(),
                started.elapsed().as_secs()
            );
            if records.is_empty() && attempt == 1 {
                delay_ms = delay_ms * 2 + BLOCK_TIME_MS;
                println!(
                    "{ctx}: nothing recorded (killed after {:?} ms); retrying once with a {delay_ms} ms delay",
                    run.killed_after_ms
                );
                continue;
            }
            recorded_per_iteration.push(records.len());
            carried.extend(sample(&records, CARRIED_PER_ITERATION));
            break;
        }
    }

    let non_empty = recorded_per_iteration.iter().filter(|n| **n > 0).count();
    println!(
        "crash test done: {iterations} iteration(s) in {} s, preconfirmations recorded per \
         iteration {recorded_per_iteration:?}, seed {seed:#x}",
        started.elapsed().as_secs()
    );
    assert!(
        non_empty * 2 > recorded_per_iteration.len(),
        "only {non_empty} of {} iterations recorded any preconfirmation before the kill \
         ({recorded_per_iteration:?}): the test checked (almost) nothing",
        recorded_per_iteration.len()
    );
    // A last graceful restart must still find everything.
    node.restart();
    check_preconfirmations(&node, &carried, "after a final graceful restart");
}

/// The last segment of `node`'s write-ahead log.
fn last_segment(node: &Node) -> std::path::PathBuf {
    let mut segments: Vec<_> = std::fs::read_dir(node.datadir().join("wal"))
        .expect("wal directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    segments.sort();
    segments.pop().expect("a segment")
}

/// A record whose length field is damaged reads like a torn write (it runs past the end
/// of the file). Start-up used to truncate it and everything after, logging "no promise
/// is lost". Now, after a SIGKILL under load, damaging the length of the last segment's
/// first record makes start-up refuse, naming the file and offset, and change nothing:
/// with the byte restored, every preconfirmation sent before the kill is served again.
#[test]
fn a_damaged_length_stops_start_up_and_loses_nothing() {
    if skip_on_anvil("crash recovery is Peregrine's (anvil keeps no datadir)") {
        return;
    }
    let mut node = Node::from_env_opts(NodeOptions::block_time(BLOCK_TIME));
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("records.jsonl");
    let ctx = "damaged length";
    let run = load_and_kill(&mut node, &out, 300, Kill::Sigkill, ctx);
    let records = read_records(&out);
    println!(
        "{ctx}: {} preconfirmations recorded; {}",
        records.len(),
        run.result
    );
    assert!(
        !records.is_empty(),
        "{ctx}: nothing was preconfirmed before the kill"
    );

    let segment = last_segment(&node);
    let original = std::fs::read(&segment).expect("read segment");
    let mut damaged = original.clone();
    // Bytes 4..8 of a record are its payload length: claim twice the file.
    let claimed = (original.len() as u32).saturating_mul(2);
    damaged[4..8].copy_from_slice(&claimed.to_le_bytes());
    std::fs::write(&segment, &damaged).expect("damage the segment");

    let log = node
        .try_restart()
        .expect_err("start-up must refuse a damaged log");
    let name = segment
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase();
    assert!(
        log.contains(&name) && log.contains("corrupt at byte 0"),
        "{ctx}: {log}"
    );
    assert!(
        log.contains("peregrine wal cut"),
        "{ctx}: the error names the way out: {log}"
    );
    assert_eq!(
        std::fs::read(&segment).unwrap(),
        damaged,
        "{ctx}: start-up changed the log"
    );

    std::fs::write(&segment, &original).expect("restore the segment");
    node.restart();
    check_preconfirmations(&node, &records, ctx);
    check_sealed(&node, &records, ctx);
}

/// A tmpfs of a given size mounted for the test's life (root only: CI and the sessions
/// run as root; elsewhere the tests that need one print SKIP and return).
struct SmallFs {
    path: std::path::PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl SmallFs {
    /// At a fresh directory.
    fn mount(size: &str) -> Option<SmallFs> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut fs = SmallFs::mount_at(dir.path(), size)?;
        fs._dir = Some(dir);
        Some(fs)
    }

    /// Over `path` (whatever it held is hidden until the unmount).
    fn mount_at(path: &Path, size: &str) -> Option<SmallFs> {
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("run mount");
        if !out.status.success() {
            println!(
                "SKIP: cannot mount a tmpfs here: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        Some(SmallFs {
            path: path.to_path_buf(),
            _dir: None,
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    /// Fills the filesystem but `leave` bytes with one file; returns its path.
    fn fill_but(&self, leave: u64) -> std::path::PathBuf {
        let out = std::process::Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(self.path())
            .output()
            .expect("run df");
        let text = String::from_utf8_lossy(&out.stdout);
        let avail: u64 = text
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df output");
        let filler = self.path().join("filler");
        let file = std::fs::File::create(&filler).expect("create filler");
        file.set_len(0).unwrap();
        // Written, not sparse: tmpfs counts pages actually used.
        let chunk = vec![0xa5u8; 1 << 20];
        let mut left = avail.saturating_sub(leave);
        let mut w = std::io::BufWriter::new(file);
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            std::io::Write::write_all(&mut w, &chunk[..n]).expect("fill");
            left -= n as u64;
        }
        std::io::Write::flush(&mut w).expect("flush filler");
        filler
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// Copies every file of `from` into `to` (flat: the data directory's files).
fn copy_files(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).expect("copy");
        }
    }
}

/// Runs the load until the node exits by itself; checks it failed the way a failure
/// must (exit 1, the cause logged once, naming `cause`); lets `make_room` clear the fault;
/// restarts; and checks every preconfirmation received before is served identically.
fn load_until_it_fails(
    node: &mut Node,
    fill: impl FnOnce(),
    make_room: impl FnOnce(),
    cause: &str,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("records.jsonl");
    let (ws, out_s) = (node.ws_url(), out.display().to_string());
    fill();
    let script = node_script_background("crash-load.mjs", &[&ws, &out_s, MAX_TXS, SENDERS]);
    let status = node.wait_exit(Duration::from_secs(60));
    let output = script.wait(SCRIPT_EXIT_TIMEOUT);
    let records = read_records(&out);
    println!(
        "{cause}: node exited with {status:?}; {} preconfirmations recorded; {}",
        records.len(),
        output.stdout.lines().last().unwrap_or_default()
    );
    let status = status.expect("the node kept running on a full disk");
    assert!(
        !status.success(),
        "a failed node must exit non-zero: {status}"
    );
    assert!(
        !records.is_empty(),
        "nothing was preconfirmed before the disk filled"
    );
    let log = node.log();
    let failures = log.matches("a part of the node failed").count();
    assert_eq!(failures, 1, "the cause is logged once:\n{log}");
    assert!(log.contains(cause), "the log names {cause:?}:\n{log}");

    make_room();
    node.restart();
    check_preconfirmations(node, &records, cause);
    check_sealed(node, &records, cause);
    check_chain_continues(node, 0, cause);
}

/// The write-ahead log on a filesystem that fills up under load. The log thread's write
/// fails: intake stops at once (clients get errors, not hashes), the cause is logged once,
/// and the process exits non-zero by itself. With room made and the node restarted, every
/// preconfirmation a client received before the failure is served identically, and its
/// transaction sealed where it was promised.
#[test]
fn a_full_disk_stops_the_node_and_loses_nothing_it_promised() {
    if skip_on_anvil("failure handling is Peregrine's") {
        return;
    }
    let Some(fs) = SmallFs::mount("8m") else {
        return;
    };
    let wal = fs.path().join("wal");
    let config = tempfile::NamedTempFile::new().expect("config file");
    std::fs::write(
        config.path(),
        format!(
            "[wal]\ndir = \"{}\"\nsegment-size = \"1MiB\"\n",
            wal.display()
        ),
    )
    .expect("write config");
    let config_path = config.path().display().to_string();
    let mut node =
        Node::from_env_opts(NodeOptions::block_time(BLOCK_TIME).arg(&["--config", &config_path]));
    let filler = std::cell::RefCell::new(None);
    load_until_it_fails(
        &mut node,
        || *filler.borrow_mut() = Some(fs.fill_but(256 * 1024)),
        || std::fs::remove_file(filler.borrow().as_ref().unwrap()).expect("make room"),
        "cannot write the write-ahead log",
    );
}

/// The same with the database on the full filesystem (the log elsewhere): the chain
/// service's redb commit fails, and the node stops the same way.
#[test]
fn a_full_database_disk_stops_the_node_and_loses_nothing_it_promised() {
    if skip_on_anvil("failure handling is Peregrine's") {
        return;
    }
    let wal = tempfile::tempdir().expect("wal dir");
    let config = tempfile::NamedTempFile::new().expect("config file");
    std::fs::write(
        config.path(),
        format!("[wal]\ndir = \"{}\"\n", wal.path().display()),
    )
    .expect("write config");
    let config_path = config.path().display().to_string();
    let mut node =
        Node::from_env_opts(NodeOptions::block_time(BLOCK_TIME).arg(&["--config", &config_path]));
    // Move the data directory onto a small tmpfs mounted over it.
    node.stop();
    let datadir = node.datadir();
    let saved = tempfile::tempdir().expect("temp dir");
    copy_files(&datadir, saved.path());
    let Some(fs) = SmallFs::mount_at(&datadir, "64m") else {
        return;
    };
    copy_files(saved.path(), &datadir);
    node.restart();
    let filler = std::cell::RefCell::new(None);
    load_until_it_fails(
        &mut node,
        || *filler.borrow_mut() = Some(fs.fill_but(256 * 1024)),
        || std::fs::remove_file(filler.borrow().as_ref().unwrap()).expect("make room"),
        "cannot store",
    );
    drop(node);
}
