#!/usr/bin/env bash
# The preconfirmation latency measurement of issue #3: one client over a persistent
# WebSocket on loopback at 1k TPS, submit -> signed preconfirmation received, page-cache
# durability (`--wal.durability os`). Starts `peregrine dev` on a fresh datadir for each
# run, runs `peregrine-loadtest`, prints the summary and the per-stage breakdown, and keeps
# each run's JSON report.
#
#   ./scripts/latency.sh                       # defaults, unpinned, 3 runs
#   ./scripts/latency.sh --pinned 2,3 --node-cores 4-7 --client-cores 8-11
#                                              # the design-card set-up on a big machine:
#                                              # loop on core 2 and log thread on core 3,
#                                              # both busy-spinning; RPC workers on 4-7;
#                                              # load generator on 8-11
#
# Options:
#   --pinned LOOP,LOG   pin the sequencer loop and the log thread to these cores and make
#                       both busy-spin (needs two otherwise idle cores each; on a 2-core
#                       machine this is far slower than the default)
#   --node-cores LIST   run the node's other threads on these cores (taskset -c LIST)
#   --client-cores LIST run the load generator on these cores (taskset -c LIST)
#   --rate N            transactions per second (default 1000)
#   --duration D        per run (default 10s)
#   --runs K            how many runs (default 3)
#   --warmup D          before each measured run, load the fresh node at the same rate for
#                       D, unreported (default 3s; 0s to measure from a cold start). The
#                       first seconds of a node's life are slower (pools and caches fill,
#                       threads and connections start): p50 ~250-300 us in second 1 here,
#                       ~150-170 us from second 3 on
#   --stalled-subscribers N
#                       during each measured run, N more WebSocket connections subscribe
#                       to `miniBlocks` and read nothing (peregrine-loadtest's flag): the
#                       promise latency of the one client with N stalled consumers beside it
#   --out DIR           reports go here (default target/latency/<time>)
#   -- ARGS             anything after `--` goes to `peregrine dev`
#
# Binaries: $PEREGRINE_BIN and $LOADTEST_BIN, else target/release/{peregrine,peregrine-loadtest},
# built with `cargo build --release` when missing. A machine without cargo or crates.io
# (the lent 16-core one) gets stripped copies, 13 + 4 MB:
#   mkdir -p target/device
#   strip -o target/device/peregrine target/release/peregrine
#   strip -o target/device/peregrine-loadtest target/release/peregrine-loadtest
#   # there, with target/device carried:
#   PEREGRINE_BIN=target/device/peregrine LOADTEST_BIN=target/device/peregrine-loadtest \
#     scripts/latency.sh --pinned 2,3 --node-cores 4-7 --client-cores 8-11 --out "$OUT"
# Ends with each run's p50 / p99 and how many runs met the goal (p50 <= 150 us and
# p99 <= 500 us); exits 0 either way (it measures, it does not judge).
# Needs bash, awk, taskset (util-linux) for the core options, and nothing else.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PINNED="" NODE_CORES="" CLIENT_CORES="" RATE=1000 DURATION=10s RUNS=3 WARMUP=3s OUT="" EXTRA=()
STALLED=0
while [ $# -gt 0 ]; do
  case "$1" in
    --pinned) PINNED="$2"; shift 2 ;;
    --node-cores) NODE_CORES="$2"; shift 2 ;;
    --client-cores) CLIENT_CORES="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --stalled-subscribers) STALLED="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "latency.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$RUNS" in '' | *[!0-9]* | 0) echo "latency.sh: --runs needs a number >= 1" >&2; exit 2 ;; esac
case "$STALLED" in '' | *[!0-9]*) echo "latency.sh: --stalled-subscribers needs a number" >&2; exit 2 ;; esac

PEREGRINE_BIN="${PEREGRINE_BIN:-$ROOT/target/release/peregrine}"
LOADTEST_BIN="${LOADTEST_BIN:-$ROOT/target/release/peregrine-loadtest}"
if [ ! -x "$PEREGRINE_BIN" ] || [ ! -x "$LOADTEST_BIN" ]; then
  echo "[latency] building release binaries"
  cargo build --release --locked -p peregrine-ops -p peregrine-loadtest
fi

# shellcheck source=scripts/lib/bench-node.sh
. "$ROOT/scripts/lib/bench-node.sh"
NODE_FLAGS=(--wal.durability os --dev.accounts 64)
bench_pin "$PINNED" latency.sh
bench_prefixes "$NODE_CORES" "$CLIENT_CORES"

OUT="${OUT:-$ROOT/target/latency/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
PORT=$((20000 + RANDOM % 20000))
echo "[latency] $(nproc) cores; node: ${node_prefix[*]:-unpinned} ${NODE_FLAGS[*]} ${EXTRA[*]:-}"
echo "[latency] client: ${client_prefix[*]:-unpinned}; $RATE TPS for $DURATION after $WARMUP of warm-up, $RUNS runs; $STALLED stalled subscribers; reports in $OUT"

trap bench_cleanup EXIT

for run in $(seq 1 "$RUNS"); do
  bench_start_node "$OUT/node-$run.log"
  echo "== run $run"
  case "$WARMUP" in
    0 | 0s | 0ms) ;;
    *)
      "${client_prefix[@]}" "$LOADTEST_BIN" --rpc "ws://127.0.0.1:$PORT" --mode open \
        --rate "$RATE" --duration "$WARMUP" --send async --accounts 64 \
        --out "$OUT/warmup-$run.json" >"$OUT/warmup-$run.txt" 2>&1 ||
        { echo "[latency] the warm-up run failed:" >&2; cat "$OUT/warmup-$run.txt" >&2; exit 1; }
      ;;
  esac
  "${client_prefix[@]}" "$LOADTEST_BIN" --rpc "ws://127.0.0.1:$PORT" --mode open \
    --rate "$RATE" --duration "$DURATION" --send async --accounts 64 \
    --stalled-subscribers "$STALLED" --out "$OUT/run-$run.json" 2>&1 |
    sed -n '/transactions/,/errors/p;/stalled/p'
  bench_stop_node
done

# The end-to-end latency (submit -> signed preconfirmation received) of each run, from
# its report's `latency_us`, against the goal of issue #3.
echo "== summary (submit -> preconfirmation received; goal p50 <= 150 us, p99 <= 500 us)"
for run in $(seq 1 "$RUNS"); do
  awk -v run="$run" '
    /"latency_us": \{/ { inside = 1 }
    inside && /"p50":/ { gsub(/[^0-9]/, "", $2); p50 = $2 + 0 }
    inside && /"p99":/ { gsub(/[^0-9]/, "", $2); p99 = $2 + 0; inside = 0 }
    END {
      met = (p50 != "" && p99 != "" && p50 <= 150 && p99 <= 500) ? "met" : "missed"
      printf "  run %s: p50 %s us, p99 %s us: %s\n", run, p50, p99, met
    }' "$OUT/run-$run.json"
done | tee "$OUT/summary.txt"
echo "  goal met in $(grep -c ': met$' "$OUT/summary.txt" || true) of $RUNS runs" | tee -a "$OUT/summary.txt"
