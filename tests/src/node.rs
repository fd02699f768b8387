//! Spawning and supervising the node under test.

use std::fs::{File, OpenOptions};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use tempfile::TempDir;

use crate::cast::Cast;
use crate::rpc::Rpc;
use crate::util::hex_quantity;

/// Chain id both targets run with.
pub const CHAIN_ID: u64 = 901;

/// Block time Peregrine is started with (`--block-time`, humantime syntax).
pub const PEREGRINE_BLOCK_TIME: &str = "200ms";

/// Block time anvil is started with (`--block-time`, integer seconds).
pub const ANVIL_BLOCK_TIME_SECS: u64 = 1;

/// How long to wait for a started node to answer `eth_chainId`
/// (override with `PEREGRINE_E2E_STARTUP_TIMEOUT_SECS`).
pub const DEFAULT_STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `stop`/`restart` wait for the node to exit after SIGTERM.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Which implementation is under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The `peregrine` binary (the real system under test).
    Peregrine,
    /// Foundry's anvil, used to validate the tests themselves.
    Anvil,
}

impl Target {
    /// `Anvil` when `PEREGRINE_E2E_TARGET=anvil`, else `Peregrine`.
    /// Panics on any other non-empty value, to catch typos.
    pub fn from_env() -> Target {
        match std::env::var("PEREGRINE_E2E_TARGET").as_deref() {
            Ok("anvil") => Target::Anvil,
            Ok("peregrine") | Ok("") | Err(_) => Target::Peregrine,
            Ok(other) => panic!(
                "PEREGRINE_E2E_TARGET={other:?} is not understood; use \"anvil\" or \"peregrine\""
            ),
        }
    }

    /// Whether this is anvil.
    pub fn is_anvil(self) -> bool {
        self == Target::Anvil
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Target::Peregrine => "peregrine",
            Target::Anvil => "anvil",
        }
    }
}

/// The debug `peregrine-loadtest` binary (built with the workspace's tests).
pub fn loadtest_bin() -> PathBuf {
    let root = crate::workspace_root();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|p| !p.is_empty())
        .map(|p| root.join(p))
        .unwrap_or_else(|| root.join("target"));
    let p = target_dir.join("debug").join("peregrine-loadtest");
    assert!(
        p.is_file(),
        "peregrine-loadtest not found at {}: build it with `cargo build --bin peregrine-loadtest` \
         (scripts/test.sh does)",
        p.display()
    );
    p
}

/// Path of the `peregrine` binary: `$PEREGRINE_BIN`, else
/// `<target dir>/debug/peregrine` where the target dir is `$CARGO_TARGET_DIR`
/// or `<workspace>/target`. Panics with build instructions if it is missing.
pub fn peregrine_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PEREGRINE_BIN").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "PEREGRINE_BIN={} does not exist or is not a file",
            p.display()
        );
        return p;
    }
    let root = crate::workspace_root();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|p| !p.is_empty())
        .map(|p| root.join(p))
        .unwrap_or_else(|| root.join("target"));
    let p = target_dir.join("debug").join("peregrine");
    assert!(
        p.is_file(),
        "peregrine binary not found at {}.\n\
         Build it first with `cargo build --bin peregrine`, or point PEREGRINE_BIN at it,\n\
         or run the suite against anvil with PEREGRINE_E2E_TARGET=anvil.",
        p.display()
    );
    p
}

/// Path of the anvil binary installed by `scripts/install-tools.sh`.
pub fn anvil_bin() -> PathBuf {
    let p = crate::js_dir().join("node_modules/.bin/anvil");
    assert!(
        p.exists(),
        "anvil not found at {}; run scripts/install-tools.sh first",
        p.display()
    );
    p
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral loopback port");
    l.local_addr().expect("local addr").port()
}

