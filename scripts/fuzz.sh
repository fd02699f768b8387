#!/usr/bin/env bash
# Runs Peregrine's cargo-fuzz (libFuzzer) targets (fuzz/): each for SECONDS, starting from
# the seed corpus in fuzz/seeds/<target> (kept in the repository) and the working corpus
# in fuzz/corpus/<target> (git-ignored, grows across runs). A crash or a hang fails the
# run and leaves the input in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh                 # every target, 8 s each (the CI smoke pass)
#   scripts/fuzz.sh 600             # every target, 10 minutes each
#   scripts/fuzz.sh 600 raw_tx      # one target
#
# Installs cargo-fuzz from crates.io if missing. Builds on the stable toolchain with
# RUSTC_BOOTSTRAP=1 and no sanitizer (`-s none`): libFuzzer's coverage instrumentation is
# plain `-C` flags; AddressSanitizer would need a nightly toolchain and buys little for
# safe Rust. Prints one summary line per target (execs, coverage, corpus size).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT/fuzz"
SECONDS_EACH="${1:-8}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(raw_tx rpc_params wal_record mini_block_cbor preconf_json batch_payload)
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "[fuzz] installing cargo-fuzz from crates.io"
  cargo install --locked cargo-fuzz
fi
export RUSTC_BOOTSTRAP=1
FLAGS=(-s none --release)
echo "[fuzz] building ${TARGETS[*]}"
for t in "${TARGETS[@]}"; do
  cargo fuzz build "${FLAGS[@]}" "$t" 2>&1 | tail -n 3
done
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t"
  log="$(mktemp)"
  # -timeout: an input running over 10 s is a hang; -rss_limit_mb: memory blow-ups fail.
  if ! cargo fuzz run "${FLAGS[@]}" "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=4096 \
      -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "[fuzz] $t FAILED (input in fuzz/artifacts/$t/)"
    exit 1
  fi
  execs="$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')"
  rate="$(grep -m1 'stat::average_exec_per_sec' "$log" | awk '{print $2}')"
  cov="$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+' | awk '{print $2}')"
  ft="$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'ft: [0-9]+' | awk '{print $2}')"
  corpus="$(ls "corpus/$t" | wc -l)"
  echo "[fuzz] $t: ${SECONDS_EACH}s, ${execs:-?} execs (${rate:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corpus}, 0 crashes"
  rm -f "$log"
done
