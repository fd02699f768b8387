#!/usr/bin/env bash
# The batcher's numbers (#10): L1 inclusion latency, L1 bytes and gas per L2 transaction,
# and whether it keeps up. Starts anvil (--hardfork prague, --block-time 2), deploys the
# inbox, runs `peregrine dev` (release) with the batcher, loads it with peregrine-loadtest,
# waits until `safe` reaches the head, then reports from the batcher's metrics and from
# L1 (each L2 block's commitment names the L1 block that stored it).
#
#   ./scripts/batcher-bench.sh [--da calldata|blobs|auto] [--rate N] [--duration D]
#                              [--mix eth=50,erc20=50] [--l1-block-time S]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DA=auto RATE=1000 DURATION=20s MIX=eth=50,erc20=50 L1BT=2
while [ $# -gt 0 ]; do
  case "$1" in
    --da) DA="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --mix) MIX="$2"; shift 2 ;;
    --l1-block-time) L1BT="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
BIN="$ROOT/tests/js/node_modules/.bin"
PEREGRINE="${PEREGRINE_BIN:-$ROOT/target/release/peregrine}"
LOADTEST="${LOADTEST_BIN:-$ROOT/target/release/peregrine-loadtest}"
[ -x "$PEREGRINE" ] && [ -x "$LOADTEST" ] || (cd "$ROOT" && cargo build --release -p peregrine-ops -p peregrine-loadtest)
WORK="$(mktemp -d /tmp/peregrine-batcher-bench-XXXX)"
L1PORT=18945 L2PORT=18955 METRICS=18956
cleanup() { kill "${L2PID:-}" "${L1PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
"$BIN/anvil" --port $L1PORT --hardfork prague --block-time "$L1BT" > "$WORK/anvil.log" 2>&1 & L1PID=$!
sleep 2
DEPLOYER=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
BATCHER_KEY=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
BATCHER=0x70997970C51812dc3A010C7d01b50e0d17dc79C8
echo "$BATCHER_KEY" > "$WORK/batcher.key"
CODE=$(cd "$ROOT/tests/js" && node compile.mjs ../../preconf/contracts | python3 -c "import json,sys;print(json.load(sys.stdin)['PeregrineInbox']['bytecode'])")
ARGS=$("$BIN/cast" abi-encode 'c(address)' $BATCHER)
INBOX=$("$BIN/cast" send --rpc-url http://127.0.0.1:$L1PORT --private-key $DEPLOYER --json --create "${CODE}${ARGS:2}" | python3 -c "import json,sys;print(json.load(sys.stdin)['contractAddress'])")
"$PEREGRINE" dev --datadir "$WORK/l2" --dev.accounts 1024 --wal.durability os \
  --rpc.addr 127.0.0.1:$L2PORT --metrics.addr 127.0.0.1:$METRICS \
  --l1.rpc http://127.0.0.1:$L1PORT --batcher.key "$WORK/batcher.key" --batcher.inbox "$INBOX" \
  --batcher.da "$DA" > "$WORK/l2.log" 2>&1 & L2PID=$!
sleep 2
"$LOADTEST" --rpc ws://127.0.0.1:$L2PORT --rate "$RATE" --duration "$DURATION" --accounts 1024 \
  --mix "$MIX" --out "$WORK/load.json" > "$WORK/load.txt" 2>&1
END=$(date +%s.%N)
SEL=$("$BIN/cast" sig 'commitment(uint64)')
python3 - "$WORK" "$L1PORT" "$L2PORT" "$METRICS" "$INBOX" "$END" "$SEL" "$DA" "$RATE" "$MIX" "$L1BT" <<'PY'
import json, sys, time, urllib.request
work, l1p, l2p, mp, inbox, end, sel, da, rate, mix, l1bt = sys.argv[1:12]
def rpc(port, method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}", body, {"content-type": "application/json"})
    return json.load(urllib.request.urlopen(req))["result"]
def num(x): return int(x, 16)
head = num(rpc(l2p, "eth_getBlockByNumber", ["latest", False])["number"])
t0 = time.time()
while num(rpc(l2p, "eth_getBlockByNumber", ["safe", False])["number"]) < head:
    if time.time() - t0 > 300:
        sys.exit("safe did not reach the head in 300 s")
    time.sleep(0.25)
drain = time.time() - float(end)
metrics = urllib.request.urlopen(f"http://127.0.0.1:{mp}/metrics").read().decode()
def m(name):
    return sum(float(l.split()[-1]) for l in metrics.splitlines()
               if l.startswith(name) and not l.startswith("#"))
l2txs = m("peregrine_batcher_l2_txs_total")
load = json.load(open(f"{work}/load.json"))
l1_times = {}
def l1_time(n):
    if n not in l1_times:
        l1_times[n] = num(rpc(l1p, "eth_getBlockByNumber", [hex(n), False])["timestamp"])
    return l1_times[n]
l1_head = num(rpc(l1p, "eth_blockNumber", []))
delays = []
for n in range(1, head + 1):
    b = rpc(l2p, "eth_getBlockByNumber", [hex(n), False])
    if not b["transactions"]:
        continue
    ts = num(b["timestamp"])
    out = rpc(l1p, "eth_call", [{"to": inbox, "input": sel + format(n, "064x")}, "latest"])
    stored = int(out[2 + 192: 2 + 256], 16)  # commitment(): root, count, firstMiniBlock, l1Block
    # The newest L1 block at or before the L2 block's timestamp.
    at = max((k for k in range(stored, -1, -1) if l1_time(k) <= ts), default=0)
    delays.append(stored - at)
delays.sort()
pct = lambda p: delays[min(len(delays) - 1, int(p * len(delays)))] if delays else None
report = {
    "da": da, "rate": rate, "mix": mix, "l1_block_time_s": int(l1bt),
    "l2_txs_posted": int(l2txs), "loadtest_completed": load["completed"], "loadtest_errors": load["errors"],
    "achieved_tps": load["throughput_tps"],
    "l1_bytes_per_tx": round((m("peregrine_batcher_l1_bytes_total") + m("peregrine_batcher_commitment_bytes_total")) / max(l2txs, 1), 1),
    "data_bytes_per_tx": round(m("peregrine_batcher_l1_bytes_total") / max(l2txs, 1), 1),
    "commitment_bytes_per_tx": round(m("peregrine_batcher_commitment_bytes_total") / max(l2txs, 1), 1),
    "l1_gas_per_tx": round(m("peregrine_batcher_l1_gas_total") / max(l2txs, 1), 1),
    "channels": {k: int(m(f'peregrine_batcher_channels_total{{da="{k}"}}')) for k in ("calldata", "blobs")},
    "l1_txs": int(m("peregrine_batcher_l1_txs_total")),
    "inclusion_l1_blocks": {"blocks": len(delays), "p50": pct(0.5), "p90": pct(0.9), "max": delays[-1] if delays else None,
                             "within_2": sum(1 for d in delays if d <= 2)},
    "safe_reached_head_after_load_s": round(drain, 1),
}
print(json.dumps(report, indent=1))
PY
echo "logs: $WORK"
