#!/usr/bin/env bash
# The throughput goals of issue #12 in one command: the physical ceiling (sender recovery
# alone on every core the node gets), then, each on a fresh `peregrine dev` (default
# `fsync` durability, 1 024 funded accounts):
#
#   open      open loop at --rate (30 000) tx/s of ETH transfers, --send async
#             goal: achieved >= 98.3 % of the rate (29 500 of 30 000), p99 <= 2 ms,
#             0 errors, every receipt found
#   mixed     open loop at --mixed-rate (20 000) tx/s, --mix eth=50,erc20=50
#             goal: the same
#   saturate  closed loop, 256 in flight, ETH transfers (no goal of its own: the ratio
#             to anvil is `peregrine-loadtest compare`'s)
#
# It prints each run's achieved rate, p50 / p99 and errors, and the achieved rate as a
# share of the recovery ceiling; it keeps each run's JSON report and the node's log.
#
#   ./scripts/throughput.sh                    # unpinned, this machine's cores
#   ./scripts/throughput.sh --pinned 2,3 --node-cores 4-12 --client-cores 13-15
#                                              # the 16-core set-up of the model in
#                                              # docs/benchmarks.md (session 19): loop and
#                                              # log thread on cores of their own,
#                                              # busy-spinning; RPC, chain and io on 4-12;
#                                              # the load generator on 13-15
#
# Options:
#   --pinned LOOP,LOG   pin the sequencer loop and the log thread to these cores and make
#                       both busy-spin (only where two cores can be given up to them)
#   --node-cores LIST   run the node's other threads on these cores (taskset -c LIST); the
#                       ceiling is measured on as many threads as LIST has cores
#   --client-cores LIST run the load generator on these cores (taskset -c LIST)
#   --rate N            the transfers' open-loop rate (default 30000)
#   --mixed-rate N      the mix's open-loop rate (default 20000)
#   --duration D        per run (default 10s)
#   --only LIST         run only these of open,mixed,saturate,ceiling (default all)
#   --out DIR           reports go here (default target/throughput/<time>)
#   -- ARGS             anything after `--` goes to `peregrine dev`
#
# Binaries: $PEREGRINE_BIN, $LOADTEST_BIN and $CEILING_BIN, else target/release/
# {peregrine, peregrine-loadtest, examples/recovery_ceiling}, built when missing. On a
# machine without cargo (the lent 16-core one), stripped copies, carried in target/device:
#   mkdir -p target/device
#   strip -o target/device/peregrine target/release/peregrine
#   strip -o target/device/peregrine-loadtest target/release/peregrine-loadtest
#   strip -o target/device/recovery_ceiling target/release/examples/recovery_ceiling
#   PEREGRINE_BIN=target/device/peregrine LOADTEST_BIN=target/device/peregrine-loadtest \
#     CEILING_BIN=target/device/recovery_ceiling scripts/throughput.sh ... --out "$OUT"
# Exits 0 whether the goals are met or not (it measures, it does not judge); 1 when a node
# does not start or a run fails outright. Needs bash, awk, and taskset for the core options.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PINNED="" NODE_CORES="" CLIENT_CORES="" RATE=30000 MIXED_RATE=20000 DURATION=10s OUT=""
ONLY="open,mixed,saturate,ceiling" EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --pinned) PINNED="$2"; shift 2 ;;
    --node-cores) NODE_CORES="$2"; shift 2 ;;
    --client-cores) CLIENT_CORES="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --mixed-rate) MIXED_RATE="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "throughput.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for n in "$RATE" "$MIXED_RATE"; do
  case "$n" in '' | *[!0-9]* | 0) echo "throughput.sh: a rate needs a number >= 1" >&2; exit 2 ;; esac
done
for w in ${ONLY//,/ }; do
  case "$w" in open | mixed | saturate | ceiling) ;;
    *) echo "throughput.sh: --only knows open, mixed, saturate and ceiling, not $w" >&2; exit 2 ;;
  esac
done
wants() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

PEREGRINE_BIN="${PEREGRINE_BIN:-$ROOT/target/release/peregrine}"
LOADTEST_BIN="${LOADTEST_BIN:-$ROOT/target/release/peregrine-loadtest}"
CEILING_BIN="${CEILING_BIN:-$ROOT/target/release/examples/recovery_ceiling}"
if [ ! -x "$PEREGRINE_BIN" ] || [ ! -x "$LOADTEST_BIN" ]; then
  echo "[throughput] building release binaries"
  cargo build --release --locked -p peregrine-ops -p peregrine-loadtest
