//! Running node.js scripts from `tests/js` (solc-js compilation, viem scenarios, the
//! preconfirmation scenarios of `preconf-e2e.mjs`).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::util::{Background, CmdOutput, run_with_timeout, spawn_background};

/// Upper bound for one node script.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

fn check_installed() {
    let dir = crate::js_dir();
    for pkg in ["viem", "solc", "ws", "@openzeppelin/merkle-tree"] {
        assert!(
            dir.join("node_modules").join(pkg).is_dir(),
            "{}/node_modules/{pkg} is missing; run scripts/install-tools.sh first",
            dir.display()
        );
    }
}

/// Runs `node <script> <args...>` in `tests/js` and captures its output
/// (exit status not checked). `NODE_BIN` overrides the `node` executable.
#[track_caller]
pub fn node_script(script: &str, args: &[&str]) -> CmdOutput {
    node_script_timeout(script, args, SCRIPT_TIMEOUT)
}

/// Runs a checking scenario (`node <script> <args...>`), asserts that it exited 0 and
/// reported its checks (`... checks passed`), prints its output.
#[track_caller]
pub fn checked_script(script: &str, args: &[&str]) -> CmdOutput {
    let out = node_script(script, args);
    assert!(out.success(), "{script} failed ({}):\n{out}", out.status);
    assert!(
        out.stdout.contains("checks passed"),
        "{script} did not report its checks:\n{out}"
    );
    println!("{}", out.out());
    out
}

/// [`node_script`] with its own upper bound (for long scenarios).
#[track_caller]
pub fn node_script_timeout(script: &str, args: &[&str], timeout: Duration) -> CmdOutput {
    run_with_timeout(&mut node_command(script, args), timeout)
}

/// `node <script> <args...>` in `tests/js` (`$NODE_BIN` overrides `node`).
#[track_caller]
fn node_command(script: &str, args: &[&str]) -> Command {
    check_installed();
    let node = std::env::var("NODE_BIN").unwrap_or_else(|_| "node".into());
    let mut cmd = Command::new(node);
    cmd.current_dir(crate::js_dir())
        .arg(script)
        .args(args)
        .env("NO_COLOR", "1");
    cmd
}

/// Starts `node <script> <args...>` in `tests/js` in the background (see
/// [`Background::wait`]); for load that must run while the test does something else,
/// such as killing the node.
#[track_caller]
pub fn node_script_background(script: &str, args: &[&str]) -> Background {
    spawn_background(&mut node_command(script, args))
}

/// A compiled contract, as printed by `tests/js/compile.mjs`.
#[derive(Debug, Clone)]
pub struct Contract {
    /// ABI JSON.
    pub abi: Value,
    /// Creation bytecode (`0x`-hex).
    pub bytecode: String,
    /// Runtime bytecode (`0x`-hex); what `eth_getCode` returns after deployment.
    pub deployed_bytecode: String,
}

/// Compiles `tests/js/contracts/*.sol` with solc-js; returns contracts by name.
#[track_caller]
pub fn compile_contracts() -> BTreeMap<String, Contract> {
    compile_contracts_args(&[])
}

/// Compiles the `*.sol` files of `dir` (e.g. `preconf/contracts`) with solc-js.
#[track_caller]
pub fn compile_contracts_in(dir: &std::path::Path) -> BTreeMap<String, Contract> {
    compile_contracts_args(&[&dir.display().to_string()])
}

#[track_caller]
fn compile_contracts_args(args: &[&str]) -> BTreeMap<String, Contract> {
    let out = node_script("compile.mjs", args).expect_success();
    let v: Value = serde_json::from_str(out.out())
        .unwrap_or_else(|e| panic!("compile.mjs printed non-JSON ({e}):\n{out}"));
    let obj = v.as_object().expect("compile.mjs output is an object");
    obj.iter()
        .map(|(name, c)| {
            let s = |k: &str| {
                c[k].as_str()
                    .unwrap_or_else(|| panic!("{name}.{k} missing in compile output"))
                    .to_owned()
            };
            let contract = Contract {
                abi: c["abi"].clone(),
                bytecode: s("bytecode"),
                deployed_bytecode: s("deployedBytecode"),
            };
            assert!(
                contract.bytecode.len() > 2 && contract.deployed_bytecode.len() > 2,
                "{name} compiled to empty bytecode"
            );
            (name.clone(), contract)
        })
        .collect()
}

/// Compiles and returns one contract by name.
#[track_caller]
pub fn compile(name: &str) -> Contract {
    compile_contracts()
        .remove(name)
        .unwrap_or_else(|| panic!("contract {name} not produced by compile.mjs"))
}
