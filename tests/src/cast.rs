//! Running Foundry's `cast` (installed under `tests/js/node_modules/.bin`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::util::{CmdOutput, parse_u128, run_with_timeout};

/// Upper bound for one `cast` invocation (`cast send` waits for the receipt).
pub const CAST_TIMEOUT: Duration = Duration::from_secs(90);

/// Path of the `cast` binary; panics with install instructions if missing.
pub fn cast_bin() -> PathBuf {
    let p = crate::js_dir().join("node_modules/.bin/cast");
    assert!(
        p.exists(),
        "cast not found at {}; run scripts/install-tools.sh first",
        p.display()
    );
    p
}

/// `cast` bound to one RPC URL.
#[derive(Debug, Clone)]
pub struct Cast {
    rpc_url: String,
}

impl Cast {
    /// `cast` talking to `rpc_url`.
    pub fn new(rpc_url: impl Into<String>) -> Self {
        Cast {
            rpc_url: rpc_url.into(),
        }
    }

    /// The RPC URL passed as `--rpc-url`.
    pub fn rpc_url(&self) -> &str {
        &self.rpc_url
    }

    fn command(args: &[&str]) -> Command {
        let mut cmd = Command::new(cast_bin());
        cmd.args(args)
            .env_remove("ETH_RPC_URL")
            .env_remove("ETH_FROM")
            .env_remove("CHAIN")
            .env("FOUNDRY_DISABLE_NIGHTLY_WARNING", "1")
            .env("NO_COLOR", "1");
        cmd
    }

    /// Runs `cast <args[0]> --rpc-url <url> <args[1..]>` (the flag goes right
    /// after the subcommand so it never lands among trailing arguments).
    /// Captures output; does not check the exit status.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> CmdOutput {
        assert!(!args.is_empty(), "cast needs a subcommand");
        let mut full = vec![args[0], "--rpc-url", &self.rpc_url];
        full.extend_from_slice(&args[1..]);
        run_with_timeout(&mut Self::command(&full), CAST_TIMEOUT)
    }

    /// Like [`Cast::run`], panicking unless it succeeds; returns trimmed stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        self.run(args).expect_success().out().to_owned()
    }

    /// Like [`Cast::ok`], parsing stdout as JSON.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("cast {args:?} printed non-JSON ({e}): {out}"))
    }

    /// Like [`Cast::ok`], parsing stdout as an integer (decimal or hex).
    #[track_caller]
    pub fn uint(&self, args: &[&str]) -> u128 {
        parse_u128(first_word(&self.ok(args)))
    }

    /// Runs a subcommand that needs no node (`keccak`, `calldata`, `abi-decode`, ...).
    #[track_caller]
    pub fn offline(args: &[&str]) -> CmdOutput {
        run_with_timeout(&mut Self::command(args), CAST_TIMEOUT)
    }

    /// [`Cast::offline`], panicking unless it succeeds; returns trimmed stdout.
    #[track_caller]
    pub fn offline_ok(args: &[&str]) -> String {
        Self::offline(args).expect_success().out().to_owned()
    }

    /// `cast keccak <hex or text>`: keccak-256 as `0x`-hex.
    #[track_caller]
    pub fn keccak(data: &str) -> String {
        Self::offline_ok(&["keccak", data]).to_ascii_lowercase()
    }
}

/// The first whitespace-separated word (cast prints e.g. `5 [5e0]` for uint results).
pub fn first_word(s: &str) -> &str {
    s.split_whitespace().next().unwrap_or("")
}
