//! End-to-end test harness for Peregrine.
//!
//! The harness starts a node under test — the `peregrine` binary or, for
//! validating the tests themselves, [anvil] — on a free loopback port with a
//! fresh temporary data directory, and drives it with real Ethereum clients:
//! `cast` (Foundry) and viem/solc-js scripts under `tests/js/`.
//!
//! Pick the target with `PEREGRINE_E2E_TARGET=anvil` (default: peregrine).
//! Install the client tools first with `scripts/install-tools.sh`.
//!
//! [anvil]: https://book.getfoundry.sh/anvil/

pub mod accounts;
pub mod cast;
pub mod js;
pub mod node;
pub mod preconf;
pub mod proxy;
pub mod rlp;
pub mod rpc;
pub mod util;
pub mod ws;

pub use accounts::{DEV_ACCOUNTS, DevAccount, dev};
pub use cast::Cast;
pub use node::{CHAIN_ID, Node, NodeOptions, Target};
pub use rpc::{Rpc, RpcError};
pub use util::{CmdOutput, hex_quantity, parse_u128, wait_until};

use std::path::{Path, PathBuf};

/// Root of the cargo workspace (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate has a parent directory")
        .to_path_buf()
}

/// `tests/js`, where the JavaScript tooling (cast, anvil, viem, solc-js) is installed.
pub fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// Returns `true` (after printing a note) when the current target is anvil,
/// so a Peregrine-only test can `return` early:
///
/// ```no_run
/// if peregrine_tests::skip_on_anvil("restart persistence needs a datadir") { return; }
/// ```
pub fn skip_on_anvil(reason: &str) -> bool {
    if Target::from_env() == Target::Anvil {
        eprintln!("SKIP on anvil: {reason}");
        true
    } else {
        false
    }
}
