// The RPC server's limits are enforced, each answered the way jsonrpsee and geth answer
// it, and the server stays usable afterwards. Run against a node started with the small
// limits the Rust test `rpc_limits_are_enforced` (tests/tests/e2e/errors.rs) writes:
//
//   node limits.mjs <http-url> <ws-url> <max-request-size> <max-response-size>
//                   <max-connections> <max-subscriptions> <max-batch-len>
//
// Checks:
//   - a request body over `rpc.max-request-size`: HTTP 413 with error -32007, over
//     HTTP and WebSocket; one just under it is served;
//   - an answer over `rpc.max-response-size`: error -32008; a batch whose answers together
//     pass it: -32011; an answer just under it is served;
//   - a batch longer than `rpc.max-batch-len`: error -32010; one of that length is served;
//   - `rpc.max-subscriptions` per WebSocket connection: the next `eth_subscribe` answers
//     -32006; after an `eth_unsubscribe` there is room again; another connection has
//     its own allowance;
//   - `rpc.max-connections`: with that many connections open, a new WebSocket handshake
//     and a new HTTP request get HTTP 429; once one closes, a new connection is served.
//
// HTTP goes through node's `http` module with no keep-alive agent, so that every request
// is its own connection, closed after the answer, and the connection count is exact.
// Prints `RESULT <json>` on stdout; exits 0 on success, 1 on failure.
import http from "node:http";
import WebSocket from "ws";
import { Checks, RawWs, show, sleep } from "./preconf-lib.mjs";

