// The canonical transaction encoding, mirroring crates/ehrchain-types (codec.rs, tx.rs, id.rs,
// vocab.rs): big-endian fixed-width integers, u32-length-prefixed bytes and strings, one tag byte
// per enum variant. Only the kinds a browser signs are here. The Rust test
// crates/ehrchain-cli/tests/web.rs checks these bytes are identical to Rust's for the same values.

import { concat, hex, unhex, utf8, sign, random } from './crypto.js';

export class Encoder {
  constructor() {
    this.parts = [];
  }
  u8(v) {
    this.parts.push(new Uint8Array([v]));
  }
  u32(v) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v);
    this.parts.push(b);
  }
  u64(v) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v));
    this.parts.push(b);
  }
  fixed(bytes) {
    this.parts.push(bytes);
  }
  bytes(bytes) {
    this.u32(bytes.length);
    this.parts.push(bytes);
  }
  str(s) {
    this.bytes(utf8(s));
  }
  option(v, f) {
    if (v === null || v === undefined) this.u8(0);
    else {
      this.u8(1);
      f(v);
    }
  }
  seq(items, f) {
    this.u32(items.length);
    items.forEach(f);
  }
  finish() {
    return concat(...this.parts);
  }
}

// Ids in text form `pt_…`, `ag_…`, `org_…`, `rec_…`, `gr_…` → their 16 bytes.
export function idBytes(id, prefix) {
  if (!id.startsWith(prefix)) throw new Error(`expected an id starting with ${prefix}`);
  const b = unhex(id.slice(prefix.length));
  if (b.length !== 16) throw new Error(`${id} is not a valid id`);
  return b;
}

export const newId = (prefix) => prefix + hex(random(16));

export const ROLES = ['doctor', 'nurse', 'lab-technician', 'pharmacist', 'insurer-officer', 'public-health-officer', 'researcher', 'org-admin'];
export const PURPOSES = ['treatment', 'payment', 'research', 'public-health', 'emergency'];
export const MODES = ['read', 'append'];

function tag(list, value, what) {
  const i = list.indexOf(value);
  if (i < 0) throw new Error(`unknown ${what} ${value}`);
  return i + 1;
}

const KINDS = {
  'revoke-agent': 3,
  'register-patient': 4,
  'anchor-record': 5,
  grant: 6,
  revoke: 7,
  'break-glass': 8,
  access: 9,
  'erase-request': 10,
  'release-aggregate': 13,
};

// A population count's breakdown: its tag, and whether it names cells.
const GROUP_BY = { total: [1, false], 'age-band': [2, false], region: [3, true], condition: [4, true] };

// The canonical bytes of an unsigned transaction {signer (32 bytes), nonce (BigInt), body}.
export function encodeTx(tx) {
  const e = new Encoder();
  e.fixed(tx.signer);
  e.u64(tx.nonce);
  const b = tx.body;
  const kind = KINDS[b.kind];
  if (!kind) throw new Error(`the browser does not sign ${b.kind} transactions`);
  e.u8(kind);
  switch (b.kind) {
    case 'revoke-agent':
      e.fixed(idBytes(b.agent, 'ag_'));
      break;
    case 'register-patient':
      e.fixed(b.encryptKey);
      break;
    case 'anchor-record':
      e.fixed(idBytes(b.record, 'rec_'));
      e.fixed(idBytes(b.patient, 'pt_'));
      e.str(b.category);
      e.str(b.mediaType);
      e.u64(b.size);
      e.fixed(b.cidDigest);
      e.option(b.supersedes, (s) => e.fixed(idBytes(s, 'rec_')));
      break;
    case 'grant': {
      e.fixed(idBytes(b.grant, 'gr_'));
      const g = b.grantee;
      if (g.kind === 'agent') {
        e.u8(1);
        e.fixed(idBytes(g.id, 'ag_'));
      } else if (g.kind === 'organisation') {
        e.u8(2);
        e.fixed(idBytes(g.id, 'org_'));
      } else {
        e.u8(3);
        e.fixed(idBytes(g.organisation, 'org_'));
        e.u8(tag(ROLES, g.role, 'role'));
      }
      e.seq(b.categories, (c) => e.str(c));
      e.seq(b.records, (r) => e.fixed(idBytes(r, 'rec_')));
      e.u8(tag(MODES, b.mode, 'mode'));
      e.u8(tag(PURPOSES, b.purpose, 'purpose'));
      e.u64(b.notBefore);
      e.u64(b.expires);
      break;
    }
    case 'revoke':
      e.fixed(idBytes(b.grant, 'gr_'));
      break;
    case 'break-glass':
      e.fixed(idBytes(b.patient, 'pt_'));
      e.str(b.reason);
      e.u32(b.durationSecs);
      break;
    case 'access':
      e.fixed(idBytes(b.record, 'rec_'));
      e.u8(tag(PURPOSES, b.purpose, 'purpose'));
      break;
    case 'erase-request':
      e.fixed(idBytes(b.record, 'rec_'));
      break;
    case 'release-aggregate': {
      e.u8(tag(PURPOSES, b.purpose, 'purpose'));
      e.option(b.condition || null, (c) => e.str(c));
      const [t, named] = GROUP_BY[b.groupBy] || [];
      if (!t) throw new Error(`unknown breakdown ${b.groupBy}`);
      e.u8(t);
      if (named) e.seq(b.cells, (c) => e.str(c));
      e.u32(b.epsilonMilli);
      break;
    }
  }
  return e.finish();
}

export const namespaceOf = (kind) => `ehrchain/tx/${kind}`;

export function randomNonce() {
  return new DataView(random(8).buffer).getBigUint64(0);
}

// Signs a transaction body as `identity`: the SignedTx bytes (transaction ‖ 64-byte signature).
export async function signTx(identity, body, nonce = randomNonce()) {
  const bytes = encodeTx({ signer: identity.signPublic, nonce, body });
  const signature = await sign(identity, namespaceOf(body.kind), bytes);
  return concat(bytes, signature);
}