fn startup_timeout() -> Duration {
    std::env::var("PEREGRINE_E2E_STARTUP_TIMEOUT_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_STARTUP_TIMEOUT)
}

/// Extra settings for starting a node (see [`Node::start_opts`]).
///
/// The defaults reproduce [`Node::start`]: Peregrine with [`PEREGRINE_BLOCK_TIME`],
/// anvil with [`ANVIL_BLOCK_TIME_SECS`], no further flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeOptions {
    /// `--block-time` for Peregrine (humantime syntax, e.g. `"5s"`); `None` keeps
    /// [`PEREGRINE_BLOCK_TIME`]. Ignored for anvil.
    pub block_time: Option<String>,
    /// Further flags appended to the target's command line (e.g. `--dev.accounts 100`).
    pub extra_args: Vec<String>,
    /// Run `peregrine replica` following this WebSocket URL (signed by the dev key)
    /// instead of `peregrine dev`.
    pub replica_of: Option<String>,
    /// Environment variables set for the node's process.
    pub env: Vec<(String, String)>,
}

impl NodeOptions {
    /// Options with the given Peregrine `--block-time`.
    pub fn block_time(block_time: impl Into<String>) -> Self {
        NodeOptions {
            block_time: Some(block_time.into()),
            ..NodeOptions::default()
        }
    }

    /// Appends flags to the command line.
    pub fn arg(mut self, args: &[&str]) -> Self {
        self.extra_args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// Sets an environment variable for the node's process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }
}

/// A running node under test, killed when dropped.
///
/// The node listens on `127.0.0.1:<port>` only; its data directory and log
/// file (`node.log`, stdout and stderr together) live in a fresh temporary
/// directory removed on drop.
#[derive(Debug)]
pub struct Node {
    target: Target,
    program: PathBuf,
    port: u16,
    dir: TempDir,
    child: Option<Child>,
    rpc: Rpc,
    starts: u32,
    opts: NodeOptions,
}

/// Why a start attempt failed.
#[derive(Debug)]
enum StartError {
    /// The process exited before answering.
    Exited(ExitStatus),
    /// It did not answer in time.
    Timeout(String),
}

impl Node {
    /// Starts the target selected by `PEREGRINE_E2E_TARGET` (see [`Target::from_env`]).
    #[track_caller]
    pub fn from_env() -> Node {
        Node::start(Target::from_env())
    }

    /// Starts `peregrine dev` (see [`peregrine_bin`] for how the binary is found).
    #[track_caller]
    pub fn peregrine() -> Node {
        Node::start(Target::Peregrine)
    }

    /// Starts anvil from `tests/js/node_modules/.bin/anvil`.
    #[track_caller]
    pub fn anvil() -> Node {
        Node::start(Target::Anvil)
    }

    /// Starts a node of the given kind on a free port and waits until it answers
    /// `eth_chainId`. Panics with the node's log if it does not come up.
    #[track_caller]
    pub fn start(target: Target) -> Node {
        let program = match target {
            Target::Peregrine => peregrine_bin(),
            Target::Anvil => anvil_bin(),
        };
        Node::start_with(target, program)
    }

    /// Like [`Node::start`] with an explicit executable (e.g. a release build),
    /// given the command-line arguments of `target`.
    #[track_caller]
    pub fn start_with(target: Target, program: impl Into<PathBuf>) -> Node {
        Node::start_full(target, program.into(), NodeOptions::default())
    }

    /// Like [`Node::start`] with extra options (block time, flags); they apply to
    /// [`Node::restart`] too.
    #[track_caller]
    pub fn start_opts(target: Target, opts: NodeOptions) -> Node {
        let program = match target {
            Target::Peregrine => peregrine_bin(),
            Target::Anvil => anvil_bin(),
        };
        Node::start_full(target, program, opts)
    }

    /// Starts `peregrine replica` following `sequencer` (a Peregrine node or replica, by
    /// its WebSocket URL), with `extra` flags.
    #[track_caller]
    pub fn replica_of(sequencer_ws: &str, extra: &[&str]) -> Node {
        let opts = NodeOptions {
            replica_of: Some(sequencer_ws.to_string()),
            ..NodeOptions::default()
        }
        .arg(extra);
        Node::start_full(Target::Peregrine, peregrine_bin(), opts)
    }

