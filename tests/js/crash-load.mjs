// Load for the crash test (tests/tests/e2e/crash.rs): signed transfers over ONE persistent
// WebSocket, recording every preconfirmation the client receives, until the node dies.
//
//   node crash-load.mjs <ws-url> <out-file> <max-txs> [senders]
//
// - `senders` dev accounts (default 6, at most 8: accounts 8 and 9 are left to the test)
//   each keep one `eth_sendRawTransactionSync` (EIP-7966) in flight on the same socket, so
//   several transactions are always being ordered, executed and signed at once: a kill lands
//   while mini-blocks are in flight.
// - A `preconfirmations` subscription on the same socket receives every preconfirmation too,
//   often before the sync answer.
// - Every preconfirmation received (from either source) is appended to <out-file> at once,
//   as one JSON line, with a write(2) per line, so the lines survive the script being
//   interrupted:
//     {"src":"sync"|"sub","hash":"0x…","preconfirmation":{…},"receipt":{…}|null,"atMs":n}
//   `receipt` is the sync answer without its `preconfirmation` field (null for "sub").
// - When the socket closes (the node was killed) the script exits 0. It stops by itself after
//   <max-txs> transactions or 30 s, whichever comes first (then it also exits 0).
//
// Prints progress on stderr and one `RESULT <json>` line on stdout (counts).
import { closeSync, openSync, writeSync } from "node:fs";
import WebSocket from "ws";
import { keccak256, parseGwei } from "viem";
import { mnemonicToAccount } from "viem/accounts";

const MNEMONIC = "test test test test test test test test test test test junk";
const CHAIN_ID = 901;
const MAX_SENDERS = 8;
const MAX_RUN_MS = 30_000;
/** Where the transfers go. */
const SINK = "0x000000000000000000000000000000000000dEaD";

const t0 = Date.now();
const log = (...a) => console.error(`[crash-load +${Date.now() - t0}ms]`, ...a);

const [wsUrl, outFile, maxTxsArg, sendersArg] = process.argv.slice(2);
if (!wsUrl || !outFile || !maxTxsArg) {
  console.error("usage: node crash-load.mjs <ws-url> <out-file> <max-txs> [senders]");
  process.exit(2);
}
const maxTxs = Number(maxTxsArg);
const nSenders = Math.min(MAX_SENDERS, Math.max(1, Number(sendersArg ?? 6)));

const out = openSync(outFile, "a");
const counts = { sent: 0, sync: 0, sub: 0, errors: 0 };
let closed = false;
let closeCode = null;
let stopping = false;

/** Appends one record as one line (one write(2): survives the script being killed). */
function record(src, preconfirmation, receipt) {
  const hash = preconfirmation?.transaction?.hash ?? receipt?.transactionHash;
  const line = JSON.stringify({ src, hash, preconfirmation, receipt, atMs: Date.now() - t0 }) + "\n";
  writeSync(out, line);
  counts[src]++;
}

function finish(why) {
  if (finish.done) return;
  finish.done = true;
  try {
    closeSync(out);
  } catch {}
  log(`done (${why}): ${JSON.stringify(counts)}`);
  process.stdout.write(`RESULT ${JSON.stringify({ why, closeCode, ...counts })}\n`);
  process.exit(0);
}

// ------------------------------------------------------------------ the socket

const ws = new WebSocket(wsUrl, { perMessageDeflate: false });
let nextId = 1;
const pending = new Map(); // id -> {resolve}
let subId = null;

ws.on("error", (e) => log(`socket error: ${e.message}`));
ws.on("close", (code) => {
  closed = true;
  closeCode = code;
  for (const p of pending.values()) p.resolve({ error: { code: -1, message: "connection closed" } });
  pending.clear();
  finish(stopping ? "stopped" : "socket closed");
});
ws.on("message", (data) => {
  let msg;
  try {
    msg = JSON.parse(data.toString());
  } catch (e) {
    log(`unparsable message: ${e.message}`);
    return;
  }
  if (msg.method === "eth_subscription") {
    const { result, error } = msg.params ?? {};
    if (error !== undefined) {
      log(`subscription error: ${JSON.stringify(error)}`);
      counts.errors++;
      return;
    }
    if (result) {
      const { transactionHash, ...preconf } = result;
      record("sub", preconf, null);
    }
    return;
  }
  const p = pending.get(msg.id);
  if (p) {
    pending.delete(msg.id);
    p.resolve(msg);
  }
});

/** One request on the socket; resolves with the whole response ({result} or {error}). */
function send(method, params) {
  if (closed) return Promise.resolve({ error: { code: -1, message: "connection closed" } });
  const id = nextId++;
  const p = new Promise((resolve) => pending.set(id, { resolve }));
  ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
  return p;
}

async function call(method, params) {
  const r = await send(method, params);
  if (r.error) throw new Error(`${method}: ${r.error.code} ${r.error.message}`);
  return r.result;
}

// ------------------------------------------------------------------ the load

async function sender(account) {
  let nonce = Number(BigInt(await call("eth_getTransactionCount", [account.address, "pending"])));
  while (!closed && !stopping) {
    if (counts.sent >= maxTxs) {
      stopping = true;
      break;
    }
    const raw = await account.signTransaction({
      chainId: CHAIN_ID,
      type: "eip1559",
      to: SINK,
      value: BigInt(1 + (nonce % 1000)),
      gas: 21_000n,
      nonce,
      maxFeePerGas: parseGwei("1"),
      maxPriorityFeePerGas: parseGwei("0.001"),
    });
    const hash = keccak256(raw);
    counts.sent++;
    const r = await send("eth_sendRawTransactionSync", [raw, 30_000]);
    if (r.result) {
      const { preconfirmation, ...receipt } = r.result;
      if (!preconfirmation) {
        log(`sync receipt of ${hash} without preconfirmation: ${JSON.stringify(r.result)}`);
        counts.errors++;
      } else {
        record("sync", preconfirmation, receipt);
      }
      nonce++;
    } else if (closed) {
      break;
    } else if (r.error?.code === 4) {
      // Not preconfirmed in time; it may still be included: go on with the next nonce.
      log(`${account.address} nonce ${nonce}: ${r.error.message}`);
      counts.errors++;
      nonce++;
    } else {
      log(`${account.address} nonce ${nonce}: ${JSON.stringify(r.error)}; sender stops`);
      counts.errors++;
      return;
    }
  }
}

ws.once("open", async () => {
  try {
    subId = await call("eth_subscribe", ["preconfirmations"]);
    log(`subscribed (${subId}); ${nSenders} senders, at most ${maxTxs} transactions`);
    setTimeout(() => {
      stopping = true;
      log("time is up");
    }, MAX_RUN_MS).unref();
    const accounts = Array.from({ length: nSenders }, (_, i) => mnemonicToAccount(MNEMONIC, { addressIndex: i }));
    await Promise.all(accounts.map((a) => sender(a)));
    if (closed) return; // `close` finishes
    // Let the subscription deliver the last preconfirmations, then close cleanly.
    stopping = true;
    await new Promise((r) => setTimeout(r, 300));
    ws.close();
    setTimeout(() => finish("stopped"), 2000).unref();
  } catch (e) {
    if (closed) return;
    log(`failed: ${e.stack ?? e}`);
    counts.errors++;
    stopping = true;
    ws.close();
    setTimeout(() => finish("error"), 2000).unref();
  }
});
