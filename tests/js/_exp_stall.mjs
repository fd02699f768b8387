import WebSocket from 'ws';
import { createPublicClient, http, defineChain, parseGwei } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
const url = process.argv[2]; const N = Number(process.argv[3] ?? 3000); const K = Number(process.argv[4] ?? 1);
const keys = ["0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80","0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d","0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a","0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6"];
const chain = defineChain({ id: 901, name: 'p', nativeCurrency: {name:'E',symbol:'E',decimals:18}, rpcUrls:{default:{http:[url]}}});
const client = createPublicClient({ chain, transport: http(url, {timeout: 30000, retryCount: 0}) });
const ws = new WebSocket(url.replace('http','ws'));
await new Promise(r => ws.once('open', r));
let got = 0, bytes = 0, err = null, errs = 0, other = [];
ws.on('message', (m) => { bytes += m.length; const v = JSON.parse(m); if (v.params?.error) { err = v; errs++; } else if (v.params?.result) got++; else other.push(JSON.stringify(v).slice(0,200)); });
for (let i=0;i<K;i++) ws.send(JSON.stringify({jsonrpc:'2.0',id:i+1,method:'eth_subscribe',params:['miniBlocks']}));
await new Promise(r => setTimeout(r, 300));
ws.pause();
const t0 = Date.now();
let sent = 0;
await Promise.all(keys.map(async (k, w) => {
  const acct = privateKeyToAccount(k);
  let nonce = await client.getTransactionCount({ address: acct.address });
  for (let i = 0; i < N / keys.length; i++) {
    const raw = await acct.signTransaction({ chainId: 901, type: 'eip1559', to: '0x000000000000000000000000000000000000dEaD', value: 1n, nonce: nonce++, gas: 21000n, maxFeePerGas: parseGwei('10'), maxPriorityFeePerGas: 1n });
    const r = await client.request({ method: 'eth_sendRawTransactionSync', params: [raw] });
    if (!r.preconfirmation) throw new Error('no preconf');
    sent++;
  }
}));
console.log('sent', sent, 'in', Date.now() - t0, 'ms; got before resume', got);
ws.resume();
await new Promise(r => setTimeout(r, 10000));
console.log("errs", errs, "other", other, "got", got, 'bytes', bytes, 'err', JSON.stringify(err)?.slice(0, 300), 'state', ws.readyState);
process.exit(0);
