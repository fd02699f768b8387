// Pipelining senders, as bots, market makers and batch scripts send: pre-signed
// transfers written to WebSocket connections back to back, without waiting for any
// answer, then every answer and every transaction's fate checked.
//
//   node pipeline.mjs <http-url> <ws-url> <mode> <accounts> <per-account> [<dev-accounts>]
//
// Modes:
//   one-connection  every account's transfers interleaved on ONE connection: round k
//                   sends nonce k of account 0, 1, ... (the order of the wire is the
//                   order the chain must show)
//   per-sender      one connection per account, each pipelining its own nonces
//   batch           one HTTP JSON-RPC batch per account round (up to 1000 calls each)
//
// Accounts: the ten test-mnemonic accounts, then the node's `--dev.accounts` keys
// (keccak256("peregrine.dev.account" ‖ u64be(i))), so `<accounts>` above 10 needs a
// node started with `--dev.accounts <accounts - 10>` or more.
//
// Checks: every send answered with the transaction's hash (0 errors); every account's
// pending nonce reaches <per-account>; for one-connection and batch, the chain holds the
// transactions in the exact order they were written (block number, then index). Prints
// `RESULT <json>` with the counts and timings (signing, sending, all executed).
import WebSocket from "ws";
import { concat, keccak256, numberToHex, parseGwei, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { CHAIN_ID, DEV_KEYS, rpc, rpcBatch, show, sleep } from "./preconf-lib.mjs";

const [httpUrl, wsUrl, mode, accountsArg, perAccountArg] = process.argv.slice(2);
if (!["one-connection", "per-sender", "batch"].includes(mode)) {
  console.error("usage: node pipeline.mjs <http-url> <ws-url> one-connection|per-sender|batch <accounts> <per-account>");
  process.exit(2);
}
const ACCOUNTS = Number(accountsArg);
const PER_ACCOUNT = Number(perAccountArg);
const TO = "0x000000000000000000000000000000000000dEaD";

function devKey(i) {
  const tag = toHex(new TextEncoder().encode("peregrine.dev.account"));
  return keccak256(concat([tag, numberToHex(BigInt(i), { size: 8 })]));
}

const keys = Array.from({ length: ACCOUNTS }, (_, i) => (i < DEV_KEYS.length ? DEV_KEYS[i] : devKey(i - DEV_KEYS.length)));
const accounts = keys.map((k) => privateKeyToAccount(k));

// Every check is recorded, so that the RESULT line shows the numbers even on failure.
const checks = {
  count: 0,
  failed: [],
  ok(cond, msg) {
    this.count++;
    if (!cond) this.failed.push(msg);
  },
};
const t0 = performance.now();
// In batches: a thousand parallel requests would be a thousand connections, over the
// node's per-address bound.
const firstNonce = [];
for (let i = 0; i < accounts.length; i += 500) {
  const out = await rpcBatch(httpUrl, accounts.slice(i, i + 500).map((a) => ["eth_getTransactionCount", [a.address, "pending"]]));
  firstNonce.push(...out.map((r) => Number(BigInt(r.result))));
}

// Sign everything first: the send itself must be a burst.
const signed = accounts.map(() => []);
for (let k = 0; k < PER_ACCOUNT; k++) {
  for (let a = 0; a < ACCOUNTS; a++) {
    const raw = await accounts[a].signTransaction({
      chainId: CHAIN_ID,
      type: "eip1559",
      to: TO,
      value: 1n,
      gas: 21_000n,
      nonce: firstNonce[a] + k,
      maxFeePerGas: parseGwei("1"),
      maxPriorityFeePerGas: parseGwei("0.001"),
    });
    signed[a].push({ raw, hash: keccak256(raw) });
  }
}
const signMs = performance.now() - t0;

/** Opens a WebSocket; resolves once open. */
function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 15_000 });
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

/**
 * Writes every raw transaction of `list` to one connection back to back, then resolves
 * with the answers, by position.
 */
function pipeline(ws, list, idBase) {
  return new Promise((resolve, reject) => {
    const answers = new Array(list.length);
    let left = list.length;
    const timer = setTimeout(() => reject(new Error(`${left} of ${list.length} answers missing after 60 s`)), 60_000);
    ws.on("message", (data) => {
      const msg = JSON.parse(data.toString());
      const i = msg.id - idBase;
      if (i < 0 || i >= list.length || answers[i] !== undefined) return;
      answers[i] = msg;
      if (--left === 0) {
        clearTimeout(timer);
        resolve(answers);
      }
    });
    for (let i = 0; i < list.length; i++) {
      ws.send(JSON.stringify({ jsonrpc: "2.0", id: idBase + i, method: "eth_sendRawTransaction", params: [list[i].raw] }));
    }
  });
}