    /// [`Node::start_opts`] on the target selected by `PEREGRINE_E2E_TARGET`.
    #[track_caller]
    pub fn from_env_opts(opts: NodeOptions) -> Node {
        Node::start_opts(Target::from_env(), opts)
    }

    #[track_caller]
    fn start_full(target: Target, program: PathBuf, opts: NodeOptions) -> Node {
        let dir = tempfile::Builder::new()
            .prefix(&format!("peregrine-e2e-{}-", target.name()))
            .tempdir()
            .expect("create temp dir");
        std::fs::create_dir_all(dir.path().join("data")).expect("create datadir");
        let mut node = Node {
            target,
            program,
            port: 0,
            dir,
            child: None,
            rpc: Rpc::new("http://127.0.0.1:0"),
            starts: 0,
            opts,
        };
        // The port is found free and then released before the node binds it, so
        // another process may grab it in between: retry on a fresh port when the
        // node dies reporting the address in use.
        const ATTEMPTS: u32 = 3;
        for attempt in 1..=ATTEMPTS {
            node.port = free_port();
            node.rpc = Rpc::with_timeout(node.url(), Duration::from_secs(30));
            match node.spawn_and_wait() {
                Ok(()) => return node,
                Err(StartError::Exited(status))
                    if attempt < ATTEMPTS && node.log().to_lowercase().contains("in use") =>
                {
                    eprintln!(
                        "{} exited ({status}) with port {} in use; retrying on another port",
                        target.name(),
                        node.port
                    );
                }
                Err(e) => node.start_failed(e),
            }
        }
        unreachable!("the last attempt either returns or panics")
    }

    #[track_caller]
    fn start_failed(&mut self, e: StartError) -> ! {
        let why = match e {
            StartError::Exited(status) => format!("exited early with {status}"),
            StartError::Timeout(last) => {
                format!(
                    "did not answer eth_chainId within {:?} (last error: {last})",
                    startup_timeout()
                )
            }
        };
        self.kill();
        panic!(
            "{} node on {} {why}\ncommand: {}\n--- node log ({}) ---\n{}",
            self.target.name(),
            self.url(),
            self.command_line().join(" "),
            self.log_path().display(),
            tail(&self.log(), 200),
        );
    }

    /// The command line (program + args) used to start the node.
    pub fn command_line(&self) -> Vec<String> {
        let mut v = vec![self.program.display().to_string()];
        v.extend(self.args());
        v
    }

    fn args(&self) -> Vec<String> {
        let mut args = self.base_args();
        args.extend(self.opts.extra_args.iter().cloned());
        args
    }

    fn base_args(&self) -> Vec<String> {
        if let Some(sequencer) = &self.opts.replica_of {
            return vec![
                "replica".into(),
                "--sequencer".into(),
                sequencer.clone(),
                "--sequencer.address".into(),
                crate::preconf::DEV_SEQUENCER_ADDRESS.into(),
                "--rpc.addr".into(),
                format!("127.0.0.1:{}", self.port),
                "--datadir".into(),
                self.datadir().display().to_string(),
                "--metrics.addr".into(),
                "127.0.0.1:0".into(),
                "--log.format".into(),
                "json".into(),
            ];
        }
        match self.target {
            Target::Peregrine => vec![
                "dev".into(),
                "--rpc.addr".into(),
                format!("127.0.0.1:{}", self.port),
                "--datadir".into(),
                self.datadir().display().to_string(),
                "--block-time".into(),
                self.opts
                    .block_time
                    .clone()
                    .unwrap_or_else(|| PEREGRINE_BLOCK_TIME.into()),
                // The operator endpoints default to a fixed port (9001); tests run many nodes
                // at once, so each takes an ephemeral one.
                "--metrics.addr".into(),
                "127.0.0.1:0".into(),
            ],
            Target::Anvil => vec![
                "--host".into(),
                "127.0.0.1".into(),
                "--port".into(),
                self.port.to_string(),
                "--chain-id".into(),
                CHAIN_ID.to_string(),
                "--block-time".into(),
                ANVIL_BLOCK_TIME_SECS.to_string(),
            ],
        }
    }

