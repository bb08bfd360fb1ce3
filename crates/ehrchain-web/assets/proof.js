// Checks a transaction's inclusion proof in the browser, without trusting the node that served
// it (mirrors crates/ehrchain-ledger proof.rs and merkle.rs, and ehrchain-consensus's
// EngineCheck): the header is certified by a quorum of the validators the auditor trusts (their
// consensus finalization of the header hash, or votes over it), the transaction (whose hash is the id asked about) sits at
// its index under the header's transaction root, and its receipt under the receipts root
// (RFC 6962 hashing: leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ left ‖ right)).

import { concat, sha256, hex, unhex, unb64, verify, verifyRaw, utf8 } from './crypto.js';

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

// Unsigned LEB128, as the engine encodes lengths, epochs and views.
function varint(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return new Uint8Array(out);
}

// Reads `count` LEB128 varints from the front of `bytes`; the offset after them, or -1.
function skipVarints(bytes, count) {
  let at = 0;
  for (let k = 0; k < count; k++) {
    let len = 0;
    while (at < bytes.length && (bytes[at] & 0x80) !== 0 && len < 10) { at++; len++; }
    if (at >= bytes.length || len >= 10) return -1;
    at++;
  }
  return at;
}

// The consensus engine's finalization: each validator signed, with plain Ed25519,
// varint(len(ns)) ‖ ns ‖ proposal, ns = "ehrchain/consensus/<chain id>_FINALIZE", and the
// proposal (epoch, view, parent view as varints, then the payload) names this header's hash.
async function finalizationSigners(fin, chainId, headerHash, validators) {
  const proposal = unhex(fin.proposal);
  const at = skipVarints(proposal, 3);
  if (at < 0 || proposal.length !== at + 32 || hex(proposal.subarray(at)) !== hex(headerHash)) return null;
  const ns = utf8(`ehrchain/consensus/${chainId}_FINALIZE`);
  const message = concat(varint(ns.length), ns, proposal);
  const signers = new Set();
  for (const s of fin.signatures) {
    if (!validators.includes(s.validator) || signers.has(s.validator)) continue;
    try {
      if (await verifyRaw(unhex(s.validator), message, unhex(s.signature))) signers.add(s.validator);
    } catch {
      /* a malformed key or signature counts for nothing */
    }
  }
  return signers;
}

// `parts` as /v1/tx/{id}/proof answers them; `validators` are hex Ed25519 keys the auditor
// trusts and `chainId` the chain they validate. Answers every check by name, and `ok` only if
// all of them hold.
export async function verifyInclusion(txId, index, parts, validators, chainId) {
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

  let signers = new Set();
  if (parts.finalization) {
    const found = await finalizationSigners(parts.finalization, chainId, headerHash, validators);
    add('the consensus finalization names this header', found !== null);
    signers = found || new Set();
  } else {
    for (const v of parts.votes) {
      if (!validators.includes(v.validator) || signers.has(v.validator)) continue;
      try {
        if (await verify(unhex(v.validator), utf8('ehrchain/block'), headerHash, unhex(v.signature))) signers.add(v.validator);
      } catch {
        /* a malformed key or signature counts for nothing */
      }
    }
  }
  add(`header certified by ${signers.size} of ${validators.length} trusted validator(s) (more than two thirds needed)`, 3 * signers.size > 2 * validators.length);

  const tx = unb64(parts.tx);
  add('the transaction hashes to the id asked about', tx.length > 64 && hex(await sha256(tx.subarray(0, tx.length - 64))) === txId);
  add(`the transaction is at position ${index} under the header's transaction root`,
    await verifyPath(await leafHash(tx), index, txCount, parts.tx_path.map(unhex), txRoot));
  add(`its receipt is at position ${index} under the header's receipts root`,
    await verifyPath(await leafHash(unb64(parts.receipt)), index, txCount, parts.receipt_path.map(unhex), receiptsRoot));
  return { ok: checks.every((c) => c.ok), height, checks };
}
