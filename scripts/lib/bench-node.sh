# Shared by scripts/latency.sh and scripts/throughput.sh (sourced, not run): the core
# options, and a fresh `peregrine dev` per run on loopback ports.
#
# The caller sets PEREGRINE_BIN, NODE_FLAGS (an array), EXTRA (an array: what follows
# `--`), PORT and OUT, and calls, in this order:
#   bench_pin "$PINNED" "$NAME"        # --pinned LOOP,LOG: pins and busy-spins the loop
#                                      # and the log thread (adds to NODE_FLAGS)
#   bench_prefixes "$NODE_CORES" "$CLIENT_CORES"
#                                      # sets node_prefix and client_prefix (taskset)
#   trap bench_cleanup EXIT
#   bench_start_node LOG               # a fresh datadir, the node started and serving
#                                      # (NODE_PID, DATADIR); exits 1 with its log if not
#   bench_stop_node                    # stops it and removes its datadir

bench_pin() {
  local pinned="$1" name="$2"
  [ -n "$pinned" ] || return 0
  local loop="${pinned%%,*}" log="${pinned##*,}"
  if [ -z "$loop" ] || [ "$loop" = "$pinned" ]; then
    echo "$name: --pinned wants LOOP,LOG (two core numbers)" >&2; exit 2
  fi
  NODE_FLAGS+=(--sequencer.core "$loop" --wal.core "$log"
    --sequencer.wait busy-spin --wal.wait busy-spin)
}

bench_prefixes() {
  node_prefix=() client_prefix=()
  if [ -n "$1" ]; then node_prefix=(taskset -c "$1"); fi
  if [ -n "$2" ]; then client_prefix=(taskset -c "$2"); fi
}

NODE_PID=""
DATADIR=""

bench_stop_node() {
  if [ -n "$NODE_PID" ]; then kill -TERM "$NODE_PID" 2>/dev/null || true; wait "$NODE_PID" 2>/dev/null || true; fi
  NODE_PID=""
  if [ -n "$DATADIR" ]; then rm -rf "$DATADIR"; fi
  DATADIR=""
}

bench_cleanup() {
  bench_stop_node
}

bench_start_node() {
  local log="$1"
  DATADIR="$(mktemp -d)"
  "${node_prefix[@]}" "$PEREGRINE_BIN" dev --datadir "$DATADIR" \
    --rpc.addr "127.0.0.1:$PORT" --metrics.addr "127.0.0.1:$((PORT + 1))" \
    "${NODE_FLAGS[@]}" "${EXTRA[@]}" >"$log" 2>&1 &
  NODE_PID=$!
  local up=""
  for _ in $(seq 1 100); do
    if ! kill -0 "$NODE_PID" 2>/dev/null; then break; fi
    # The RPC port accepts connections once the node serves (bash's /dev/tcp: no curl needed).
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
      up=1; break
    fi
    sleep 0.1
  done
  if [ -z "$up" ]; then
    echo "the node did not start; its log:" >&2
    cat "$log" >&2
    exit 1
  fi
}
