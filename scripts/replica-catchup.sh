#!/usr/bin/env bash
# The replica catch-up goal of issue #9: a sequencer (`peregrine dev`, release) is loaded
# with RATE tx/s of ETH and ERC-20 transfers for DURATION, then a fresh `peregrine replica`
# is started against it and timed until its head is the sequencer's head at the end of
# the load. Prints one JSON line: transactions, mini-blocks, blocks, seconds, tx/s.
#
#   ./scripts/replica-catchup.sh [--rate 5000] [--duration 20s]
#
# PEREGRINE_BIN / LOADTEST_BIN pick other binaries (e.g. an older build, to compare).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RATE=5000 DURATION=20s
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
PEREGRINE="${PEREGRINE_BIN:-$ROOT/target/release/peregrine}"
LOADTEST="${LOADTEST_BIN:-$ROOT/target/release/peregrine-loadtest}"
[ -x "$PEREGRINE" ] && [ -x "$LOADTEST" ] || (cd "$ROOT" && cargo build --release -p peregrine-ops -p peregrine-loadtest)
WORK="$(mktemp -d /tmp/peregrine-catchup-XXXX)"
SEQ_PORT=18701 REP_PORT=18703
cleanup() { kill "${REP:-}" "${SEQ:-}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
rpc() {
  curl -s -X POST -H 'content-type: application/json' \
    --data "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"$2\",\"params\":$3}" "http://127.0.0.1:$1" |
    python3 -c "import json,sys; r=json.load(sys.stdin).get('result'); print(int(r,16) if isinstance(r,str) and r.startswith('0x') and len(r)<20 else r)" 2>/dev/null
}
"$PEREGRINE" dev --datadir "$WORK/seq" --dev.accounts 64 --wal.durability os \
  --rpc.addr 127.0.0.1:$SEQ_PORT --metrics.addr 127.0.0.1:18702 > "$WORK/seq.log" 2>&1 & SEQ=$!
sleep 2
"$LOADTEST" --rpc ws://127.0.0.1:$SEQ_PORT --rate "$RATE" --duration "$DURATION" --accounts 64 \
  --mix eth=50,erc20=50 > "$WORK/load.txt" 2>&1
sleep 2
HEAD=$(rpc $SEQ_PORT eth_blockNumber '[]')
ADDRESS=$(rpc $SEQ_PORT preconf_sequencer '[]')
START=$(date +%s.%N)
"$PEREGRINE" replica --sequencer ws://127.0.0.1:$SEQ_PORT --sequencer.address "$ADDRESS" --dev.accounts 64 \
  --datadir "$WORK/replica" --rpc.addr 127.0.0.1:$REP_PORT --metrics.addr 127.0.0.1:18704 \
  > "$WORK/replica.log" 2>&1 & REP=$!
for _ in $(seq 1 3000); do
  kill -0 $REP 2>/dev/null || { echo "the replica exited: $WORK/replica.log" >&2; exit 1; }
  N=$(rpc $REP_PORT eth_blockNumber '[]' 2>/dev/null || echo -1)
  [ "${N:--1}" != "None" ] && [ "${N:--1}" -ge "$HEAD" ] 2>/dev/null && break
  sleep 0.05
done
END=$(date +%s.%N)
python3 - "$WORK" "$SEQ_PORT" "$HEAD" "$START" "$END" <<'PY'
import json, sys, urllib.request
work, port, head, start, end = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
def rpc(method, params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}", body, {"content-type": "application/json"})
    return json.load(urllib.request.urlopen(req))["result"]
txs = sum(len(rpc("eth_getBlockByNumber", [hex(n), False])["transactions"]) for n in range(head + 1))
metrics = urllib.request.urlopen("http://127.0.0.1:18704/metrics").read().decode()
mini = next((int(float(l.split()[-1])) for l in metrics.splitlines() if l.startswith("peregrine_replica_next_mini_block")), None)
seconds = end - start
print(json.dumps({
    "blocks": head + 1,
    "transactions": txs,
    "mini_blocks_applied": mini,
    "seconds": round(seconds, 2),
    "tx_per_s": round(txs / seconds),
}))
PY
echo "logs: $WORK" >&2