fi
if wants ceiling && [ ! -x "$CEILING_BIN" ]; then
  echo "[throughput] building the recovery ceiling"
  cargo build --release --locked -p peregrine-sequencer --example recovery_ceiling
fi

# shellcheck source=scripts/lib/bench-node.sh
. "$ROOT/scripts/lib/bench-node.sh"
NODE_FLAGS=(--dev.accounts 1024)
bench_pin "$PINNED" throughput.sh
bench_prefixes "$NODE_CORES" "$CLIENT_CORES"
# The cores recovery can use: those of --node-cores, else all of this machine's.
if [ -n "$NODE_CORES" ]; then
  RECOVERY_THREADS=$(taskset -c "$NODE_CORES" nproc)
else
  RECOVERY_THREADS=$(nproc)
fi

OUT="${OUT:-$ROOT/target/throughput/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
PORT=$((20000 + RANDOM % 20000))
echo "[throughput] $(nproc) cores; node: ${node_prefix[*]:-unpinned} ${NODE_FLAGS[*]} ${EXTRA[*]:-}"
echo "[throughput] client: ${client_prefix[*]:-unpinned}; $DURATION a run; reports in $OUT"

CEILING=""
if wants ceiling; then
  echo "== ceiling: sender recovery alone on $RECOVERY_THREADS threads"
  "${node_prefix[@]}" "$CEILING_BIN" "$RECOVERY_THREADS" 5 | tee "$OUT/ceiling.txt"
  CEILING=$(awk '/transactions\/s with nothing but sender recovery/ { print $3 }' "$OUT/ceiling.txt")
fi

trap bench_cleanup EXIT

# run NAME LOADTEST-ARGS...: a fresh node, one load-generator run, the report in NAME.json.
run() {
  local name="$1"; shift
  bench_start_node "$OUT/node-$name.log"
  echo "== $name: $*"
  if ! "${client_prefix[@]}" "$LOADTEST_BIN" --rpc "ws://127.0.0.1:$PORT" --duration "$DURATION" \
    --send async --accounts 1024 --no-progress --out "$OUT/$name.json" "$@" >"$OUT/$name.txt" 2>&1; then
    echo "[throughput] the $name run failed:" >&2
    cat "$OUT/$name.txt" >&2
    exit 1
  fi
  bench_stop_node
}

wants open && run open --mode open --rate "$RATE"
wants mixed && run mixed --mode open --rate "$MIXED_RATE" --mix eth=50,erc20=50
wants saturate && run saturate --mode closed --concurrency 256

# One line a run from its report: achieved rate, latency (from the intended send time),
# errors and missing receipts, against the goal where the run has one.
summary() {
  local name="$1" rate="$2"
  awk -v name="$name" -v rate="$rate" -v ceiling="$CEILING" '
    /^  "throughput_tps":/ { gsub(/[^0-9.]/, "", $2); tps = $2 + 0 }
    /^  "errors":/ { gsub(/[^0-9]/, "", $2); errors = $2 + 0 }
    /^  "latency_us": \{/ { inside = 1 }
    inside && /"p50":/ { gsub(/[^0-9]/, "", $2); p50 = $2 + 0 }
    inside && /"p99":/ { gsub(/[^0-9]/, "", $2); p99 = $2 + 0; inside = 0 }
    /^  "receipts": \{/ { receipts = 1 }
    receipts && /"missing":/ { gsub(/[^0-9]/, "", $2); missing = $2 + 0; receipts = 0 }
    END {
      line = sprintf("  %-8s %8.0f tx/s, p50 %s us, p99 %s us, %d errors, %d receipts missing",
        name, tps, p50, p99, errors, missing)
      if (ceiling != "") line = line sprintf(", %.0f %% of the recovery ceiling", 100 * tps / ceiling)
      if (rate != "") {
        met = (tps >= rate * 29500 / 30000 && p99 <= 2000 && errors == 0 && missing == 0)
        line = line sprintf(": goal (%d tx/s, p99 <= 2 ms) %s", rate, met ? "met" : "missed")
      }
      print line
    }' "$OUT/$name.json"
}
echo "== summary"
{
  [ -n "$CEILING" ] && echo "  ceiling  $CEILING tx/s: sender recovery alone on $RECOVERY_THREADS threads"
  wants open && summary open "$RATE"
  wants mixed && summary mixed "$MIXED_RATE"
  wants saturate && summary saturate ""
  true
} | tee "$OUT/summary.txt"
