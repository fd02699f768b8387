#!/usr/bin/env bash
# The replica chaos goal of issue #9: under load, SIGKILL the replica and cut its
# connection at random moments, ROUNDS times each (default 100), then check every block
# hash and every mini-block record (no gap, no duplicate) against the sequencer's.
# Runs the e2e test `replica_chaos_kills_and_cuts_under_load` with more rounds.
#
#   ./scripts/replica-chaos.sh [rounds]      # PEREGRINE_CHAOS_SEED=<n> repeats a run
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/install-tools.sh"
# The nodes run the release binary (the debug one applies a long history slowly); the
# load generator the debug one the test finds.
cargo build --release --bin peregrine
cargo build --bin peregrine-loadtest
PEREGRINE_BIN="$ROOT/target/release/peregrine" PEREGRINE_CHAOS_ROUNDS="${1:-100}" cargo nextest run --profile long -p peregrine-tests \
  -E 'test(replica_chaos_kills_and_cuts_under_load)' --no-capture 2>&1 \
  | grep -E "^chaos|PASS|FAIL|panicked" -A3
