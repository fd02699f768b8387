//! The Grafana dashboard against a real Prometheus: Prometheus scrapes a real
//! `peregrine dev` under a small load sent with `cast`, posting to an L1 (anvil, with the
//! inbox contract deployed) through its batcher, and a `peregrine replica` following it,
//! then every panel's query is
//! evaluated through Prometheus' HTTP API and must return data. Also checks `/health`
//! and `/ready`.
//!
//! Needs `prometheus` on PATH and `cast` in `tests/js/node_modules/.bin` (both installed
//! by `scripts/install-tools.sh`) and the debug `peregrine` binary (built by
//! `scripts/test.sh`).

mod common;

use common::{Proc, free_port, get};
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

const ALICE_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const BOB: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
/// anvil's second dev key (public), the batcher's on L1; its address is `BOB`.
const BATCHER_KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

/// anvil with blobs on `port`, and the inbox (batcher: `BOB`) deployed on it: its address.
fn l1_with_inbox(root: &Path, port: u16) -> (Proc, String) {
    let bin = root.join("tests/js/node_modules/.bin");
    let anvil = Proc(
        Command::new(bin.join("anvil"))
            .args(["--port", &port.to_string(), "--hardfork", "prague"])
            .args(["--block-time", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_until("anvil", Duration::from_secs(30), || {
        Command::new(bin.join("cast"))
            .args(["block-number", "--rpc-url", &url])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let compiled = Command::new("node")
        .current_dir(root.join("tests/js"))
        .args(["compile.mjs", "../../preconf/contracts"])
        .output()
        .unwrap();
    assert!(compiled.status.success(), "compile.mjs failed");
    let contracts: Value = serde_json::from_slice(&compiled.stdout).unwrap();
    let code = format!(
        "{}{:0>64}",
        contracts["PeregrineInbox"]["bytecode"].as_str().unwrap(),
        BOB.trim_start_matches("0x").to_lowercase()
    );
    let out = Command::new(bin.join("cast"))
        .args(["send", "--rpc-url", &url, "--private-key", ALICE_KEY])
        .args(["--json", "--create", &code])
        .output()
        .unwrap();
    assert!(out.status.success(), "deploying the inbox failed");
    let receipt: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        anvil,
        receipt["contractAddress"].as_str().unwrap().to_owned(),
    )
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn wait_until(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn query(prometheus: &str, expr: &str) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    agent
        .get(&format!("{prometheus}/api/v1/query"))
        .query("query", expr)
        .call()
        .unwrap_or_else(|e| panic!("query {expr}: {e}"))
        .body_mut()
        .read_json()
        .unwrap()
}

#[test]
fn every_dashboard_panel_returns_data_from_a_real_prometheus() {
    let root = root();
    let peregrine = root.join("target/debug/peregrine");
    assert!(
        peregrine.exists(),
        "build it first: cargo build --bin peregrine"
    );
    let cast = root.join("tests/js/node_modules/.bin/cast");
    assert!(
        cast.exists(),
        "run scripts/install-tools.sh (installs cast)"
    );
    let prom_bin = which("prometheus").expect("run scripts/install-tools.sh (installs prometheus)");

    let dir = tempfile::tempdir().unwrap();
    let (rpc_port, metrics_port, prom_port) = (free_port(), free_port(), free_port());
    let rpc = format!("http://127.0.0.1:{rpc_port}");
    let metrics = format!("http://127.0.0.1:{metrics_port}");
    let l1_port = free_port();
    let (_anvil, inbox) = l1_with_inbox(&root, l1_port);
    let batcher_key = dir.path().join("batcher.key");
    std::fs::write(&batcher_key, BATCHER_KEY).unwrap();
    let _node = Proc(
        Command::new(&peregrine)
            .args(["dev", "--block-time", "200ms", "--datadir"])
            .arg(dir.path().join("chain"))
            .args(["--l1.rpc", &format!("http://127.0.0.1:{l1_port}")])
            .arg("--batcher.key")
            .arg(&batcher_key)
            .args(["--batcher.inbox", &inbox, "--batcher.da", "calldata"])
            .args(["--rpc.addr", &format!("127.0.0.1:{rpc_port}")])
            .args(["--metrics.addr", &format!("127.0.0.1:{metrics_port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("peregrine /ready", Duration::from_secs(30), || {
        get(&format!("{metrics}/ready")).is_some_and(|(s, _)| s == 200)
    });
    let (status, body) = get(&format!("{metrics}/health")).unwrap();
    assert_eq!((status, body.trim()), (200, "ok"));
    // A replica following it, scraped too: the replica row.
    let (replica_rpc, replica_metrics_port) = (free_port(), free_port());
    let replica_metrics = format!("http://127.0.0.1:{replica_metrics_port}");
    let _replica = Proc(
        Command::new(&peregrine)
            .args([
                "replica",
                "--sequencer",
                &format!("ws://127.0.0.1:{rpc_port}"),
            ])
            .args([
                "--sequencer.address",
                "0xEB25E6d7f8118b1E24dD5Eff177Cea2110736076",
            ])
            .arg("--datadir")
            .arg(dir.path().join("replica"))
            .args(["--rpc.addr", &format!("127.0.0.1:{replica_rpc}")])
            .args([
                "--metrics.addr",
                &format!("127.0.0.1:{replica_metrics_port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("replica /ready", Duration::from_secs(30), || {
        get(&format!("{replica_metrics}/ready")).is_some_and(|(s, _)| s == 200)
    });

    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: peregrine\n    static_configs:\n      \
             - targets: ['127.0.0.1:{metrics_port}', '127.0.0.1:{replica_metrics_port}']\n"
        ),
    )
    .unwrap();
    let prometheus = format!("http://127.0.0.1:{prom_port}");
    let _prom = Proc(
        Command::new(prom_bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until("prometheus ready", Duration::from_secs(30), || {
        get(&format!("{prometheus}/-/ready")).is_some_and(|(s, _)| s == 200)
    });

    // A small load: transfers with explicit nonces, and one malformed transaction.
    const TXS: u64 = 20;
    for nonce in 0..TXS {
        let out = Command::new(&cast)
            .args([
                "send",
                "--async",
                "--rpc-url",
                &rpc,
                "--private-key",
                ALICE_KEY,
            ])
            .args([
                "--nonce",
                &nonce.to_string(),
                "--gas-limit",
                "21000",
                BOB,
                "--value",
                "1",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cast send: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let bad = Command::new(&cast)
        .args(["rpc", "--rpc-url", &rpc, "eth_sendRawTransaction", "0x02f8"])
        .output()
        .unwrap();
    assert!(
        !bad.status.success(),
        "a malformed transaction must be refused"
    );

    wait_until(
        "prometheus to scrape the load",
        Duration::from_secs(30),
        || {
            let v = query(&prometheus, "sum(peregrine_transactions_executed_total)");
            v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .is_some_and(|n| n >= TXS as f64)
        },
    );
    wait_until(
        "prometheus to scrape a batch's fees",
        Duration::from_secs(30),
        || {
            let v = query(&prometheus, "sum(peregrine_batcher_fees_wei_total)");
            v["data"]["result"][0]["value"][1]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .is_some_and(|n| n > 0.0)
        },
    );
    // A few more scrapes so every rate() window holds two samples after the load.
    std::thread::sleep(Duration::from_secs(3));

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("ops/dashboards/peregrine.json")).unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    let mut empty = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let v = query(&prometheus, expr);
            assert_eq!(v["status"], "success", "{expr}: {v}");
            if v["data"]["result"].as_array().is_none_or(|r| r.is_empty()) {
                empty.push(format!("{} / {expr}", panel["title"]));
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 20,
        "the dashboard should have its panels ({checked} queries)"
    );
    assert!(
        empty.is_empty(),
        "panels without data:\n{}",
        empty.join("\n")
    );
    // The refusal is counted under its reason.
    let decode = query(
        &prometheus,
        "sum(peregrine_transactions_rejected_total{reason=\"decode\"})",
    );
    assert_eq!(decode["data"]["result"][0]["value"][1], "1", "{decode}");
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}
