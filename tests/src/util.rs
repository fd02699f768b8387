//! Small helpers: running commands with a deadline, bounded polling, hex parsing.

use std::fmt;
use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Captured result of a finished external command.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// The command line, for messages.
    pub cmdline: String,
    /// Exit status.
    pub status: ExitStatus,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl CmdOutput {
    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// Trimmed stdout.
    pub fn out(&self) -> &str {
        self.stdout.trim()
    }

    /// stdout and stderr together, for matching error messages.
    pub fn combined(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Panics (showing both streams) unless the command succeeded; returns `self`.
    #[track_caller]
    pub fn expect_success(self) -> Self {
        if !self.success() {
            panic!("command failed ({}): {}\n{self}", self.status, self.cmdline);
        }
        self
    }

    /// Panics (showing both streams) if the command succeeded; returns `self`.
    #[track_caller]
    pub fn expect_failure(self) -> Self {
        if self.success() {
            panic!("command unexpectedly succeeded: {}\n{self}", self.cmdline);
        }
        self
    }
}

impl fmt::Display for CmdOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "--- stdout ---\n{}", self.stdout.trim_end())?;
        write!(f, "--- stderr ---\n{}", self.stderr.trim_end())
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.chars().count() > 120 {
            s.extend(a.chars().take(60));
            s.push('…');
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// Runs `cmd` to completion with stdin closed, capturing stdout/stderr.
/// Kills it and panics if it runs longer than `timeout`, or if it cannot be spawned.
#[track_caller]
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> CmdOutput {
    let cmdline = describe(cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn `{cmdline}`: {e}"));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let err_reader = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let stdout = out_reader.join().unwrap_or_default();
                let stderr = err_reader.join().unwrap_or_default();
                panic!(
                    "command timed out after {timeout:?}: {cmdline}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
                );
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("waiting for `{cmdline}` failed: {e}"),
        }
    };
    CmdOutput {
        cmdline,
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// Polls `f` every `interval` until it returns `Some`, for at most `timeout`;
/// panics with `what` on timeout. `f` is always called at least once.
#[track_caller]
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(interval);
    }
}

/// Parses a decimal or `0x` hex integer (as printed by cast or returned by RPC).
#[track_caller]
pub fn parse_u128(s: &str) -> u128 {
    let s = s.trim();
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some("") => Ok(0),
        Some(hex) => u128::from_str_radix(hex, 16),
        None => s.parse::<u128>(),
    };
    r.unwrap_or_else(|e| panic!("not an integer: {s:?}: {e}"))
}

/// Parses a JSON-RPC `QUANTITY` (`"0x..."` string); panics on anything else.
/// Rejects leading zeros (`"0x01"`) and a missing `0x`, per the Ethereum JSON-RPC spec.
#[track_caller]
pub fn hex_quantity(v: &Value) -> u128 {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("expected a hex quantity string, got {v}"));
    let hex = s
        .strip_prefix("0x")
        .unwrap_or_else(|| panic!("quantity {s:?} lacks 0x prefix"));
    assert!(
        !hex.is_empty(),
        "quantity {s:?} has no digits (zero is \"0x0\")"
    );
    assert!(
        hex == "0" || !hex.starts_with('0'),
        "quantity {s:?} has leading zeros"
    );
    u128::from_str_radix(hex, 16).unwrap_or_else(|e| panic!("bad quantity {s:?}: {e}"))
}

/// Hex-encodes a number as a JSON-RPC quantity (`0x` + minimal hex).
pub fn to_quantity(n: u128) -> String {
    format!("{n:#x}")
}

/// Decodes `0x`-prefixed (or bare) hex into bytes; panics on bad input.
#[track_caller]
pub fn decode_hex(s: &str) -> Vec<u8> {
    let h = s.trim().strip_prefix("0x").unwrap_or(s.trim());
    assert!(h.len().is_multiple_of(2), "odd-length hex: {s:?}");
    (0..h.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&h[i..i + 2], 16).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
        })
        .collect()
}

/// Encodes bytes as lower-case hex with a `0x` prefix.
pub fn encode_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * bytes.len());
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Returns the string of a JSON value, panicking if it is not a string.
#[track_caller]
pub fn as_str(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a JSON string, got {v}"))
}

/// Lower-cases a hex string (addresses, hashes) for comparison.
pub fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}
