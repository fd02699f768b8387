#!/usr/bin/env bash
# Wall time of an unmodified wallet's send-and-wait, Peregrine against anvil (automine) in
# one run, same machine (issue #8's measured goals): `tests/js/realtime.mjs bench`, N
# sequential rounds each of
#   viem   sendTransaction + waitForTransactionReceipt (pollingInterval 5)
#   ethers sendTransaction + wait() (pollingInterval 5, no request cache, no batching stall)
#   cast   send (waits for the receipt)
# Rounds alternate between the nodes (anvil, peregrine, anvil, ...), each on a fresh node.
#
#   ./scripts/realtime-bench.sh [rounds-per-client] [repeats]    # defaults: 50, 2
#
# Needs scripts/install-tools.sh (cast, anvil, viem, ethers) and a release build
# (`cargo build --release --bin peregrine`, or $PEREGRINE_BIN).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-50}"
REPEATS="${2:-2}"
PEREGRINE="${PEREGRINE_BIN:-$ROOT/target/release/peregrine}"
# Extra flags for `peregrine dev` (e.g. "--sequencer.wait park").
PEREGRINE_ARGS="${PEREGRINE_ARGS:-}"
ANVIL="$ROOT/tests/js/node_modules/.bin/anvil"
OUT="$ROOT/target/realtime-bench/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
[ -x "$PEREGRINE" ] || (cd "$ROOT" && cargo build --release --bin peregrine)
[ -x "$ANVIL" ] || { echo "anvil missing: run scripts/install-tools.sh" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ready() {
  for _ in $(seq 1 200); do
    if curl -s -m 1 -H 'content-type: application/json' \
        -d '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$1" | grep -q result; then
      return 0
    fi
    sleep 0.05
  done
  echo "node at $1 did not start" >&2
  return 1
}

run_one() { # name repeat
  local name="$1" rep="$2" port pid dir
  port="$(free_port)"
  dir="$(mktemp -d)"
  if [ "$name" = anvil ]; then
    "$ANVIL" --chain-id 901 --port "$port" --silent >"$dir/log" 2>&1 &
  else
    "$PEREGRINE" dev --datadir "$dir/data" --rpc.addr "127.0.0.1:$port" $PEREGRINE_ARGS \
      --metrics.addr "127.0.0.1:$(free_port)" >"$dir/log" 2>&1 &
  fi
  pid=$!
  wait_ready "http://127.0.0.1:$port"
  (cd "$ROOT/tests/js" && node realtime.mjs bench "http://127.0.0.1:$port" "$N" "$OUT/$name-$rep.json") >/dev/null
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$dir"
}

for rep in $(seq 1 "$REPEATS"); do
  run_one anvil "$rep"
  run_one peregrine "$rep"
done

python3 - "$OUT" "$REPEATS" <<'EOF'
import json, sys
out, reps = sys.argv[1], int(sys.argv[2])
print(f"{'client':8} {'repeat':6} {'anvil p50':>10} {'peregrine p50':>14} {'anvil p99':>10} {'peregrine p99':>14} {'p50 ratio':>10}")
for rep in range(1, reps + 1):
    a = json.load(open(f"{out}/anvil-{rep}.json"))
    p = json.load(open(f"{out}/peregrine-{rep}.json"))
    for client in ("cast", "viem", "ethers"):
        ap, pp = a[client], p[client]
        print(f"{client:8} {rep:6} {ap['p50_ms']:10.2f} {pp['p50_ms']:14.2f} {ap['p99_ms']:10.2f} {pp['p99_ms']:14.2f} {ap['p50_ms'] / pp['p50_ms']:9.2f}x")
print(f"(ms, wall time per send-and-wait; ratio = anvil / peregrine, above 1 = Peregrine faster; reports in {out})")
EOF