/** One POST on its own connection; resolves with { status, body (parsed or text) }. */
function post(url, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: "POST", agent: false, headers: { "content-type": "application/json", connection: "close" } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          let parsed = text;
          try {
            parsed = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode, body: parsed });
        });
      },
    );
    req.setTimeout(15_000, () => req.destroy(new Error(`POST ${url}: no answer in 15 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** A WebSocket handshake; resolves "open" (and closes it) or the HTTP status it was refused with. */
function tryConnect(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: 15_000 });
    ws.once("open", () => resolve({ ws, status: "open" }));
    ws.once("unexpected-response", (_req, res) => {
      resolve({ ws: null, status: res.statusCode });
      res.resume();
    });
    ws.once("error", (e) => reject(e));
  });
}

/** A JSON-RPC request whose body is exactly `size` bytes (an eth_call with padded data). */
function requestOfSize(size, id = 1) {
  const frame = (hex) => JSON.stringify({ jsonrpc: "2.0", id, method: "eth_call", params: [{ data: `0x${hex}` }, "latest"] });
  const overhead = frame("").length;
  const pad = size - overhead;
  if (pad < 0 || pad % 2 !== 0) throw new Error(`cannot build a request of ${size} bytes (overhead ${overhead})`);
  const text = frame("00".repeat(pad / 2));
  if (text.length !== size) throw new Error(`built ${text.length} bytes, wanted ${size}`);
  return text;
}

async function main([httpUrl, wsUrl, ...limits]) {
  const [maxRequest, maxResponse, maxConnections, maxSubscriptions, maxBatch] = limits.map(Number);
  const c = new Checks("limits");

  // ---- request size
  const under = await post(httpUrl, requestOfSize(maxRequest));
  c.eq(under.status, 200, "a request of exactly max-request-size is served");
  c.check(under.body.result === "0x", () => `eth_call to no code answers 0x: ${show(under.body)}`);
  const over = await post(httpUrl, requestOfSize(maxRequest + 2));
  c.eq(over.status, 413, "HTTP status of a request over max-request-size");
  c.eq(over.body?.error?.code, -32007, `error code of a request over the limit (${show(over.body)})`);
  const ws = await RawWs.connect(wsUrl, "limits");
  ws.ws.send(requestOfSize(maxRequest + 2, 7));
  const wsOver = await new Promise((resolve) => {
    const onMessage = (data) => {
      const msg = JSON.parse(data.toString());
      ws.ws.off("message", onMessage);
      resolve(msg);
    };
    ws.ws.on("message", onMessage);
  });
  c.eq(wsOver.error?.code, -32007, `an oversized WebSocket message is answered -32007 (${show(wsOver)})`);
  c.eq(await ws.call("eth_chainId", []), "0x385", "the WebSocket connection is still usable");

  // ---- response size: an eth_call of init code that returns `n` zero bytes answers
  // 2n hex digits, so one call can ask for an answer just under or over the limit.
  const returning = (n) => `0x61${n.toString(16).padStart(4, "0")}6000f3`; // PUSH2 n PUSH1 0 RETURN
  const call = (n, id = 1) => ({ jsonrpc: "2.0", id, method: "eth_call", params: [{ data: returning(n) }, "latest"] });
  const fits = await post(httpUrl, JSON.stringify(call(maxResponse / 2 - 100)));
  c.eq(fits.body.result?.length, maxResponse - 200 + 2, `an answer just under max-response-size is served (${show(fits.body).slice(0, 200)})`);
  const tooBig = await post(httpUrl, JSON.stringify(call(maxResponse / 2 + 10)));
  c.eq(tooBig.body?.error?.code, -32008, `an answer over max-response-size (${show(tooBig.body).slice(0, 300)})`);
  const batch = [1, 2, 3].map((id) => call(maxResponse / 2 - 100, id));
  const big = await post(httpUrl, JSON.stringify(batch));
  c.eq(big.body?.error?.code, -32011, `a batch whose answers together pass max-response-size (${show(big.body).slice(0, 300)})`);

  // ---- batch length
  const chainIds = (n) => Array.from({ length: n }, (_, i) => ({ jsonrpc: "2.0", id: i + 1, method: "eth_chainId", params: [] }));
  const full = await post(httpUrl, JSON.stringify(chainIds(maxBatch)));
  c.check(Array.isArray(full.body) && full.body.length === maxBatch && full.body.every((r) => r.result === "0x385"), () => `a batch of max-batch-len (${maxBatch}) is served: ${show(full.body)}`);
  const long = await post(httpUrl, JSON.stringify(chainIds(maxBatch + 1)));
  c.eq(long.body?.error?.code, -32010, `a batch of ${maxBatch + 1} calls (${show(long.body)})`);

  // ---- subscriptions per connection
  const subs = [];
  for (let i = 0; i < maxSubscriptions; i++) subs.push(await ws.subscribe("newHeads"));
  const extra = await ws.send("eth_subscribe", ["newHeads"]);
  c.eq(extra.error?.code, -32006, `subscription ${maxSubscriptions + 1} on one connection (${show(extra)})`);
  c.eq(await ws.call("eth_unsubscribe", [subs[0].rawId]), true, "eth_unsubscribe");
  const again = await ws.send("eth_subscribe", ["newHeads"]);
  c.check(again.result, () => `after an unsubscribe there is room again: ${show(again)}`);
  const other = await RawWs.connect(wsUrl, "limits-2");
  for (let i = 0; i < maxSubscriptions; i++) {
    const r = await other.send("eth_subscribe", ["miniBlocks"]);
    c.check(r.result, () => `a second connection has its own allowance (subscription ${i + 1}): ${show(r)}`);
  }

  // ---- connections (two are open: ws and other). The test harness may hold one idle
  // keep-alive connection of its own, so the refusal comes after max - 1 or max of ours.
  const held = [ws, other];
  let refused = null;
  while (!refused && held.length <= maxConnections) {
    const r = await tryConnect(wsUrl);
    if (r.status === "open") held.push({ close: () => r.ws.close() });
    else refused = r;
  }
  c.check(refused, `connection ${maxConnections + 1} was accepted: max-connections is not enforced`);
  c.eq(refused.status, 429, `a WebSocket handshake past max-connections (${maxConnections})`);
  c.check(held.length >= maxConnections - 1, `refused after only ${held.length} of ${maxConnections} connections`);
  const refusedHttp = await post(httpUrl, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }));
  c.eq(refusedHttp.status, 429, "an HTTP request past max-connections");
  c.eq(await other.call("eth_chainId", []), "0x385", "the open connections are still served");
  held.pop().close();
  let served = null;
  for (let i = 0; i < 100 && !served; i++) {
    const r = await tryConnect(wsUrl);
    if (r.status === "open") served = r.ws;
    else await sleep(50);
  }
  c.check(served, "once a connection closes, a new one is served (within 5 s)");
  served.close();
  for (const h of held) h.close();

  process.stdout.write(`RESULT ${JSON.stringify({ checks: c.count, opened: held.length })}\n`);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e) => {
    console.error(`limits FAILED: ${e?.stack ?? e}`);
    process.exit(1);
  },
);
