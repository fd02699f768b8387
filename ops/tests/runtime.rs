//! `rpc.worker-threads` sizes the async runtime that serves connections and runs ingress
//! (decoding, sender recovery): the real `peregrine` binary is started with a count, which
//! its `peregrine_rpc_worker_threads` gauge must report (read from the runtime itself) and
//! its threads must show; a count of 0 is refused before anything starts.

#![allow(missing_docs)]

mod common;

use common::{Proc, free_port, get};
use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn dev(workers: &str, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_peregrine"));
    cmd.args(["dev", "--rpc.addr"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--datadir")
        .arg(dir)
        .env("PEREGRINE_RPC_WORKER_THREADS", workers)
        .stdout(Stdio::null());
    cmd
}

/// Threads of process `pid` named as the runtime names its threads (workers, and any
/// blocking-pool threads started so far).
fn runtime_threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.trim() == "peregrine-rpc")
        .count()
}

#[test]
fn the_runtime_has_as_many_workers_as_configured() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut proc = Proc(
        dev("5", dir.path())
            .args(["--metrics.addr", &metrics])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(&format!("http://{metrics}/ready"))
        .map(|(_, b)| b)
        .as_deref()
        != Some("ready\n")
    {
        assert!(Instant::now() < deadline, "peregrine did not become ready");
        assert!(proc.0.try_wait().unwrap().is_none(), "peregrine exited");
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, text) = get(&format!("http://{metrics}/metrics")).unwrap();
    assert!(
        text.lines().any(|l| l == "peregrine_rpc_worker_threads 5"),
        "{text}"
    );
    let threads = runtime_threads(proc.0.id());
    assert!((5..=8).contains(&threads), "{threads} runtime threads");
    let _ = proc.0.kill();
    let _ = proc.0.wait();
}

#[test]
fn zero_workers_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = dev("0", dir.path())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rpc.worker-threads"), "{err}");
}
