//! Small helpers: running commands with a deadline, bounded polling, hex parsing.

use std::fmt;
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
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
    spawn_background(cmd).wait(timeout)
}

/// A command running in the background with stdout and stderr captured (see
/// [`spawn_background`]); killed if dropped before [`Background::wait`].
#[derive(Debug)]
pub struct Background {
    cmdline: String,
    child: Option<Child>,
    out_reader: Option<thread::JoinHandle<String>>,
    err_reader: Option<thread::JoinHandle<String>>,
}

/// Starts `cmd` with stdin closed, capturing stdout/stderr, and returns at once.
/// Panics if it cannot be spawned.
#[track_caller]
pub fn spawn_background(cmd: &mut Command) -> Background {
    let cmdline = describe(cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn `{cmdline}`: {e}"));
    let out = child.stdout.take().expect("piped stdout");
    let err = child.stderr.take().expect("piped stderr");
    let read_all = |mut r: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    Background {
        cmdline,
        child: Some(child),
        out_reader: Some(read_all(Box::new(out))),
        err_reader: Some(read_all(Box::new(err))),
    }
}

impl Background {
    /// The command line, for messages.
    pub fn cmdline(&self) -> &str {
        &self.cmdline
    }

    /// Whether the command is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(c) => c.try_wait().expect("try_wait").is_none(),
        }
    }

    /// Waits (at most `timeout`) for the command to exit and returns its output.
    /// Kills it and panics (with what it printed) if it runs longer.
    #[track_caller]
    pub fn wait(mut self, timeout: Duration) -> CmdOutput {
        let mut child = self.child.take().expect("waited twice");
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => thread::sleep(Duration::from_millis(10)),
                Err(e) => panic!("waiting for `{}` failed: {e}", self.cmdline),
            }
        };
        let stdout = self.take_output(true);
        let stderr = self.take_output(false);
        match status {
            Some(status) => CmdOutput {
                cmdline: std::mem::take(&mut self.cmdline),
                status,
                stdout,
                stderr,
            },
            None => panic!(
                "command timed out after {timeout:?}: {}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
                self.cmdline
            ),
        }
    }

    fn take_output(&mut self, stdout: bool) -> String {
        let reader = if stdout {
            self.out_reader.take()
        } else {
            self.err_reader.take()
        };
        reader
            .map(|r| r.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A small deterministic pseudo-random generator (SplitMix64) for randomized tests that
/// print their seed, so a failing run can be repeated exactly. Not for cryptography.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// A seed from the clock and the process id (print it!).
    pub fn seed_from_clock() -> u64 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        nanos ^ (u64::from(std::process::id()) << 32)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..hi` (`lo` if the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo)
    }
}

/// The differences between two JSON values, one line per differing leaf, each naming its
/// path (`a.b[2].c`), skipping the paths in `ignore` (exact paths, e.g. `"timestamps.sent"`).
/// Empty when they are equal.
pub fn json_diff(expected: &Value, actual: &Value, ignore: &[&str]) -> Vec<String> {
    fn walk(path: &str, e: &Value, a: &Value, ignore: &[&str], out: &mut Vec<String>) {
        if ignore.contains(&path) {
            return;
        }
        let join = |k: &str| {
            if path.is_empty() {
                k.to_owned()
            } else {
                format!("{path}.{k}")
            }
        };
        match (e, a) {
            (Value::Object(eo), Value::Object(ao)) => {
                for (k, ev) in eo {
                    let p = join(k);
                    match ao.get(k) {
                        Some(av) => walk(&p, ev, av, ignore, out),
                        None if ignore.contains(&p.as_str()) => {}
                        None => out.push(format!("{p}: expected {ev}, missing")),
                    }
                }
                for (k, av) in ao {
                    let p = join(k);
                    if !eo.contains_key(k) && !ignore.contains(&p.as_str()) {
                        out.push(format!("{p}: unexpected {av}"));
                    }
                }
            }
            (Value::Array(ea), Value::Array(aa)) if ea.len() == aa.len() => {
                for (i, (ev, av)) in ea.iter().zip(aa).enumerate() {
                    walk(&format!("{path}[{i}]"), ev, av, ignore, out);
                }
            }
            _ if e == a => {}
            _ => out.push(format!(
                "{}: expected {e}, got {a}",
                if path.is_empty() { "(root)" } else { path }
            )),
        }
    }
    let mut out = Vec::new();
    walk("", expected, actual, ignore, &mut out);
    out
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

/// A long-running command that prints JSON lines (`peregrine watch`, `peregrine derive
/// --follow`): its stdout and stderr go to files in a temporary directory, read back at
/// will. Killed on drop.
pub struct JsonLines {
    name: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl JsonLines {
    /// Starts `cmd`, named `name` in failure messages.
    pub fn start(name: &str, cmd: &mut Command) -> JsonLines {
        let dir = tempfile::tempdir().unwrap();
        let child = cmd
            .stdout(std::fs::File::create(dir.path().join("out")).unwrap())
            .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
            .env("NO_COLOR", "1")
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        JsonLines {
            name: name.to_owned(),
            child,
            dir,
        }
    }

    /// The JSON lines it printed so far.
    pub fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("out"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Its log (stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    /// Waits (`within` at most) for a line that `pred` accepts; the last such line.
    #[track_caller]
    pub fn wait_for(
        &mut self,
        what: &str,
        within: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            if let Some(v) = self.lines().into_iter().rev().find(|v| pred(v)) {
                return v;
            }
            let exited = self.child.try_wait().ok().flatten();
            assert!(
                Instant::now() < deadline && exited.is_none(),
                "{} never printed {what} ({}):\n{:?}\n{}",
                self.name,
                exited.map_or("still running".into(), |s| format!("exited: {s}")),
                self.lines(),
                self.log()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Kills it (as a crash would) and waits for it to go.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for JsonLines {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_diff_names_paths_and_skips_ignored() {
        let a = json!({"t": {"sent": 1, "received": 2}, "p": [1, 2], "s": "x"});
        assert!(json_diff(&a, &a, &[]).is_empty());
        let b = json!({"t": {"sent": 9, "received": 3}, "p": [1, 5], "extra": true});
        let d = json_diff(&a, &b, &["t.sent"]);
        assert_eq!(
            d,
            vec![
                "p[1]: expected 2, got 5".to_owned(),
                "s: expected \"x\", missing".to_owned(),
                "t.received: expected 2, got 3".to_owned(),
                "extra: unexpected true".to_owned(),
            ]
        );
        assert_eq!(
            json_diff(&json!([1]), &json!([1, 2]), &[]),
            vec!["(root): expected [1], got [1,2]".to_owned()]
        );
        assert_eq!(json_diff(&a, &json!(null), &[]).len(), 1);
    }

    #[test]
    fn splitmix64_is_deterministic_and_in_range() {
        let mut a = SplitMix64::new(42);
        let mut b = SplitMix64::new(42);
        let xs: Vec<u64> = (0..100).map(|_| a.range(300, 1500)).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.range(300, 1500)).collect();
        assert_eq!(xs, ys);
        assert!(xs.iter().all(|x| (300..1500).contains(x)));
        assert!(xs.iter().any(|x| *x != xs[0]), "not constant");
        assert_eq!(SplitMix64::new(7).range(5, 5), 5);
    }
}
