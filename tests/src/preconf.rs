//! Preconfirmations: the `peregrine preconf verify` command and the JSON results of the
//! preconfirmation scenarios in `tests/js/preconf-e2e.mjs`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::util::{CmdOutput, run_with_timeout};

/// The documented development signing key's address (`peregrine dev` without `--preconf.key`).
pub const DEV_SEQUENCER_ADDRESS: &str = "0xEB25E6d7f8118b1E24dD5Eff177Cea2110736076";

/// Upper bound for one `peregrine preconf verify` run (it only reads a file).
pub const VERIFY_TIMEOUT: Duration = Duration::from_secs(60);

/// Marker of the line a scenario script prints its machine-readable result on.
pub const RESULT_MARKER: &str = "RESULT ";

/// Runs `peregrine <args>` (the binary from [`crate::node::peregrine_bin`]) with stdin closed.
#[track_caller]
pub fn peregrine_cli(args: &[&str]) -> CmdOutput {
    let mut cmd = Command::new(crate::node::peregrine_bin());
    cmd.args(args).env("NO_COLOR", "1");
    run_with_timeout(&mut cmd, VERIFY_TIMEOUT)
}

/// Writes `json` to `dir/name` and runs `peregrine preconf verify <file>` with
/// `--sequencer ADDR`, or `--any-signer` when `sequencer` is `None`.
#[track_caller]
pub fn verify_file(dir: &Path, name: &str, json: &Value, sequencer: Option<&str>) -> CmdOutput {
    let path = dir.join(name);
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(json).expect("serialize JSON"),
    )
    .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    let file = path.display().to_string();
    let mut args = vec!["preconf", "verify", file.as_str()];
    match sequencer {
        Some(s) => args.extend(["--sequencer", s]),
        None => args.push("--any-signer"),
    }
    peregrine_cli(&args)
}

/// The exit code of a finished command (`None` if killed by a signal).
pub fn exit_code(out: &CmdOutput) -> Option<i32> {
    out.status.code()
}

/// The JSON a scenario printed on its `RESULT {...}` line; panics (showing the whole
/// output) if there is none or it is not JSON.
#[track_caller]
pub fn script_result(out: &CmdOutput) -> Value {
    let line = out
        .stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(RESULT_MARKER))
        .unwrap_or_else(|| panic!("script printed no `{RESULT_MARKER}...` line:\n{out}"));
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("script result is not JSON ({e}): {line}\n{out}"))
}
