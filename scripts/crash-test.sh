#!/usr/bin/env bash
# Many iterations of the crash test (tests/tests/e2e/crash.rs): load over one WebSocket
# records every preconfirmation received, `peregrine dev` (2 s blocks) is SIGKILLed at a
# random moment, restarted on the same datadir, and every received preconfirmation must
# be served again identically (position, receipt, signature, proofs) and sealed in the
# block it promised; then the chain must go on. All iterations crash the same datadir in
# a row, each on top of what the previous recovery left. CI runs the same test with 3.
#
#   ./scripts/crash-test.sh            # 50 iterations
#   ./scripts/crash-test.sh 200        # 200 iterations
#
# Builds `cargo build --bin peregrine` (skipped when PEREGRINE_BIN names a binary), then
# runs the one test with cargo-nextest, output uncaptured, and keeps a log under
# target/crash-test/. Passed through to the test:
#   PEREGRINE_CRASH_SEED=0x...         repeat a run (every run prints its seed)
#   PEREGRINE_CRASH_DURABILITY=os      start the node with --wal.durability os (or fsync)
#   PEREGRINE_CRASH_SIGNAL=TERM        control run: graceful SIGTERM instead of SIGKILL
#   PEREGRINE_BIN=/path/to/peregrine   test that binary instead of target/debug/peregrine
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ITERATIONS="${1:-50}"
case "$ITERATIONS" in
  '' | *[!0-9]* | 0) echo "usage: $0 [iterations >= 1]" >&2; exit 2 ;;
esac

if [ ! -d "$ROOT/tests/js/node_modules/ws" ]; then
  "$ROOT/scripts/install-tools.sh"
fi

if [ -z "${PEREGRINE_BIN:-}" ]; then
  echo "[crash-test] building the peregrine binary"
  cargo build --bin peregrine
fi

# The suite's nextest config stops a test after 2 minutes; one iteration takes 10-25 s,
# so this run gets its own config with room for all of them (30 s each, plus slack).
LOG_DIR="$ROOT/target/crash-test"
mkdir -p "$LOG_DIR"
CONFIG="$LOG_DIR/nextest.toml"
TERMINATE_AFTER=$(( (ITERATIONS * 30 + 59) / 60 + 2 ))
cat >"$CONFIG" <<EOF
[profile.default]
slow-timeout = { period = "60s", terminate-after = $TERMINATE_AFTER }
fail-fast = true
EOF

LOG="$LOG_DIR/crash-test-$(date +%Y%m%d-%H%M%S)-n$ITERATIONS.log"
echo "[crash-test] $ITERATIONS iterations (at most $TERMINATE_AFTER min); log: $LOG"
set +e
PEREGRINE_CRASH_ITERATIONS="$ITERATIONS" cargo nextest run -p peregrine-tests --test e2e \
  --config-file "$CONFIG" -E 'test(/crash/)' --no-capture 2>&1 | tee "$LOG"
STATUS=${PIPESTATUS[0]}
set -e

echo "[crash-test] summary:"
grep -E '^crash test|: OK — |^crash test done|panicked at|LOST|differ' "$LOG" \
  | grep -vE 'OK — ' | sed 's/^/  /' || true
echo "  iterations checked OK: $(grep -c ': OK — ' "$LOG" || true) of $ITERATIONS"
if [ "$STATUS" -eq 0 ]; then
  echo "[crash-test] PASS: $ITERATIONS iterations"
else
  echo "[crash-test] FAIL (exit $STATUS); see $LOG"
fi
exit "$STATUS"
