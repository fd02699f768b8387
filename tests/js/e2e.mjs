// End-to-end scenario driven by viem against a running node.
//   node e2e.mjs <rpc-url>
// Exits 0 and prints "viem e2e: N checks passed" on success; exits 1 with a message on failure.
import {
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  parseAbiItem,
  parseEther,
  getContractAddress,
  keccak256,
  toHex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { compileContracts } from "./compile.mjs";

const rpcUrl = process.argv[2];
if (!rpcUrl) {
  console.error("usage: node e2e.mjs <rpc-url>");
  process.exit(2);
}

const chain = defineChain({
  id: 901,
  name: "Peregrine devnet",
  nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
  rpcUrls: { default: { http: [rpcUrl] } },
});

// Dev accounts 0 and 1 of the `test ... junk` mnemonic.
const alice = privateKeyToAccount("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
const bob = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
const DEV_BALANCE = parseEther("10000");

const transport = http(rpcUrl, { timeout: 20_000, retryCount: 0 });
const publicClient = createPublicClient({ chain, transport, pollingInterval: 100 });
const wallet = createWalletClient({ account: alice, chain, transport });
const bobWallet = createWalletClient({ account: bob, chain, transport });

let checks = 0;
function check(cond, msg) {
  if (!cond) throw new Error(`check failed: ${msg}`);
  checks++;
}
const show = (v) => JSON.stringify(v, (_, x) => (typeof x === "bigint" ? `${x}n` : x));
function eq(actual, expected, msg) {
  const a = show(actual);
  const e = show(expected);
  check(a === e, `${msg}: expected ${e}, got ${a}`);
}
const lc = (s) => s.toLowerCase();
const receiptOpts = { timeout: 30_000, pollingInterval: 100 };

async function main() {
  eq(await publicClient.getChainId(), 901, "chain id");

  // --- transfer ---
  const aliceBefore = await publicClient.getBalance({ address: alice.address });
  const bobBefore = await publicClient.getBalance({ address: bob.address });
  eq(aliceBefore, DEV_BALANCE, "alice prefunded");
  eq(bobBefore, DEV_BALANCE, "bob prefunded");
  eq(await publicClient.getTransactionCount({ address: alice.address }), 0, "alice nonce before");

  const value = parseEther("0.25");
  const hash = await wallet.sendTransaction({ to: bob.address, value });
  const receipt = await publicClient.waitForTransactionReceipt({ hash, ...receiptOpts });
  eq(receipt.status, "success", "transfer status");
  eq(receipt.gasUsed, 21000n, "transfer gas");
  eq(lc(receipt.from), lc(alice.address), "receipt.from");
  const fee = receipt.gasUsed * receipt.effectiveGasPrice;
  eq(await publicClient.getBalance({ address: alice.address }), aliceBefore - value - fee, "alice after transfer");
  eq(await publicClient.getBalance({ address: bob.address }), bobBefore + value, "bob after transfer");
  eq(await publicClient.getTransactionCount({ address: alice.address }), 1, "alice nonce after");
  const tx = await publicClient.getTransaction({ hash });
  eq(tx.value, value, "tx.value");
  eq(tx.chainId, 901, "tx.chainId");
  // Both name the block the transaction is in now: the block view it was preconfirmed in,
  // or the sealed block if the block sealed in between (then both are read again).
  let [txNow, receiptNow] = [tx, receipt];
  for (let i = 0; i < 3 && txNow.blockHash !== receiptNow.blockHash; i++) {
    [txNow, receiptNow] = [await publicClient.getTransaction({ hash }), await publicClient.getTransactionReceipt({ hash })];
  }
  eq(txNow.blockHash, receiptNow.blockHash, "tx.blockHash");

  // --- deploy ---
  const { Counter } = compileContracts();
  const deployHash = await wallet.deployContract({ abi: Counter.abi, bytecode: Counter.bytecode, args: [10n] });
  const deployReceipt = await publicClient.waitForTransactionReceipt({ hash: deployHash, ...receiptOpts });
  eq(deployReceipt.status, "success", "deploy status");
  const address = deployReceipt.contractAddress;
  eq(lc(address), lc(getContractAddress({ from: alice.address, nonce: 1n })), "contract address");
  eq(lc(await publicClient.getCode({ address })), lc(Counter.deployedBytecode), "deployed code");
  const counter = { address, abi: Counter.abi };
  eq(await publicClient.readContract({ ...counter, functionName: "count" }), 10n, "initial count");

  // --- write/read ---
  const { request } = await publicClient.simulateContract({ ...counter, functionName: "increment", account: bob });
  const incHash = await bobWallet.writeContract(request);
  const incReceipt = await publicClient.waitForTransactionReceipt({ hash: incHash, ...receiptOpts });
  eq(incReceipt.status, "success", "increment status");
  const incHash2 = await wallet.writeContract({ ...counter, functionName: "increment" });
  const incReceipt2 = await publicClient.waitForTransactionReceipt({ hash: incHash2, ...receiptOpts });
  eq(incReceipt2.status, "success", "increment 2 status");
  eq(await publicClient.readContract({ ...counter, functionName: "count" }), 12n, "count after 2 increments");
  eq(lc(await publicClient.readContract({ ...counter, functionName: "lastCaller" })), lc(alice.address), "lastCaller");
  eq(await publicClient.readContract({ ...counter, functionName: "perCaller", args: [bob.address] }), 1n, "perCaller(bob)");

  // Revert surfaces the reason.
  let reverted = false;
  try {
    await publicClient.readContract({ ...counter, functionName: "fail" });
  } catch (e) {
    reverted = String(e.message).includes("Counter: always fails");
  }
  check(reverted, "readContract(fail) reverts with the reason string");
  let customReverted = false;
  try {
    await publicClient.readContract({ ...counter, functionName: "requireAtLeast", args: [100n] });
  } catch (e) {
    customReverted = e.walk?.((x) => x.data?.errorName === "TooLow")?.data?.args?.map(String).join(",") === "12,100";
  }
  check(customReverted, "readContract(requireAtLeast(100)) decodes TooLow(12,100)");

  // --- logs ---
  const event = parseAbiItem("event Incremented(address indexed by, uint256 newCount)");
  const fromBlock = deployReceipt.blockNumber;
  const toBlock = incReceipt2.blockNumber;
  const logs = await publicClient.getLogs({ address, event, fromBlock, toBlock });
  eq(logs.length, 2, "getLogs count");
  eq(lc(logs[0].args.by), lc(bob.address), "log[0].by");
  eq(logs[0].args.newCount, 11n, "log[0].newCount");
  eq(lc(logs[1].args.by), lc(alice.address), "log[1].by");
  eq(logs[1].args.newCount, 12n, "log[1].newCount");
  eq(logs[0].transactionHash, incHash, "log[0] tx");
  eq(logs[0].topics[0], keccak256(toHex("Incremented(address,uint256)")), "topic0");
  const bobLogs = await publicClient.getLogs({ address, event, args: { by: bob.address }, fromBlock, toBlock });
  eq(bobLogs.length, 1, "getLogs filtered by indexed arg");
  const events = await publicClient.getContractEvents({ ...counter, eventName: "Incremented", fromBlock, toBlock });
  eq(events.map((e) => e.args.newCount), [11n, 12n], "getContractEvents");
  if (incReceipt.blockNumber > fromBlock) {
    const early = await publicClient.getLogs({ address, event, fromBlock, toBlock: incReceipt.blockNumber - 1n });
    eq(early.length, 0, "no logs before the first increment");
  }

  // --- blocks ---
  // By number: the block as it is now (sealed, or the newest view of the open block).
  const byNumber = await publicClient.getBlock({ blockNumber: receipt.blockNumber });
  eq(byNumber.number, receipt.blockNumber, "getBlock(number).number");
  check(byNumber.transactions.includes(hash), "block lists the transfer");
  // By the hash the receipt named, even if the block sealed since.
  const byHash = await publicClient.getBlock({ blockHash: receipt.blockHash, includeTransactions: true });
  eq(byHash.hash, receipt.blockHash, "getBlock(hash).hash");
  eq(byHash.number, receipt.blockNumber, "getBlock(hash).number");
  eq(byHash.transactions[receipt.transactionIndex]?.hash, hash, "the named block holds the transfer at its index");
  eq(byHash.transactions.find((t) => t.hash === hash)?.value, value, "full tx in block");
  const latest = await publicClient.getBlock();
  check(latest.number >= incReceipt2.blockNumber, "latest block >= last receipt block");
  const genesis = await publicClient.getBlock({ blockTag: "earliest" });
  eq(genesis.number, 0n, "earliest is genesis");
  check(await publicClient.getBlockTransactionCount({ blockNumber: receipt.blockNumber }) >= byNumber.transactions.length, "tx count");
  const blockNumber = await publicClient.getBlockNumber({ cacheTime: 0 });
  check(blockNumber >= latest.number, "getBlockNumber");

  // --- fees ---
  const fees = await publicClient.estimateFeesPerGas();
  check(fees.maxFeePerGas >= fees.maxPriorityFeePerGas, "estimateFeesPerGas ordering");
  eq(await publicClient.estimateGas({ account: alice, to: bob.address, value: 1n }), 21000n, "estimateGas transfer");

  console.log(`viem e2e: ${checks} checks passed`);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`viem e2e FAILED: ${e?.shortMessage ?? ""}\n${e?.stack ?? e}`);
    process.exit(1);
  },
);
