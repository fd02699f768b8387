//! Helpers: the node under test, the harness binary, report checks.

use serde_json::{Value, json};
use std::{
    fs::File,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

/// Path of the `peregrine` binary: `$PEREGRINE_BIN`, else `<target>/debug/peregrine`.
pub(crate) fn peregrine_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PEREGRINE_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|t| root.join(t))
        .unwrap_or_else(|| root.join("target"));
    let p = target.join("debug").join("peregrine");
    assert!(
        p.is_file(),
        "peregrine binary not found at {}: build it first with `cargo build --bin peregrine` \
         (scripts/test.sh does), or point PEREGRINE_BIN at one",
        p.display()
    );
    p
}

/// Newer binaries also listen on `--metrics.addr` (default 127.0.0.1:9001): move it off the
/// default so tests can run side by side.
fn supports_metrics_addr(bin: &Path) -> bool {
    Command::new(bin)
        .args(["dev", "--help"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--metrics.addr"))
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `peregrine dev` process on a free loopback port, killed on drop.
pub(crate) struct Node {
    pub(crate) port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Node {
    pub(crate) fn start(dev_accounts: u64) -> Node {
        Node::start_with_config(dev_accounts, None)
    }

    /// [`Node::start`] with `config` as its `--config` file, when given.
    ///
    /// A port found free is released before the node binds it, so another test's node
    /// may take it in between: the node is ready only once its own log says it is
    /// running (an answer on the port could come from that other node), and one that
    /// dies with the address in use is started again on other ports.
    pub(crate) fn start_with_config(dev_accounts: u64, config: Option<&str>) -> Node {
        const ATTEMPTS: u32 = 3;
        for attempt in 1..=ATTEMPTS {
            let mut node = Node::spawn(dev_accounts, config);
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(status)) = node.child.try_wait() {
                    let log = node.log();
                    if attempt < ATTEMPTS && log.to_lowercase().contains("in use") {
                        eprintln!("peregrine exited ({status}) with a port in use; retrying");
                        break;
                    }
                    panic!("peregrine exited with {status}; log:\n{log}");
                }
                if node.log().contains("peregrine dev is running")
                    && node.call("eth_chainId", json!([])).is_ok()
                {
                    return node;
                }
                assert!(
                    Instant::now() < deadline,
                    "peregrine did not start; log:\n{}",
                    node.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        unreachable!("the last attempt either returns or panics")
    }

    /// Starts `peregrine dev` on fresh ports, not waiting for it.
    fn spawn(dev_accounts: u64, config: Option<&str>) -> Node {
        let port = free_port();
        let dir = tempfile::tempdir().unwrap();
        let log = File::create(dir.path().join("node.log")).unwrap();
        let bin = peregrine_bin();
        let mut cmd = Command::new(&bin);
        cmd.args(["dev", "--rpc.addr", &format!("127.0.0.1:{port}")]);
        if supports_metrics_addr(&bin) {
            cmd.args(["--metrics.addr", &format!("127.0.0.1:{}", free_port())]);
        }
        if let Some(toml) = config {
            let file = dir.path().join("peregrine.toml");
            std::fs::write(&file, toml).unwrap();
            cmd.arg("--config").arg(file);
        }
        let child = cmd
            .args(["--dev.accounts", &dev_accounts.to_string()])
            .args(["--block-time", "200ms", "--datadir"])
            .arg(dir.path().join("data"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start peregrine dev");
        Node { port, child, dir }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }

    pub(crate) fn http(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn ws(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// One JSON-RPC call over HTTP; the result, or the error object as `Err`.
    pub(crate) fn call(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let mut resp = ureq::post(&self.http())
            .send_json(&body)
            .map_err(|e| e.to_string())?;
        let v: Value = resp.body_mut().read_json().map_err(|e| e.to_string())?;
        match v.get("error") {
            Some(e) => Err(e.to_string()),
            None => Ok(v["result"].clone()),
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the harness with `args`, bounded in time.
pub(crate) fn harness(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_peregrine-loadtest"))
        .args(args)
        .arg("--no-progress")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start peregrine-loadtest");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "peregrine-loadtest ran over 60 s:\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the harness, asserts it succeeded, and returns the JSON report.
pub(crate) fn run_report(args: &[&str], out: &Path) -> Value {
    let mut all: Vec<&str> = args.to_vec();
    let out_s = out.to_str().unwrap();
    all.extend(["--out", out_s]);
    let o = harness(&all);
    assert!(
        o.status.success(),
        "peregrine-loadtest {all:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

fn u(v: &Value, path: &str) -> u64 {
    let mut cur = v;
    for k in path.split('.') {
        cur = &cur[k];
    }
    cur.as_u64()
        .unwrap_or_else(|| panic!("report field {path} is not a count: {cur}"))
}

/// The report is complete and every one of `expected` transactions is accounted for.
pub(crate) fn check_complete(r: &Value, expected: u64) {
    for field in [
        "target",
        "mode",
        "send",
        "transport",
        "transactions",
        "duration_s",
        "throughput_tps",
        "errors",
        "latency_us",
        "timeline",
        "histogram",
        "receipts",
        "missing_receipts",
    ] {
        assert!(!r[field].is_null(), "report lacks {field}: {r:#}");
    }
    for q in ["p50", "p90", "p99", "p999", "max"] {
        assert!(r["latency_us"][q].is_u64(), "latency_us.{q} missing");
    }
    assert_eq!(r["target"], "peregrine");
    assert_eq!(u(r, "planned"), expected);
    assert_eq!(u(r, "transactions"), expected, "sent");
    assert_eq!(u(r, "accepted"), expected, "accepted");
    assert_eq!(u(r, "completed"), expected, "confirmed");
    assert_eq!(u(r, "errors"), 0, "errors: {}", r["errors_by_kind"]);
    assert_eq!(u(r, "failed"), 0);
    assert_eq!(u(r, "incomplete"), 0);
    assert_eq!(u(r, "reverted"), 0);
    assert_eq!(u(r, "receipts.expected"), expected);
    assert_eq!(u(r, "receipts.found"), expected);
    assert_eq!(u(r, "receipts.missing"), 0);
    assert_eq!(r["receipts"]["method"], "eth_getBlockReceipts");
    assert_eq!(r["missing_receipts"].as_array().unwrap().len(), 0);
    assert_eq!(u(r, "latency_us.count"), expected);
    let l = &r["latency_us"];
    let q = |k: &str| l[k].as_u64().unwrap();
    assert!(q("min") <= q("p50") && q("p50") <= q("p90") && q("p90") <= q("p99"));
    assert!(q("p99") <= q("p999") && q("p999") <= q("max"));
    assert!(q("p50") > 0);
    let hist: u64 = r["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| u(b, "count"))
        .sum();
    assert_eq!(hist, expected, "histogram buckets");
    let timeline: u64 = r["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| u(w, "count"))
        .sum();
    assert_eq!(timeline, expected, "timeline windows");
    assert!(r["duration_s"].as_f64().unwrap() > 0.0);
    let tps = r["throughput_tps"].as_f64().unwrap();
    let expect_tps = expected as f64 / r["duration_s"].as_f64().unwrap();
    assert!(
        (tps - expect_tps).abs() < 0.01 * expect_tps + 0.01,
        "{tps} vs {expect_tps}"
    );
    for p in r["plots"].as_array().unwrap() {
        let p = Path::new(p.as_str().unwrap());
        assert!(
            p.is_file() && p.metadata().unwrap().len() > 1000,
            "plot {}",
            p.display()
        );
    }
    assert!(
        r["plots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().ends_with(".svg")),
        "no SVG plot written"
    );
}

/// The per-stage breakdown is there, one sample per transaction, each stage non-negative and
/// the node's part consistent with its stages.
pub(crate) fn check_stages(r: &Value, expected: u64) {
    let st = &r["stages"];
    for stage in [
        "client_to_ingress",
        "ingress_to_ordered",
        "ordered_to_executed",
        "executed_to_signed",
        "signed_to_sent",
        "sent_to_client_received",
        "ingress_to_sent",
    ] {
        assert_eq!(u(st, &format!("{stage}.count")), expected, "stage {stage}");
        for q in ["p50", "p90", "p99", "p999", "max"] {
            assert!(st[stage][q].is_u64(), "stages.{stage}.{q}");
        }
    }
    // The node's total is never below its largest stage median.
    let total = u(st, "ingress_to_sent.max");
    for s in [
        "ingress_to_ordered",
        "ordered_to_executed",
        "executed_to_signed",
        "signed_to_sent",
    ] {
        assert!(u(st, &format!("{s}.p50")) <= total, "{s}");
    }
}