    fn spawn_and_wait(&mut self) -> Result<(), StartError> {
        self.starts += 1;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open node log");
        {
            use std::io::Write;
            let mut l = &log;
            let _ = writeln!(
                l,
                "===== start #{} on port {}: {} =====",
                self.starts,
                self.port,
                self.command_line().join(" ")
            );
        }
        let log_err: File = log.try_clone().expect("clone log handle");
        let child = Command::new(&self.program)
            .args(self.args())
            .envs(self.opts.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", self.program.display()));
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), StartError> {
        let timeout = startup_timeout();
        let deadline = Instant::now() + timeout;
        let probe = Rpc::with_timeout(self.url(), Duration::from_secs(2));
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .expect("child running")
                .try_wait()
                .expect("try_wait on node")
            {
                self.child = None;
                return Err(StartError::Exited(status));
            }
            let last = match probe.try_call("eth_chainId", json!([])) {
                Ok(Ok(v)) => {
                    let id = v.as_str().map(|_| hex_quantity(&v));
                    // An answer alone could come from another test's node that took the
                    // port first (this one then dies with the address in use): it counts
                    // only once this start's own log says it is listening.
                    match (id == Some(CHAIN_ID as u128), self.listening()) {
                        (true, true) => return Ok(()),
                        (true, false) => {
                            "the port answers, but this node's log does not say it listens"
                                .to_owned()
                        }
                        (false, _) => format!("eth_chainId returned {v}, expected {CHAIN_ID:#x}"),
                    }
                }
                Ok(Err(e)) => e.to_string(),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                return Err(StartError::Timeout(last));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The target kind.
    pub fn target(&self) -> Target {
        self.target
    }

    /// Whether this node is anvil.
    pub fn is_anvil(&self) -> bool {
        self.target.is_anvil()
    }

    /// The operator endpoints' base URL (`http://ip:port`), from the start-up log line
    /// (the tests start nodes with an ephemeral `--metrics.addr`). Waits up to 10 s.
    #[track_caller]
    pub fn metrics_url(&self) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = strip_ansi(&self.log());
            let found = log.lines().rev().find_map(|l| {
                let at = l.find("metrics=").or_else(|| l.find("\"metrics\":\""))?;
                let rest = l[at..]
                    .trim_start_matches("metrics=")
                    .trim_start_matches("\"metrics\":\"");
                let addr: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                addr.contains(':').then_some(addr)
            });
            if let Some(addr) = found {
                return format!("http://{addr}");
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no metrics address in the log of {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The HTTP JSON-RPC URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The WebSocket JSON-RPC URL (same port as HTTP), `ws://127.0.0.1:<port>`.
    pub fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// The options the node was started with.
    pub fn options(&self) -> &NodeOptions {
        &self.opts
    }

    /// The RPC port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The node's data directory (Peregrine's `--datadir`; unused by anvil).
    pub fn datadir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Path of the log file receiving the node's stdout and stderr.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("node.log")
    }

    /// Everything the node has logged so far (all starts).
    pub fn log(&self) -> String {
        std::fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// JSON-RPC client for this node.
    pub fn rpc(&self) -> &Rpc {
        &self.rpc
    }

    /// `cast` bound to this node's RPC URL.
    pub fn cast(&self) -> Cast {
        Cast::new(self.url())
    }

    /// The OS process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            None => false,
            Some(c) => c.try_wait().expect("try_wait").is_none(),
        }
    }

    /// Waits (at most `timeout`) for the node to exit by itself; its exit status, or
    /// `None` if it is still running.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let child = self.child.as_mut()?;
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Sends SIGTERM and waits (at most [`SHUTDOWN_TIMEOUT`]) for the node to exit,
    /// returning its exit status. Panics if it does not exit in time (after killing it).
    #[track_caller]
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("node is not running");
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "node had already exited ({status}) before stop()\n--- node log ---\n{}",
                tail(&self.log(), 100)
            );
        }
        // `kill` via sh: no libc/unsafe needed, and sh's builtin is always there.
        let pid = child.id();
        let st = Command::new("sh")
            .args(["-c", &format!("kill -TERM {pid}")])
            .status()
            .expect("run sh -c kill");
        assert!(st.success(), "sending SIGTERM to {pid} failed: {st}");
        let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "node did not exit within {SHUTDOWN_TIMEOUT:?} of SIGTERM (killed)\n--- node log ---\n{}",
                    tail(&self.log(), 100)
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the node with SIGKILL — no shutdown code runs, as in a crash or an OOM kill —
    /// and waits for it to exit; the data directory is kept, so [`Node::restart`] starts it
    /// again on what it left on disk. Returns the exit status (killed by signal 9).
    /// Panics if the node had already exited.
    #[track_caller]
    pub fn kill_hard(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("node is not running");
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "node had already exited ({status}) before kill_hard()\n--- node log ---\n{}",
                tail(&self.log(), 100)
            );
        }
        let pid = child.id();
        let st = Command::new("sh")
            .args(["-c", &format!("kill -KILL {pid}")])
            .status()
            .expect("run sh -c kill");
        assert!(st.success(), "sending SIGKILL to {pid} failed: {st}");
        let status = child.wait().expect("wait for the killed node");
        {
            use std::io::Write;
            if let Ok(mut l) = OpenOptions::new().append(true).open(self.log_path()) {
                let _ = writeln!(l, "===== SIGKILL sent to pid {pid}: {status} =====");
            }
        }
        status
    }

