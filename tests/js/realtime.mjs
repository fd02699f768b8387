// Real time for unmodified wallets, with the real viem and ethers v6 (no Peregrine-specific
// call anywhere): receipts, nonces and blocks from the preconfirmation on.
//
//   node realtime.mjs check <http-url>            the flows, checked (an e2e test runs it)
//   node realtime.mjs bench <http-url> <n> <out>  send-and-wait wall times (scripts/realtime-bench.sh)
//
// `check`:
//  - viem `sendTransaction` ×10 and ethers v6 `wallet.sendTransaction` ×10, each without
//    waiting for the previous one's receipt (each takes its nonce from the node), then every
//    receipt: all executed, consecutive nonces;
//  - viem `waitForTransactionReceipt` with confirmations 1 and 2, ethers `tx.wait(1)` and
//    `tx.wait(2)`, for a transaction whose block seals while they wait: no error, the
//    receipt's transaction at the block it names;
//  - viem `watchBlocks` and ethers `provider.on("block")` over the whole run: each block
//    number once, in order (a block seen open and then sealed is no duplicate).
// It works against anvil too (`PEREGRINE_E2E_TARGET=anvil`).
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { JsonRpcProvider, NonceManager, Wallet } from "ethers";
import { createPublicClient, createWalletClient, http } from "viem";
import { CHAIN_ID, Checks, DEV, DEV_KEYS, chainFor, lc, show } from "./preconf-lib.mjs";

const [mode, url, ...rest] = process.argv.slice(2);
const chain = chainFor(url);
const POLL = 5;
const client = createPublicClient({ chain, transport: http(url), pollingInterval: POLL, cacheTime: 0 });
// No request cache (see below) and no 10 ms batching stall: a local node answers in microseconds.
const provider = new JsonRpcProvider(url, CHAIN_ID, { staticNetwork: true, pollingInterval: POLL, cacheTimeout: -1, batchMaxCount: 1 });
const castBin = fileURLToPath(new URL("./node_modules/.bin/cast", import.meta.url));

const walletFor = (i) => createWalletClient({ account: DEV[i], chain, transport: http(url) });

/** Checks that `receipt`'s block hash names a block holding its transaction at its index. */
async function checkNamed(c, receipt, what) {
  const block = await client.getBlock({ blockHash: receipt.blockHash });
  c.eq(block.hash, receipt.blockHash, `${what}: the named block resolves`);
  c.eq(block.transactions[Number(receipt.transactionIndex ?? receipt.index)], receipt.transactionHash ?? receipt.hash, `${what}: it holds the transaction at its index`);
}

async function check() {
  const c = new Checks("realtime");
  const bob = DEV[1].address;
  const viemBlocks = [];
  const unwatch = client.watchBlocks({ onBlock: (b) => viemBlocks.push(b.number), emitMissed: true, poll: true, pollingInterval: 20 });
  const ethersBlocks = [];
  await provider.on("block", (n) => ethersBlocks.push(n));

  // viem: ten sends in a row, none waiting for the previous receipt.
  const viemWallet = walletFor(2);
  const viemHashes = [];
  for (let i = 0; i < 10; i++) viemHashes.push(await viemWallet.sendTransaction({ to: bob, value: BigInt(i + 1) }));
  const viemReceipts = await Promise.all(viemHashes.map((hash) => client.waitForTransactionReceipt({ hash, pollingInterval: POLL, timeout: 30_000 })));
  const viemNonces = await Promise.all(viemHashes.map(async (hash) => (await client.getTransaction({ hash })).nonce));
  c.check(viemReceipts.every((r) => r.status === "success"), "viem ×10: every transaction executed");
  c.eq(viemNonces.map((n) => n - viemNonces[0]), [...Array(10).keys()], "viem ×10: consecutive nonces");

  // ethers v6: the same through a Wallet. By default ethers answers identical requests
  // made within 250 ms from its own cache, so back-to-back sends read one nonce (against
  // any node: anvil fails the same way, "nonce has already been used"). With the cache
  // off (`cacheTimeout: -1`, as `provider` here) a plain Wallet takes the node's count
  // each time; with it on, ethers' own NonceManager is the way.
  const plain = new Wallet(DEV_KEYS[3], provider);
  const sent = [];
  for (let i = 0; i < 10; i++) sent.push(await plain.sendTransaction({ to: bob, value: BigInt(i + 1) }));
  const ethersReceipts = await Promise.all(sent.map((tx) => tx.wait(1, 30_000)));
  c.check(ethersReceipts.every((r) => r.status === 1), "ethers ×10: every transaction executed");
  c.eq(sent.map((t) => t.nonce - sent[0].nonce), [...Array(10).keys()], "ethers ×10: consecutive nonces");
  const cached = new JsonRpcProvider(url, CHAIN_ID, { staticNetwork: true, pollingInterval: POLL });
  const managed = new NonceManager(new Wallet(DEV_KEYS[4], cached));
  const managedSent = [];
  for (let i = 0; i < 10; i++) managedSent.push(await managed.sendTransaction({ to: bob, value: 1n }));
  const managedReceipts = await Promise.all(managedSent.map((tx) => tx.wait(1, 30_000)));
  c.check(managedReceipts.every((r) => r.status === 1), "ethers ×10 through NonceManager (cache on): every transaction executed");
  cached.destroy();

  // Waiting across the seal: viem with confirmations 1 and 2, ethers wait(1) and wait(2).
  const w5 = walletFor(5);
  const h1 = await w5.sendTransaction({ to: bob, value: 1n });
  const [v1, v2] = await Promise.all([
    client.waitForTransactionReceipt({ hash: h1, confirmations: 1, pollingInterval: POLL, timeout: 30_000 }),
    client.waitForTransactionReceipt({ hash: h1, confirmations: 2, pollingInterval: POLL, timeout: 30_000 }),
  ]);
  c.eq(v1.status, "success", "viem confirmations 1");
  c.eq(v2.status, "success", "viem confirmations 2");
  c.check((await client.getBlockNumber({ cacheTime: 0 })) >= v1.blockNumber + 1n, "confirmations 2 waited for the next block");
  await checkNamed(c, v1, "viem confirmations 1");
  await checkNamed(c, v2, "viem confirmations 2");
  const e = new Wallet(DEV_KEYS[6], provider);
  const tx = await e.sendTransaction({ to: bob, value: 1n });
  const [e1, e2] = await Promise.all([tx.wait(1, 30_000), tx.wait(2, 30_000)]);
  c.eq(e1.status, 1, "ethers wait(1)");
  c.eq(e2.status, 1, "ethers wait(2)");
  await checkNamed(c, e1, "ethers wait(1)");
  await checkNamed(c, e2, "ethers wait(2)");
  c.eq(e2.blockNumber, e1.blockNumber, "ethers: both waits name the same block number");
  // cast receipt, once preconfirmed and with two confirmations.
  const castReceipt = (...args) =>
    JSON.parse(execFileSync(castBin, ["receipt", "--rpc-url", url, "--json", ...args], { encoding: "utf8", timeout: 60_000 }));
  const cr = castReceipt(tx.hash);
  c.eq(cr.status, "0x1", "cast receipt");
  const cr2 = castReceipt(tx.hash, "--confirmations", "2");
  c.eq(cr2.status, "0x1", "cast receipt --confirmations 2");
  c.eq(BigInt(cr2.blockNumber), BigInt(e1.blockNumber), "cast: the same block number");

  // A few more blocks for the watchers, then: each number once, in order.
  const until = (await client.getBlockNumber({ cacheTime: 0 })) + 2n;
  while ((await client.getBlockNumber({ cacheTime: 0 })) < until) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 200));
  unwatch();
  provider.removeAllListeners();
  const increasing = (xs) => xs.every((x, i) => i === 0 || x > xs[i - 1]);
  c.check(viemBlocks.length >= 2 && increasing(viemBlocks), `viem watchBlocks: each block once, in order (${show(viemBlocks)})`);
  c.check(ethersBlocks.length >= 2 && increasing(ethersBlocks), `ethers "block" events: each once, in order (${show(ethersBlocks)})`);
  provider.destroy();
  console.log(`realtime: ${c.count} checks passed`);
}

