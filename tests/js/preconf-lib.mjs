// Helpers shared by the preconfirmation scenarios (preconf-e2e.mjs): accounts, a small
// JSON-RPC client over HTTP and over a raw WebSocket (the `ws` package) with bounded waits,
// and the independent checks of a preconfirmation with viem and @openzeppelin/merkle-tree.
import WebSocket from "ws";
import {
  defineChain,
  getAddress,
  hashTypedData,
  keccak256,
  parseGwei,
  recoverTypedDataAddress,
  toRlp,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";

export const CHAIN_ID = 901;
export const TX_ENCODING = ["uint256", "bytes32"];
export const RECEIPT_ENCODING = ["uint256", "bytes32", "bool", "uint256", "uint256", "bytes32"];
/** keccak256(rlp([])): the logs hash of a receipt without logs. */
export const EMPTY_LOGS_HASH = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347";
export const DEV_BALANCE = 10_000n * 10n ** 18n;

/** Private keys of the ten accounts of the `test ... junk` mnemonic. */
export const DEV_KEYS = [
  "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
  "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
  "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
  "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
  "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
  "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
  "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];
export const DEV = DEV_KEYS.map((k) => privateKeyToAccount(k));

export function chainFor(httpUrl, wsUrl) {
  return defineChain({
    id: CHAIN_ID,
    name: "Peregrine devnet",
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [httpUrl], webSocket: wsUrl ? [wsUrl] : [] } },
  });
}

// ---------------------------------------------------------------- checks

export class Checks {
  constructor(name) {
    this.name = name;
    this.count = 0;
  }
  check(cond, msg) {
    if (!cond) throw new Error(`check failed: ${typeof msg === "function" ? msg() : msg}`);
    this.count++;
  }
  eq(actual, expected, msg) {
    const a = show(actual);
    const e = show(expected);
    this.check(a === e, () => `${msg}: expected ${e}, got ${a}`);
  }
}

/** Canonical JSON for comparisons and messages: bigints as `123n`, object keys sorted. */
export const show = (v) =>
  JSON.stringify(v, (_, x) => {
    if (typeof x === "bigint") return `${x}n`;
    if (x && typeof x === "object" && !Array.isArray(x)) {
      return Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]]));
    }
    return x;
  });
export const lc = (s) => String(s).toLowerCase();
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Rejects with `what` if `promise` does not settle within `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `cond` every `interval` ms until it returns a truthy value (returned), for at most `ms`. */
export async function waitFor(what, ms, cond, interval = 10) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() >= deadline) {
      const detail = typeof what === "function" ? what() : what;
      throw new Error(`timed out after ${ms} ms waiting for ${detail}`);
    }
    await sleep(interval);
  }
}

// ---------------------------------------------------------------- JSON-RPC over HTTP

export class RpcError extends Error {
  constructor(method, error) {
    super(`${method}: JSON-RPC error ${error.code}: ${error.message}`);
    this.code = error.code;
    this.rpcMessage = error.message;
    this.data = error.data;
  }
}

let nextHttpId = 1;

/** One JSON-RPC call over HTTP (fetch, 30 s bound); returns the result or throws RpcError. */
export async function rpc(url, method, params = [], timeoutMs = 30_000) {
  const id = nextHttpId++;
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id, method, params }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = await res.json();
  if (body.id !== id) throw new Error(`${method}: response id ${body.id} != ${id}`);
  if (body.error) throw new RpcError(method, body.error);
  return body.result;
}

/** Where a transaction is: `pending` (preconfirmed, its block not sealed yet), `included`, ... */
export async function txStatus(url, hash) {
  return (await rpc(url, "peregrine_getTransactionStatus", [hash])).status;
}

/**
 * The receipt of `hash` once its block is sealed. Before the seal a receipt names the block
 * view it was preconfirmed in; after it, the sealed block (docs/api.md, "Blocks under
 * construction").
 */
export async function sealedReceipt(url, hash, ms = 30_000) {
  await waitFor(`${hash} sealed`, ms, async () => (await txStatus(url, hash)) === "included", 20);
  return rpc(url, "eth_getTransactionReceipt", [hash]);
}

/**
 * Checks that `blockHash`, named by a receipt (or a log) of transaction `txHash` at `index`,
 * resolves with eth_getBlockByHash to a block holding that transaction at that index; with
 * `miniHash`, that it is the view ending with that mini-block (its `extraData`). Returns it.
 */
export async function checkNamedBlock(c, url, blockHash, txHash, index, miniHash, what) {
  const block = await rpc(url, "eth_getBlockByHash", [blockHash, false]);
  c.check(block, `${what}: eth_getBlockByHash(${blockHash}) resolves`);
  c.eq(block.hash, blockHash, `${what}: the block's hash`);
  c.eq(block.transactions[Number(BigInt(index))], txHash, `${what}: the block holds the transaction at its index`);
  if (miniHash) c.eq(block.extraData, miniHash, `${what}: the view ends with the transaction's mini-block (extraData)`);
  return block;
}

