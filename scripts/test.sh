#!/usr/bin/env bash
# Peregrine's whole test suite: installs the real clients the end-to-end tests drive
# (cast, anvil, viem, solc-js from the npm registry), builds the `peregrine` binary,
# then runs every unit, integration, end-to-end and loom test with cargo-nextest.
#
#   ./scripts/test.sh            # everything
#   ./scripts/test.sh -E 'test(/cast/)'   # extra arguments go to `cargo nextest run`
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

"$ROOT/scripts/install-tools.sh"

if ! command -v cargo-nextest >/dev/null 2>&1; then
  echo "[test] cargo-nextest not found: installing it from crates.io"
  cargo install --locked cargo-nextest
fi

# One build for everything: `ops` has integration tests, so this build also makes
# target/debug/peregrine (with the workspace's test features), which the end-to-end
# tests spawn. A separate `cargo build --bin peregrine` would compile most crates a
# second time with other features: twice the time and disk.
echo "[test] unit, integration and end-to-end tests"
cargo nextest run --locked --workspace --no-fail-fast "$@"

echo "[test] loom model of the ring buffer"
cargo nextest run --locked -p peregrine-sequencer --features loom --lib -E 'test(/loom/)'

# A short coverage-guided smoke pass of every fuzz target (8 s each from the seed
# corpora in fuzz/seeds); long runs: `scripts/fuzz.sh 600` (docs/benchmarks.md).
echo "[test] fuzz smoke pass"
"$ROOT/scripts/fuzz.sh" 8