    /// Starts the node again on the same port and data directory (after [`Node::stop`] or
    /// [`Node::kill_hard`], or stopping it first if it is running). Returns the exit status
    /// of the stop, if any.
    #[track_caller]
    pub fn restart(&mut self) -> Option<ExitStatus> {
        let status = if self.child.is_some() {
            Some(self.stop())
        } else {
            None
        };
        // The old socket may linger briefly; retry binding for a few seconds.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return status,
                Err(StartError::Exited(_))
                    if Instant::now() < deadline && self.last_start_log().contains("in use") =>
                {
                    thread::sleep(Duration::from_millis(200));
                }
                Err(e) => self.start_failed(e),
            }
        }
    }

    /// [`Node::restart`] for a start that may fail: `Err` with the start's log (lower
    /// case) when the process exits instead of serving.
    #[track_caller]
    pub fn try_restart(&mut self) -> Result<(), String> {
        if self.child.is_some() {
            self.stop();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return Ok(()),
                Err(StartError::Exited(_))
                    if Instant::now() < deadline && self.last_start_log().contains("in use") =>
                {
                    thread::sleep(Duration::from_millis(200));
                }
                Err(StartError::Exited(_)) => return Err(self.last_start_log()),
                Err(e) => self.start_failed(e),
            }
        }
    }

    /// Whether this start's own log says it is listening on its port
    /// (`peregrine dev is running`, anvil's `Listening on 127.0.0.1:<port>`); the start
    /// marker's command line, which names the port too, does not count.
    fn listening(&self) -> bool {
        let log = self.last_start_log();
        let after_marker = log.split_once('\n').map_or("", |(_, rest)| rest);
        after_marker.contains("is running")
            || after_marker.contains(&format!("listening on 127.0.0.1:{}", self.port))
    }

    fn last_start_log(&self) -> String {
        let log = self.log();
        let marker = format!("===== start #{} ", self.starts);
        log.rfind(&marker)
            .map(|i| log[i..].to_lowercase())
            .unwrap_or_default()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!(
                "--- {} node log (tail of {}) ---\n{}",
                self.target.name(),
                self.log_path().display(),
                tail(&self.log(), 60)
            );
        }
    }
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `text` without ANSI colour sequences (`ESC [ ... m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
