//! Starting the nodes `compare` measures: anvil and `peregrine dev`, each on a free loopback
//! port, logging to a file in a temporary directory, killed when dropped.

use crate::{
    config::Endpoint,
    error::{LoadError, LoadResult},
    rpc::Client,
};
use serde_json::json;
use std::{
    fs::File,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tempfile::TempDir;

/// How long a node may take to answer `eth_chainId` after it starts.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A node process, killed on drop.
#[derive(Debug)]
pub(crate) struct NodeProcess {
    pub(crate) name: &'static str,
    pub(crate) port: u16,
    child: Child,
    dir: TempDir,
}

/// A free loopback port (bound then released: the node binds it next).
pub(crate) fn free_port() -> LoadResult<u16> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| LoadError::Node(format!("cannot bind a loopback port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| LoadError::Node(e.to_string()))
}

impl NodeProcess {
    /// Starts `program args…` with stdout and stderr in `<tmp>/node.log`; `{port}`, `{port2}`
    /// (a second free port) and `{dir}` in the arguments are replaced. `HOME` is the
    /// temporary directory too, so whatever the node keeps under it (anvil: its state cache,
    /// which it never deletes) goes when the node does.
    pub(crate) fn start(name: &'static str, program: &Path, args: &[&str]) -> LoadResult<Self> {
        let port = free_port()?;
        let port2 = free_port()?;
        let dir = tempfile::Builder::new()
            .prefix(&format!("peregrine-loadtest-{name}-"))
            .tempdir()
            .map_err(|e| LoadError::Node(format!("temporary directory: {e}")))?;
        let log = File::create(dir.path().join("node.log"))
            .map_err(|e| LoadError::Node(format!("log file: {e}")))?;
        let log2 = log
            .try_clone()
            .map_err(|e| LoadError::Node(format!("log file: {e}")))?;
        let args: Vec<String> = args
            .iter()
            .map(|a| {
                a.replace("{port}", &port.to_string())
                    .replace("{port2}", &port2.to_string())
                    .replace("{dir}", &dir.path().join("data").display().to_string())
            })
            .collect();
        let child = Command::new(program)
            .args(&args)
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| LoadError::Node(format!("cannot start {}: {e}", program.display())))?;
        Ok(NodeProcess {
            name,
            port,
            child,
            dir,
        })
    }

    /// The node's endpoint with the given scheme (`http` or `ws`).
    pub(crate) fn endpoint(&self, scheme: &str) -> Endpoint {
        Endpoint::parse(&format!("{scheme}://127.0.0.1:{}", self.port))
            .expect("a loopback URL parses")
    }

    /// The process id (for `top`/`perf` while a comparison runs).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the node's log.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// [`NodeProcess::start`], then [`NodeProcess::wait_ready`]; started again on other
    /// ports (three times at most) when it dies because a port it was given was taken in
    /// between (by another node started at the same moment).
    pub(crate) async fn start_ready(
        name: &'static str,
        program: &Path,
        args: &[&str],
    ) -> LoadResult<Self> {
        const ATTEMPTS: u32 = 3;
        let mut attempt = 1;
        loop {
            let mut node = NodeProcess::start(name, program, args)?;
            match node.wait_ready().await {
                Ok(()) => return Ok(node),
                Err(e)
                    if attempt < ATTEMPTS && node.log_tail().to_lowercase().contains("in use") =>
                {
                    eprintln!("compare: {name} found a port in use ({e}); starting it again");
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits until the node answers `eth_chainId` and its own log says it is listening
    /// (`peregrine dev is running`, anvil's `Listening on 127.0.0.1:<port>`): an answer
    /// alone could come from another node that took the port first.
    pub(crate) async fn wait_ready(&mut self) -> LoadResult<()> {
        let ep = self.endpoint("http");
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(LoadError::Node(format!(
                    "{} exited with {status} before answering; log:\n{}",
                    self.name,
                    self.log_tail()
                )));
            }
            let log = std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default();
            let listening = log.contains("peregrine dev is running")
                || log.contains(&format!("Listening on 127.0.0.1:{}", self.port));
            if listening
                && let Ok(client) = Client::connect(&ep).await
                && client
                    .call::<serde_json::Value>("eth_chainId", json!([]))
                    .await
                    .is_ok()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LoadError::Node(format!(
                    "{} did not answer within {}; log:\n{}",
                    self.name,
                    humantime::format_duration(STARTUP_TIMEOUT),
                    self.log_tail()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `program dev --help` lists `flag` (newer `peregrine` binaries have more ports to
/// move off their defaults, e.g. `--metrics.addr`).
pub(crate) fn dev_supports(program: &Path, flag: &str) -> bool {
    Command::new(program)
        .args(["dev", "--help"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(flag))
}

/// The first of `candidates` that is a file.
pub(crate) fn first_existing(candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates.iter().find(|p| p.is_file()).cloned()
}

/// The workspace root: `$CARGO_MANIFEST_DIR/..` when built in the repository, else the
/// current directory.
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    match manifest.parent() {
        Some(p) if p.join("Cargo.toml").is_file() => p.to_path_buf(),
        _ => std::env::current_dir().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a node writes under `$HOME` (anvil's state cache) lands in its temporary
    /// directory and goes with it.
    #[test]
    fn a_node_writes_its_home_files_into_its_own_directory() {
        let sh = Path::new("/bin/sh");
        let script = "mkdir -p \"$HOME/.foundry/anvil/tmp\" \
                      && touch \"$HOME/.foundry/anvil/tmp/state\" && sleep 30";
        let node = NodeProcess::start("home", sh, &["-c", script]).unwrap();
        let state = node.dir.path().join(".foundry/anvil/tmp/state");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !state.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "{} was not written",
                state.display()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(node);
        assert!(!state.exists(), "{} outlived its node", state.display());
    }
}