// The wire order: round k, account 0..N-1.
const wire = [];
for (let k = 0; k < PER_ACCOUNT; k++) for (let a = 0; a < ACCOUNTS; a++) wire.push(signed[a][k]);

const startBlock = Number(BigInt(await rpc(httpUrl, "eth_blockNumber")));
const sendStart = performance.now();
let answers = [];
let connections = 0;
if (mode === "one-connection") {
  const ws = await open(wsUrl);
  connections = 1;
  answers = await pipeline(ws, wire, 1);
  ws.close();
} else if (mode === "per-sender") {
  const sockets = await Promise.all(accounts.map(() => open(wsUrl)));
  connections = sockets.length;
  const per = await Promise.all(sockets.map((ws, a) => pipeline(ws, signed[a], 1)));
  answers = per.flat();
  sockets.forEach((ws) => ws.close());
  wire.length = 0;
  signed.forEach((list) => wire.push(...list));
} else {
  for (let i = 0; i < wire.length; i += 1000) {
    const chunk = wire.slice(i, i + 1000);
    const out = await rpcBatch(httpUrl, chunk.map((t) => ["eth_sendRawTransaction", [t.raw]]));
    answers.push(...out.map((r) => (r.error ? { error: r.error } : { result: r.result })));
  }
}
const sentMs = performance.now() - sendStart;

let errors = 0;
let wrongHash = 0;
let exampleError = null;
answers.forEach((msg, i) => {
  if (msg.error) {
    errors++;
    exampleError ??= msg.error;
  } else if (String(msg.result).toLowerCase() !== wire[i].hash) {
    wrongHash++;
  }
});
checks.ok(errors === 0, `every send answered without error (${errors} errors, e.g. ${show(exampleError)})`);
checks.ok(wrongHash === 0, `every answer is the transaction's hash (${wrongHash} differ)`);

// Every account's pending nonce reaches its last transaction.
const deadline = performance.now() + 30_000;
let executedMs = null;
let behind = [];
while (performance.now() < deadline) {
  const nonces = [];
  for (let i = 0; i < accounts.length; i += 500) {
    nonces.push(...(await rpcBatch(httpUrl, accounts.slice(i, i + 500).map((a) => ["eth_getTransactionCount", [a.address, "pending"]]))));
  }
  behind = nonces
    .map((r, a) => ({ a, got: Number(BigInt(r.result)) - firstNonce[a] }))
    .filter(({ got }) => got < PER_ACCOUNT);
  if (behind.length === 0) {
    executedMs = performance.now() - sendStart;
    break;
  }
  await sleep(5);
}
checks.ok(executedMs !== null, `every transaction executed (${behind.length} accounts behind, e.g. ${show(behind.slice(0, 3))})`);

let dropped = 0;
let outOfOrder = 0;
if (executedMs !== null) {
  // Where each transaction landed, from the sealed blocks' transaction lists (a
  // transaction of the open block has no position yet). In wire order the positions
  // must rise.
  const where = new Map();
  let scanned = startBlock;
  const sealDeadline = performance.now() + 30_000;
  while (where.size < wire.length && performance.now() < sealDeadline) {
    const head = Number(BigInt(await rpc(httpUrl, "eth_blockNumber")));
    for (let n = scanned + 1; n <= head; n++) {
      const block = await rpc(httpUrl, "eth_getBlockByNumber", [numberToHex(n), false]);
      block.transactions.forEach((h, i) => where.set(h.toLowerCase(), [n, i]));
    }
    scanned = Math.max(scanned, head);
    if (where.size < wire.length) await sleep(100);
  }
  const positions = wire.map((t) => where.get(t.hash) ?? null);
  dropped = positions.filter((p) => p === null).length;
  checks.ok(dropped === 0, `every transaction is in a sealed block (${dropped} missing)`);
  if (mode !== "per-sender") {
    for (let i = 1; i < positions.length; i++) {
      const [p, q] = [positions[i - 1], positions[i]];
      if (p && q && (q[0] < p[0] || (q[0] === p[0] && q[1] <= p[1]))) outOfOrder++;
    }
    checks.ok(outOfOrder === 0, `the chain holds them in the order they were sent (${outOfOrder} out of order)`);
  }
}

const result = {
  mode,
  accounts: ACCOUNTS,
  per_account: PER_ACCOUNT,
  transactions: wire.length,
  connections,
  errors,
  executed: executedMs === null ? null : wire.length,
  out_of_order: outOfOrder,
  missing: dropped,
  sign_ms: Math.round(signMs),
  send_ms: Math.round(sentMs),
  all_executed_ms: executedMs === null ? null : Math.round(executedMs),
  checks: checks.count,
  failed: checks.failed,
};
console.log(`RESULT ${JSON.stringify(result)}`);
process.exit(checks.failed.length ? 1 : 0);
