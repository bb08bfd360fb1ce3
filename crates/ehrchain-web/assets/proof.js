// Checks a transaction's inclusion proof in the browser, without trusting the node that served
// it (mirrors crates/ehrchain-ledger proof.rs and merkle.rs): the header is signed by a quorum of
// the validators the auditor trusts, the transaction (whose hash is the id asked about) sits at
// its index under the header's transaction root, and its receipt under the receipts root
// (RFC 6962 hashing: leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ left ‖ right)).

import { concat, sha256, hex, unhex, unb64, verify, utf8 } from './crypto.js';

const HEADER_LEN = 180; // height 8, prev 32, time 8, tx_count 4, tx_root, receipts_root, state_root, proposer (32 each)

const leafHash = (data) => sha256(concat(new Uint8Array([0]), data));
const nodeHash = (l, r) => sha256(concat(new Uint8Array([1]), l, r));

export async function verifyPath(leaf, index, size, path, root) {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return false;
    if ((fn & 1) === 1 || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1) === 0) {
        while ((fn & 1) === 0 && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && hex(r) === hex(root);
}

// `parts` as /v1/tx/{id}/proof answers them; `validators` are hex Ed25519 keys the auditor
// trusts. Answers every check by name, and `ok` only if all of them hold.
export async function verifyInclusion(txId, index, parts, validators) {
  const header = unb64(parts.header);
  const checks = [];
  const add = (name, ok) => checks.push({ name, ok: Boolean(ok) });
  add('header has the expected length', header.length === HEADER_LEN);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const height = Number(view.getBigUint64(0));
  const txCount = view.getUint32(48);
  const txRoot = header.subarray(52, 84);
  const receiptsRoot = header.subarray(84, 116);
  const headerHash = await sha256(header);

  const signers = new Set();
  for (const v of parts.votes) {
    if (!validators.includes(v.validator) || signers.has(v.validator)) continue;
    try {
      if (await verify(unhex(v.validator), utf8('ehrchain/block'), headerHash, unhex(v.signature))) signers.add(v.validator);
    } catch {
      /* a malformed key or signature counts for nothing */
    }
  }
  add(`header signed by ${signers.size} of ${validators.length} trusted validator(s) (more than two thirds needed)`, 3 * signers.size > 2 * validators.length);

  const tx = unb64(parts.tx);
  add('the transaction hashes to the id asked about', tx.length > 64 && hex(await sha256(tx.subarray(0, tx.length - 64))) === txId);
  add(`the transaction is at position ${index} under the header's transaction root`,
    await verifyPath(await leafHash(tx), index, txCount, parts.tx_path.map(unhex), txRoot));
  add(`its receipt is at position ${index} under the header's receipts root`,
    await verifyPath(await leafHash(unb64(parts.receipt)), index, txCount, parts.receipt_path.map(unhex), receiptsRoot));
  return { ok: checks.every((c) => c.ok), height, checks };
}