/** Wall time of `n` sequential send-and-wait rounds, per client, in milliseconds. */
async function bench([n, out]) {
  const rounds = Number(n);
  // Unmeasured rounds first: each client's first calls pay its own warm-up (viem's first
  // prepare takes ~30 ms against any node), which is no property of the node.
  const WARMUP = 5;
  const bob = DEV[1].address;
  const times = { viem: [], ethers: [], cast: [] };
  const viemWallet = walletFor(2);
  for (let i = -WARMUP; i < rounds; i++) {
    const t0 = performance.now();
    const hash = await viemWallet.sendTransaction({ to: bob, value: 1n });
    const r = await client.waitForTransactionReceipt({ hash, pollingInterval: POLL, timeout: 30_000 });
    if (i >= 0) times.viem.push(performance.now() - t0);
    if (r.status !== "success") throw new Error(`viem round ${i}: ${r.status}`);
  }
  const wallet = new Wallet(DEV_KEYS[3], provider);
  let nonce = await provider.getTransactionCount(wallet.address, "latest");
  for (let i = -WARMUP; i < rounds; i++) {
    const t0 = performance.now();
    const tx = await wallet.sendTransaction({ to: bob, value: 1n, nonce: nonce++ });
    const r = await tx.wait(1, 30_000);
    if (i >= 0) times.ethers.push(performance.now() - t0);
    if (r.status !== 1) throw new Error(`ethers round ${i}: ${r.status}`);
  }
  for (let i = -WARMUP; i < rounds; i++) {
    const t0 = performance.now();
    execFileSync(castBin, ["send", "--rpc-url", url, "--private-key", DEV_KEYS[4], bob, "--value", "1"], { encoding: "utf8", timeout: 60_000 });
    if (i >= 0) times.cast.push(performance.now() - t0);
  }
  const pct = (xs, p) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
  };
  const summary = Object.fromEntries(
    Object.entries(times).map(([k, xs]) => [k, { n: xs.length, p50_ms: +pct(xs, 50).toFixed(2), p99_ms: +pct(xs, 99).toFixed(2), max_ms: +Math.max(...xs).toFixed(2) }]),
  );
  writeFileSync(out, JSON.stringify(summary, null, 2));
  console.log(JSON.stringify(summary));
  provider.destroy();
}

try {
  if (mode === "check") await check();
  else if (mode === "bench") await bench(rest);
  else throw new Error(`usage: realtime.mjs check|bench <url> ...; got ${mode}`);
  process.exit(0);
} catch (e) {
  console.error(`realtime ${mode} FAILED:`, e);
  process.exit(1);
}
