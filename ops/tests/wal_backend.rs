//! The write-ahead log's writer is chosen at start-up and shown to operators: io_uring
//! where the kernel allows it, the plain writer (with one warning) where it does not.
//! Runs the real `peregrine` binary; `PEREGRINE_NO_IO_URING=1` makes `auto` take the
//! path a kernel without io_uring (or a seccomp profile blocking it) takes.

#![allow(missing_docs)]

mod common;

use common::{Proc, free_port, get};
use std::{
    io::Read,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn body(url: &str) -> Option<String> {
    get(url).map(|(_, body)| body)
}

/// Starts `peregrine dev` with `args` and `env`; returns its `/metrics` text once ready
/// and its stderr after it was stopped.
fn run(args: &[&str], env: &[(&str, &str)]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_peregrine"));
    cmd.args(["dev", "--rpc.addr"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .args(["--metrics.addr", &metrics, "--datadir"])
        .arg(dir.path())
        .args(args)
        .env_remove("PEREGRINE_NO_IO_URING")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut proc = Proc(cmd.spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        if let Some(text) = body(&format!("http://{metrics}/metrics"))
            && body(&format!("http://{metrics}/ready")).as_deref() == Some("ready\n")
        {
            break text;
        }
        assert!(Instant::now() < deadline, "peregrine did not become ready");
        assert!(proc.0.try_wait().unwrap().is_none(), "peregrine exited");
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = proc.0.kill();
    let _ = proc.0.wait();
    let mut stderr = String::new();
    proc.0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (text, stderr)
}

#[test]
fn auto_uses_io_uring_where_the_kernel_has_it() {
    let (metrics, log) = run(&[], &[]);
    assert!(
        metrics.contains(r#"peregrine_wal_info{backend="io_uring",durability="fsync"} 1"#),
        "{metrics}"
    );
    assert!(!log.contains("io_uring is unavailable"), "{log}");
}

#[test]
fn auto_uses_the_plain_writer_for_page_cache_durability() {
    let (metrics, log) = run(&["--wal.durability", "os"], &[]);
    assert!(
        metrics.contains(r#"peregrine_wal_info{backend="plain",durability="os"} 1"#),
        "{metrics}"
    );
    assert!(!log.contains("io_uring is unavailable"), "{log}");
}

#[test]
fn auto_falls_back_to_the_plain_writer_and_says_so_once() {
    let (metrics, log) = run(&[], &[("PEREGRINE_NO_IO_URING", "1")]);
    assert!(
        metrics.contains(r#"peregrine_wal_info{backend="plain",durability="fsync"} 1"#),
        "{metrics}"
    );
    assert_eq!(
        log.matches("io_uring is unavailable").count(),
        1,
        "one warning: {log}"
    );
}

#[test]
fn io_uring_required_but_unavailable_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args(["dev", "--rpc.addr"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .args([
            "--metrics.addr",
            "127.0.0.1:0",
            "--wal.backend",
            "io-uring",
            "--datadir",
        ])
        .arg(dir.path())
        .env("PEREGRINE_NO_IO_URING", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("write-ahead log backend"), "{stderr}");
}

#[test]
fn a_bad_durability_is_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_peregrine"))
        .args(["dev", "--wal.durability", "sometimes", "--datadir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wal.durability"), "{stderr}");
}
