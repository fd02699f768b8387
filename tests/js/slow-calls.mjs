// Slow `eth_call`s must not slow anyone else: N concurrent calls of a 50 M-gas loop at
// `pending` run for the whole measurement while one client measures, back to back,
// `pending` reads (eth_getBalance) and eth_sendRawTransaction of pre-signed transfers.
//
//   node slow-calls.mjs <http-url> <calls> <seconds>
//
// Prints `RESULT <json>` with the read and send latency percentiles (ms), how many slow
// calls ran and how they ended. Measurement only (no pass/fail on the numbers: the
// machine is shared); exits 1 if a read or a send failed.
import http from "node:http";
import { keccak256, parseGwei } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { CHAIN_ID, DEV_KEYS } from "./preconf-lib.mjs";

const [url, callsArg, secondsArg] = process.argv.slice(2);
const CALLS = Number(callsArg ?? 16);
const SECONDS = Number(secondsArg ?? 10);
const LOOP = "0x5b600056"; // JUMPDEST PUSH1 0 JUMP: runs until its gas is gone
const agent = new http.Agent({ keepAlive: true, maxSockets: CALLS + 4 });

function post(body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: "POST", agent, headers: { "content-type": "application/json" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve(JSON.parse(text)));
    });
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

const call = (method, params) => post({ jsonrpc: "2.0", id: 1, method, params });

const account = privateKeyToAccount(DEV_KEYS[7]);
const start = Number(BigInt((await call("eth_getTransactionCount", [account.address, "pending"])).result));
const signed = [];
for (let i = 0; i < 4000; i++) {
  signed.push(
    await account.signTransaction({
      chainId: CHAIN_ID, type: "eip1559", to: "0x000000000000000000000000000000000000dEaD", value: 1n,
      gas: 21_000n, nonce: start + i, maxFeePerGas: parseGwei("1"), maxPriorityFeePerGas: parseGwei("0.001"),
    }),
  );
}

let stop = false;
const outcomes = {};
let callsDone = 0;
async function slowCaller() {
  while (!stop) {
    const r = await call("eth_call", [{ data: LOOP, gas: "0x2faf080" }, "pending"]);
    const key = r.error ? r.error.message : "ok";
    outcomes[key] = (outcomes[key] ?? 0) + 1;
    callsDone++;
  }
}
const callers = Array.from({ length: CALLS }, slowCaller);
await new Promise((r) => setTimeout(r, 500)); // let them reach the EVM

const reads = [];
const sends = [];
let failures = 0;
let next = 0;
const until = performance.now() + SECONDS * 1000;
while (performance.now() < until && next < signed.length) {
  let t = performance.now();
  const b = await call("eth_getBalance", [account.address, "pending"]);
  reads.push(performance.now() - t);
  if (b.error) failures++;
  t = performance.now();
  const s = await call("eth_sendRawTransaction", [signed[next++]]);
  sends.push(performance.now() - t);
  if (s.error || s.result !== keccak256(signed[next - 1])) failures++;
}
stop = true;
await Promise.all(callers);

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(2));
};
const summary = (xs) => ({ n: xs.length, p50: pct(xs, 50), p99: pct(xs, 99), max: pct(xs, 100) });
console.log(`RESULT ${JSON.stringify({ calls: CALLS, seconds: SECONDS, reads_ms: summary(reads), sends_ms: summary(sends), slow_calls_done: callsDone, slow_call_outcomes: outcomes, failures })}`);
agent.destroy();
process.exit(failures ? 1 : 0);