/** A JSON-RPC batch over HTTP; returns the responses ordered as `calls` ([method, params] pairs). */
export async function rpcBatch(url, calls, timeoutMs = 60_000) {
  if (calls.length === 0) return [];
  const first = nextHttpId;
  nextHttpId += calls.length;
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(calls.map(([method, params], i) => ({ jsonrpc: "2.0", id: first + i, method, params }))),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = await res.json();
  if (!Array.isArray(body)) throw new Error(`batch answered with a non-array: ${show(body).slice(0, 500)}`);
  const byId = new Map(body.map((r) => [r.id, r]));
  return calls.map((_, i) => {
    const r = byId.get(first + i);
    if (!r) throw new Error(`batch response lacks id ${first + i}`);
    return r;
  });
}

// ---------------------------------------------------------------- JSON-RPC over a raw WebSocket

/** One `eth_subscribe` subscription on a RawWs: its notifications in order, and its error. */
export class Subscription {
  constructor(conn, id, label) {
    this.conn = conn;
    this.id = id;
    this.label = label;
    this.items = [];
    this.error = null; // `params.error` of a closing notification
  }
  /** Waits until `pred(items)` holds (returns its value), failing on a subscription error. */
  async until(what, ms, pred) {
    return waitFor(
      () => `${this.label}: ${typeof what === "function" ? what() : what} (have ${this.items.length} items)`,
      ms,
      () => {
        if (this.error && !this.allowError) {
          throw new Error(`${this.label} closed with an error: ${show(this.error)}`);
        }
        if (this.conn.closed && !this.allowClose) throw new Error(`${this.label}: connection closed`);
        return pred(this.items);
      },
    );
  }
}

/** A minimal JSON-RPC 2.0 client over one WebSocket connection. */
export class RawWs {
  static async connect(url, label = "ws", timeoutMs = 15_000) {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    await withTimeout(
      new Promise((resolve, reject) => {
        ws.once("open", resolve);
        ws.once("error", reject);
      }),
      timeoutMs,
      `connecting ${label} to ${url}`,
    );
    return new RawWs(ws, label);
  }

  constructor(ws, label) {
    this.ws = ws;
    this.label = label;
    this.nextId = 1;
    this.pending = new Map();
    this.subs = new Map();
    this.early = new Map(); // notifications for a subscription id not yet known
    this.closed = false;
    this.closeCode = null;
    this.received = 0;
    ws.on("message", (data) => this.onMessage(data));
    ws.on("error", () => {});
    ws.on("close", (code) => {
      this.closed = true;
      this.closeCode = code;
      for (const p of this.pending.values()) p.reject(new Error(`${this.label}: connection closed`));
      this.pending.clear();
    });
  }

  onMessage(data) {
    this.received++;
    const msg = JSON.parse(data.toString());
    if (msg.method === "eth_subscription") {
      const { subscription, result, error } = msg.params ?? {};
      const sub = this.subs.get(String(subscription));
      if (!sub) {
        const list = this.early.get(String(subscription)) ?? [];
        list.push(msg.params);
        this.early.set(String(subscription), list);
        return;
      }
      deliver(sub, msg.params);
      return;
    }
    const p = this.pending.get(msg.id);
    if (p) {
      this.pending.delete(msg.id);
      p.resolve(msg);
    }
  }

