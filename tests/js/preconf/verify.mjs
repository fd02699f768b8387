// Independent check of Peregrine preconfirmations with generic Ethereum libraries.
//
//   node tests/js/preconf/verify.mjs [--vectors VECTORS.json] PRECONF.json...
//
// For each preconfirmation (the JSON form written by `peregrine-preconf`):
//   - viem's recoverTypedDataAddress({...typedData, signature}) must give the dev sequencer
//     address, itself derived here from keccak256("peregrine.dev.sequencer"); the same with
//     `types.EIP712Domain` removed (as ethers wants it);
//   - @openzeppelin/merkle-tree's StandardMerkleTree.verify must accept the transaction proof
//     (leaf encoding ['uint256', 'bytes32']) against message.transactionsRoot and the receipt
//     proof (['uint256', 'bytes32', 'bool', 'uint256', 'uint256', 'bytes32']) against
//     message.receiptsRoot;
//   - negative controls: a changed message field, gas used or index must fail.
// With --vectors: account-diff leaves, their storage hashes and proofs, and logs hashes,
// recomputed with viem (ABI encoding, RLP, keccak256) and OpenZeppelin.
//
// Prints "ok FILE" per file and exits non-zero on the first failure.

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import {
  encodeAbiParameters,
  getAddress,
  keccak256,
  recoverTypedDataAddress,
  toBytes,
  toRlp,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';

const DEV_ADDRESS = '0xEB25E6d7f8118b1E24dD5Eff177Cea2110736076';
const TX_ENCODING = ['uint256', 'bytes32'];
const RECEIPT_ENCODING = ['uint256', 'bytes32', 'bool', 'uint256', 'uint256', 'bytes32'];
const ACCOUNT_ENCODING = ['address', 'bool', 'uint256', 'uint256', 'bytes32', 'bool', 'bytes32'];

function check(condition, message) {
  if (!condition) throw new Error(message);
}

const dev = privateKeyToAccount(keccak256(toBytes('peregrine.dev.sequencer'))).address;
check(dev === DEV_ADDRESS, `dev key derives ${dev}, the crate documents ${DEV_ADDRESS}`);

async function recover(typedData, signature) {
  return getAddress(await recoverTypedDataAddress({ ...typedData, signature }));
}

function txValues(p) {
  return [p.transaction.index, p.transaction.hash];
}

function receiptValues(p) {
  const r = p.receipt;
  return [p.transaction.index, p.transaction.hash, r.success, r.gasUsed, r.cumulativeGasUsed, r.logsHash];
}

async function checkPreconfirmation(p) {
  const { typedData, signature } = p;
  const message = typedData.message;

  // As written: EIP712Domain included in `types`.
  check((await recover(typedData, signature)) === dev, 'viem recovers another signer');
  // Without EIP712Domain (viem derives it from the domain).
  const { EIP712Domain, ...types } = typedData.types;
  check(EIP712Domain !== undefined, 'types.EIP712Domain missing');
  check(
    (await recover({ ...typedData, types }, signature)) === dev,
    'viem recovers another signer once types.EIP712Domain is removed',
  );

  check(
    StandardMerkleTree.verify(message.transactionsRoot, TX_ENCODING, txValues(p), p.proofs.transaction),
    'transaction proof rejected by StandardMerkleTree.verify',
  );
  check(
    StandardMerkleTree.verify(message.receiptsRoot, RECEIPT_ENCODING, receiptValues(p), p.proofs.receipt),
    'receipt proof rejected by StandardMerkleTree.verify',
  );

  // Negative controls: the checks above are not vacuous.
  const tampered = { ...typedData, message: { ...message, blockNumber: message.blockNumber + 1 } };
  check((await recover(tampered, signature)) !== dev, 'a changed blockNumber still recovers the sequencer');
  const badReceipt = receiptValues(p);
  badReceipt[3] += 1;
  check(
    !StandardMerkleTree.verify(message.receiptsRoot, RECEIPT_ENCODING, badReceipt, p.proofs.receipt),
    'a changed gasUsed still verifies',
  );
  const badTx = txValues(p);
  badTx[0] += 1;
  check(
    !StandardMerkleTree.verify(message.transactionsRoot, TX_ENCODING, badTx, p.proofs.transaction),
    'a changed index still verifies',
  );
}

function checkVectors(v) {
  for (const a of v.accounts) {
    const storageHash = keccak256(
      encodeAbiParameters(
        [{ type: 'uint256[]' }, { type: 'uint256[]' }],
        [a.slots.map(BigInt), a.values.map(BigInt)],
      ),
    );
    check(storageHash === a.storageHash, `storageHash of ${a.address}: ${storageHash} != ${a.storageHash}`);
    const values = [a.address, a.deleted, a.nonce, a.balance, a.codeHash, a.storageCleared, storageHash];
    // With an empty proof the root must be the leaf itself: StandardMerkleTree's leaf hash.
    check(StandardMerkleTree.verify(a.leaf, ACCOUNT_ENCODING, values, []), `leaf of ${a.address}`);
    check(
      StandardMerkleTree.verify(v.stateDiffRoot, ACCOUNT_ENCODING, values, a.proof),
      `state diff proof of ${a.address}`,
    );
  }
  for (const { logs, hash } of v.logs) {
    const rlp = toRlp(logs.map((l) => [l.address.toLowerCase(), l.topics, l.data]));
    check(keccak256(rlp) === hash, `logs hash of ${logs.length} logs: ${keccak256(rlp)} != ${hash}`);
  }
}

const args = process.argv.slice(2);
let count = 0;
try {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--vectors') {
      const file = args[++i];
      checkVectors(JSON.parse(readFileSync(file, 'utf8')));
      console.log(`ok ${basename(file)}`);
      continue;
    }
    await checkPreconfirmation(JSON.parse(readFileSync(args[i], 'utf8')));
    console.log(`ok ${basename(args[i])}`);
    count++;
  }
} catch (e) {
  console.error(`FAILED: ${e.message}`);
  process.exit(1);
}
check(count > 0, 'no preconfirmation given');
console.log(`${count} preconfirmations verified (signer ${dev})`);
