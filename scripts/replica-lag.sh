#!/usr/bin/env bash
# The replica lag goal of issue #9: a sequencer (`peregrine dev`, release) and a replica of
# it, loaded with RATE tx/s of ETH and ERC-20 transfers for 10 s by peregrine-loadtest,
# which subscribes to `miniBlocks` on both and reports how long each mini-block took from
# the sequencer's feed to the replica's (its `replica lag` line).
#
#   ./scripts/replica-lag.sh [--rate 5000]
#
# PEREGRINE_BIN / LOADTEST_BIN pick other binaries (e.g. an older build, to compare).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RATE=5000
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
PEREGRINE="${PEREGRINE_BIN:-$ROOT/target/release/peregrine}"
LOADTEST="${LOADTEST_BIN:-$ROOT/target/release/peregrine-loadtest}"
[ -x "$PEREGRINE" ] && [ -x "$LOADTEST" ] || (cd "$ROOT" && cargo build --release -p peregrine-ops -p peregrine-loadtest)
WORK="$(mktemp -d /tmp/peregrine-lag-XXXX)"
cleanup() { kill "${REP:-}" "${SEQ:-}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT
"$PEREGRINE" dev --datadir "$WORK/seq" --dev.accounts 64 --wal.durability os \
  --rpc.addr 127.0.0.1:18801 --metrics.addr 127.0.0.1:18802 > "$WORK/seq.log" 2>&1 & SEQ=$!
sleep 2
ADDRESS=$(curl -s -X POST -H 'content-type: application/json' \
  --data '{"jsonrpc":"2.0","id":1,"method":"preconf_sequencer","params":[]}' http://127.0.0.1:18801 |
  python3 -c "import json,sys; print(json.load(sys.stdin)['result'])")
"$PEREGRINE" replica --sequencer ws://127.0.0.1:18801 --sequencer.address "$ADDRESS" --dev.accounts 64 \
  --datadir "$WORK/replica" --rpc.addr 127.0.0.1:18803 --metrics.addr 127.0.0.1:18804 \
  > "$WORK/replica.log" 2>&1 & REP=$!
sleep 2
"$LOADTEST" --rpc ws://127.0.0.1:18801 --replica ws://127.0.0.1:18803 --rate "$RATE" --duration 10s \
  --accounts 64 --mix eth=50,erc20=50 > "$WORK/load.txt" 2>&1
curl -s http://127.0.0.1:18804/metrics > "$WORK/replica.metrics" || true
curl -s http://127.0.0.1:18802/metrics > "$WORK/seq.metrics" || true
grep -E "throughput|replica lag" "$WORK/load.txt"
echo "logs: $WORK" >&2