  /** Sends one request; resolves with the whole response object ({result} or {error}). */
  send(method, params, timeoutMs = 30_000) {
    if (this.closed) return Promise.reject(new Error(`${this.label}: connection closed`));
    const id = this.nextId++;
    const p = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
    this.ws.send(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
    return withTimeout(p, timeoutMs, `${this.label}: response to ${method}`);
  }

  /** Sends one request; returns the result or throws RpcError. */
  async call(method, params, timeoutMs) {
    const r = await this.send(method, params, timeoutMs);
    if (r.error) throw new RpcError(method, r.error);
    return r.result;
  }

  /** `eth_subscribe(kind, params?)`; returns a Subscription collecting its notifications. */
  async subscribe(kind, params, label = kind) {
    const args = params === undefined ? [kind] : [kind, params];
    const rawId = await this.call("eth_subscribe", args);
    const id = String(rawId);
    const sub = new Subscription(this, id, `${this.label}/${label}`);
    sub.rawId = rawId; // as the server sent it (for eth_unsubscribe)
    this.subs.set(id, sub);
    for (const p of this.early.get(id) ?? []) deliver(sub, p);
    this.early.delete(id);
    return sub;
  }

  /** Stops reading from the socket (the kernel buffers fill, then the server's). */
  pause() {
    this.ws.pause();
  }

  resume() {
    this.ws.resume();
  }

  close() {
    this.ws.close();
  }

  terminate() {
    this.ws.terminate();
  }
}

function deliver(sub, params) {
  if (params.error !== undefined) sub.error = params.error;
  else sub.items.push(params.result);
}

// ---------------------------------------------------------------- transactions

/** An account with a locally tracked nonce that signs EIP-1559 transactions offline. */
export class Sender {
  constructor(account, nonce) {
    this.account = account;
    this.address = account.address;
    this.nonce = nonce;
  }
  static async create(url, account) {
    const n = await rpc(url, "eth_getTransactionCount", [account.address, "pending"]);
    return new Sender(account, Number(BigInt(n)));
  }
  /** Signs the next transaction (`to`, `value`, `data`, `gas`); returns {raw, hash, nonce}. */
  async sign({ to, value = 0n, data, gas = 21_000n }) {
    const nonce = this.nonce++;
    const raw = await this.account.signTransaction({
      chainId: CHAIN_ID,
      type: "eip1559",
      to,
      value,
      data,
      gas,
      nonce,
      maxFeePerGas: parseGwei("1"),
      maxPriorityFeePerGas: parseGwei("0.001"),
    });
    return { raw, hash: keccak256(raw), nonce, from: this.address, to };
  }
}

// ---------------------------------------------------------------- preconfirmations

/** keccak256(rlp(logs)), logs as in an RPC receipt: each [address, topics, data]. */
export function logsHashOf(logs) {
  return keccak256(toRlp(logs.map((l) => [lc(l.address), l.topics, l.data])));
}

/** The preconfirmation without the `transactionHash` the `preconfirmations` feed adds. */
export function stripFeedFields(item) {
  const { transactionHash, ...p } = item;
  return p;
}

/** The mini-block hash: the EIP-712 digest of the signed header. */
export function miniBlockHash(typedData) {
  return hashTypedData(typedData);
}

/** The typed data of a mini-block record's header (as the `miniBlocks` feed sends it). */
export function headerTypedData(header) {
  return {
    domain: { name: "Peregrine", version: "2", chainId: header.chainId },
    types: {
      MiniBlockHeader: [
        { name: "chainId", type: "uint64" },
        { name: "blockNumber", type: "uint64" },
        { name: "miniBlockNumber", type: "uint64" },
        { name: "parentHash", type: "bytes32" },
        { name: "firstSequence", type: "uint64" },
        { name: "transactionsRoot", type: "bytes32" },
        { name: "receiptsRoot", type: "bytes32" },
        { name: "stateDiffRoot", type: "bytes32" },
        { name: "timestampMicros", type: "uint64" },
        { name: "sendersHash", type: "bytes32" },
        { name: "blockContextHash", type: "bytes32" },
      ],
    },
    primaryType: "MiniBlockHeader",
    message: header,
  };
}

/**
 * Checks one preconfirmation with generic libraries; throws on the first failure.
 * - viem recovers the EIP-712 signer from {...typedData, signature}: it must be `sequencer`;
 * - StandardMerkleTree.verify accepts the transaction proof (index, txHash) against
 *   transactionsRoot and the receipt proof (6 values) against receiptsRoot;
 * - negative controls: the same proofs with a changed index / gasUsed must fail.
 * Returns the mini-block hash (EIP-712 digest).
 */
export async function verifyPreconf(p, sequencer, what = "preconfirmation") {
  const fail = (msg) => {
    throw new Error(`${what}: ${msg}\n${show(p).slice(0, 2000)}`);
  };
  const { typedData, signature } = p;
  const m = typedData?.message;
  if (!m) fail("no typedData.message");
  if (typedData.primaryType !== "MiniBlockHeader") fail(`primaryType ${typedData.primaryType}`);
  const d = typedData.domain;
  if (d.name !== "Peregrine" || d.version !== "2" || d.chainId !== CHAIN_ID || m.chainId !== CHAIN_ID) {
    fail(`domain/chain id ${show(d)} / message.chainId ${m.chainId}`);
  }
  const signer = await recoverTypedDataAddress({ ...typedData, signature });
  if (getAddress(signer) !== getAddress(sequencer)) fail(`signed by ${signer}, not the sequencer ${sequencer}`);

  const txValues = [p.transaction.index, p.transaction.hash];
  if (!StandardMerkleTree.verify(m.transactionsRoot, TX_ENCODING, txValues, p.proofs.transaction)) {
    fail("transaction proof rejected by StandardMerkleTree.verify");
  }
  const r = p.receipt;
  const receiptValues = [p.transaction.index, p.transaction.hash, r.success, r.gasUsed, r.cumulativeGasUsed, r.logsHash];
  if (!StandardMerkleTree.verify(m.receiptsRoot, RECEIPT_ENCODING, receiptValues, p.proofs.receipt)) {
    fail("receipt proof rejected by StandardMerkleTree.verify");
  }
  // Negative controls: the verification above is not vacuous.
  if (StandardMerkleTree.verify(m.transactionsRoot, TX_ENCODING, [p.transaction.index + 1, p.transaction.hash], p.proofs.transaction)) {
    fail("transaction proof still verifies with another index");
  }
  const bad = [...receiptValues];
  bad[3] = r.gasUsed + 1;
  if (StandardMerkleTree.verify(m.receiptsRoot, RECEIPT_ENCODING, bad, p.proofs.receipt)) {
    fail("receipt proof still verifies with another gasUsed");
  }
  return miniBlockHash(typedData);
}

/**
 * Checks a `miniBlocks` feed record: its `hash` is the EIP-712 digest of `header`, the
 * signature recovers to `sequencer`.
 */
export async function verifyRecord(rec, sequencer, what = "mini-block record") {
  const td = headerTypedData(rec.header);
  const digest = hashTypedData(td);
  if (digest !== rec.hash) throw new Error(`${what} ${rec.header.miniBlockNumber}: hash ${rec.hash} is not the header digest ${digest}`);
  const signer = await recoverTypedDataAddress({ ...td, signature: rec.signature });
  if (getAddress(signer) !== getAddress(sequencer)) {
    throw new Error(`${what} ${rec.header.miniBlockNumber}: signed by ${signer}, not ${sequencer}`);
  }
}

/**
 * Checks that `records` (miniBlocks feed items) are numbered consecutively from `first`,
 * without duplicates, each `parentHash` the previous `hash` (and the first one's `parentHash`
 * equal to `prevHash` when given).
 */
export function checkChain(records, first, prevHash, what) {
  let expected = first;
  let parent = prevHash;
  for (const r of records) {
    const n = r.header.miniBlockNumber;
    if (n !== expected) {
      throw new Error(`${what}: expected mini-block ${expected}, got ${n} (numbers: ${records.map((x) => x.header.miniBlockNumber).join(",")})`);
    }
    if (parent !== undefined && r.header.parentHash !== parent) {
      throw new Error(`${what}: mini-block ${n} parentHash ${r.header.parentHash} != hash of ${n - 1} ${parent}`);
    }
    parent = r.hash;
    expected++;
  }
}

/** The `fromMiniBlock = N` a closing error notification says to resume at (or null). */
export function resumeHint(error) {
  const m = /fromMiniBlock\s*=\s*(\d+)/.exec(typeof error === "string" ? error : show(error));
  return m ? Number(m[1]) : null;
}

/**
 * Follows a record feed (`kind` with `params`) from `from` until `done(items)` holds, the
 * way a client is told to: when the subscription is closed with "resubscribe with
 * fromMiniBlock = N", resubscribe from N on a new connection. Bounded by `maxAttempts`
 * subscriptions and `ms` in all. Returns {items, closes: [{hint, received}]}: every item
 * received, in order, over all attempts, and each close (its hint and the count of items
 * received by then).
 */
export async function followWithResume(wsUrl, kind, params, from, done, { ms = 120_000, maxAttempts = 50, label = kind } = {}) {
  const deadline = Date.now() + ms;
  const items = [];
  const closes = [];
  let next = from;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const conn = await RawWs.connect(wsUrl, `${label}#${attempt}`);
    try {
      const sub = await conn.subscribe(kind, { ...params, fromMiniBlock: next }, label);
      sub.allowError = true;
      await waitFor(
        () => `${label} from ${next}: completion or a close (have ${items.length + sub.items.length} items)`,
        Math.max(1, deadline - Date.now()),
        () => sub.error !== null || conn.closed || done([...items, ...sub.items]),
      );
      items.push(...sub.items);
      if (sub.error === null && !conn.closed) return { items, closes };
      const hint = resumeHint(sub.error);
      if (hint === null) throw new Error(`${label}: closed without a resume hint: ${show(sub.error)} (closed: ${conn.closed})`);
      closes.push({ hint, received: items.length });
      next = hint;
    } finally {
      conn.close();
    }
  }
  throw new Error(`${label}: still not caught up after ${maxAttempts} subscriptions (closes: ${show(closes)})`);
}
