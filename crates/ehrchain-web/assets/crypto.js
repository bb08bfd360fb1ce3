// The browser's cryptography, all on WebCrypto, mirroring crates/ehrchain-crypto byte for byte:
// namespaced Ed25519 signatures (sign.rs), HPKE base-mode envelopes with DHKEM(X25519,
// HKDF-SHA256), HKDF-SHA256, AES-256-GCM (envelope.rs), STREAM AES-256-GCM records in 64 KiB
// segments (stream.rs), CIDv1 raw sha2-256 (cid.rs), and the passphrase-encrypted key backup
// kept at the node (ehrchain-node accounts.rs). crates/ehrchain-cli/tests/web.rs cross-checks
// every one of these against the Rust implementation in a real Chromium.

const subtle = globalThis.crypto.subtle;
const enc = new TextEncoder();

// ---- bytes ----------------------------------------------------------------------------------

export const utf8 = (s) => enc.encode(s);

export function concat(...parts) {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(len);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function unhex(s) {
  if (s.length % 2 !== 0 || /[^0-9a-fA-F]/.test(s)) throw new Error('not hex');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function b64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

export function unb64(s) {
  return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

export function random(n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

export async function sha256(bytes) {
  return new Uint8Array(await subtle.digest('SHA-256', bytes));
}

// ---- signatures (sign.rs): Ed25519 over u16-BE len(namespace) ‖ namespace ‖ message ---------

export function frame(namespace, message) {
  const ns = typeof namespace === 'string' ? utf8(namespace) : namespace;
  return concat(new Uint8Array([ns.length >> 8, ns.length & 0xff]), ns, message);
}

export async function sign(identity, namespace, message) {
  return new Uint8Array(await subtle.sign('Ed25519', identity.signPrivate, frame(namespace, message)));
}

// A plain Ed25519 verification of `message` as given (no ehrchain namespace framing): how the
// consensus engine's validators sign (see proof.js).
export async function verifyRaw(publicKey, message, signature) {
  const key = await subtle.importKey('raw', publicKey, 'Ed25519', false, ['verify']);
  return subtle.verify('Ed25519', key, signature, message);
}

export async function verify(publicKey, namespace, message, signature) {
  const key = await subtle.importKey('raw', publicKey, 'Ed25519', false, ['verify']);
  return subtle.verify('Ed25519', key, signature, frame(namespace, message));
}

// ---- identities ------------------------------------------------------------------------------

// PKCS#8 wrappings of a raw 32-byte Ed25519 seed / X25519 secret (RFC 8410).
const PKCS8_ED25519 = unhex('302e020100300506032b657004220420');
const PKCS8_X25519 = unhex('302e020100300506032b656e04220420');

// An identity from its two 32-byte secrets: the Ed25519 seed and the X25519 secret, the same
// bytes the Rust Identity and key files hold.
export async function identityFromSecrets(signSeed, encryptSecret) {
  const signPrivate = await subtle.importKey('pkcs8', concat(PKCS8_ED25519, signSeed), 'Ed25519', true, ['sign']);
  const encryptPrivate = await subtle.importKey('pkcs8', concat(PKCS8_X25519, encryptSecret), 'X25519', true, ['deriveBits']);
  const sj = await subtle.exportKey('jwk', signPrivate);
  const ej = await subtle.exportKey('jwk', encryptPrivate);
  return {
    signPrivate,
    encryptPrivate,
    signPublic: b64urlDecode(sj.x),
    encryptPublic: b64urlDecode(ej.x),
  };
}

export async function generateIdentity() {
  const s = await subtle.generateKey('Ed25519', true, ['sign', 'verify']);
  const e = await subtle.generateKey('X25519', true, ['deriveBits']);
  const sj = await subtle.exportKey('jwk', s.privateKey);
  const ej = await subtle.exportKey('jwk', e.privateKey);
  return identityFromSecrets(b64urlDecode(sj.d), b64urlDecode(ej.d));
}

// The two secrets, for the encrypted backup only.
export async function identitySecrets(identity) {
  const sj = await subtle.exportKey('jwk', identity.signPrivate);
  const ej = await subtle.exportKey('jwk', identity.encryptPrivate);
  return concat(b64urlDecode(sj.d), b64urlDecode(ej.d));
}

function b64urlDecode(s) {
  return unb64(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
}

// Actor ids (id.rs): the first 16 bytes of SHA-256(namespace ‖ signing key), prefixed.
export async function actorId(kind, signPublic) {
  const ns = { patient: ['ehrchain/id/patient', 'pt_'], agent: ['ehrchain/id/agent', 'ag_'] }[kind];
  const digest = await sha256(concat(utf8(ns[0]), signPublic));
  return ns[1] + hex(digest.subarray(0, 16));
}

// ---- HKDF and HPKE (RFC 5869, RFC 9180) ------------------------------------------------------

async function hmac(key, data) {
  const k = await subtle.importKey('raw', key.length ? key : new Uint8Array(32), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return new Uint8Array(await subtle.sign('HMAC', k, data));
}

const extract = (salt, ikm) => hmac(salt.length ? salt : new Uint8Array(32), ikm);

async function expand(prk, info, length) {
  // Every length HPKE asks for here is at most one SHA-256 block.
  if (length > 32) throw new Error('expand beyond one block');
  return (await hmac(prk, concat(info, new Uint8Array([1])))).subarray(0, length);
}

const HPKE_V1 = utf8('HPKE-v1');
const SUITE_KEM = concat(utf8('KEM'), new Uint8Array([0x00, 0x20]));
// kem 0x0020 DHKEM(X25519, HKDF-SHA256), kdf 0x0001 HKDF-SHA256, aead 0x0002 AES-256-GCM
const SUITE_HPKE = concat(utf8('HPKE'), new Uint8Array([0x00, 0x20, 0x00, 0x01, 0x00, 0x02]));
export const ENVELOPE_INFO = utf8('ehrchain/envelope/v1');

const labeledExtract = (suite, salt, label, ikm) => extract(salt, concat(HPKE_V1, suite, utf8(label), ikm));
const labeledExpand = (suite, prk, label, info, len) =>
  expand(prk, concat(new Uint8Array([len >> 8, len & 0xff]), HPKE_V1, suite, utf8(label), info), len);

async function x25519(privateKey, publicBytes) {
  const pub = await subtle.importKey('raw', publicBytes, 'X25519', false, []);
  return new Uint8Array(await subtle.deriveBits({ name: 'X25519', public: pub }, privateKey, 256));
}

async function sharedSecret(dh, encapsulated, recipientPublic) {
  const prk = await labeledExtract(SUITE_KEM, new Uint8Array(0), 'eae_prk', dh);
  return labeledExpand(SUITE_KEM, prk, 'shared_secret', concat(encapsulated, recipientPublic), 32);
}

async function keySchedule(shared) {
  const empty = new Uint8Array(0);
  const pskIdHash = await labeledExtract(SUITE_HPKE, empty, 'psk_id_hash', empty);
  const infoHash = await labeledExtract(SUITE_HPKE, empty, 'info_hash', ENVELOPE_INFO);
  const context = concat(new Uint8Array([0]), pskIdHash, infoHash);
  const secret = await labeledExtract(SUITE_HPKE, shared, 'secret', empty);
  const key = await labeledExpand(SUITE_HPKE, secret, 'key', context, 32);
  const nonce = await labeledExpand(SUITE_HPKE, secret, 'base_nonce', context, 12);
  return { key: await subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt', 'decrypt']), nonce };
}

// Seals a 32-byte data key to an X25519 public key, bound to `context` (the record id bytes).
// Wire form: encapsulated key (32) ‖ ciphertext (32) ‖ tag (16).
export async function sealEnvelope(recipientPublic, context, dataKey) {
  const eph = await subtle.generateKey('X25519', true, ['deriveBits']);
  const encapsulated = new Uint8Array(await subtle.exportKey('raw', eph.publicKey));
  const dh = await x25519(eph.privateKey, recipientPublic);
  const { key, nonce } = await keySchedule(await sharedSecret(dh, encapsulated, recipientPublic));
  const ct = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: context }, key, dataKey));
  return concat(encapsulated, ct);
}

export async function openEnvelope(identity, context, envelope) {
  if (envelope.length !== 80) throw new Error('an envelope is 80 bytes');
  const encapsulated = envelope.subarray(0, 32);
  const dh = await x25519(identity.encryptPrivate, encapsulated);
  const { key, nonce } = await keySchedule(await sharedSecret(dh, encapsulated, identity.encryptPublic));
  try {
    return new Uint8Array(await subtle.decrypt({ name: 'AES-GCM', iv: nonce, additionalData: context }, key, envelope.subarray(32)));
  } catch {
    throw new Error('the envelope does not open with this key');
  }
}

// ---- STREAM records (stream.rs) -------------------------------------------------------------

export const SEGMENT = 65536;
const MAGIC_VERSION = concat(utf8('EHRS'), new Uint8Array([1]));

function segmentNonce(prefix, counter, last) {
  const n = new Uint8Array(12);
  n.set(prefix, 0);
  new DataView(n.buffer).setUint32(7, counter);
  n[11] = last ? 1 : 0;
  return n;
}

export function ciphertextLength(plainLen) {
  const segments = Math.max(1, Math.ceil(plainLen / SEGMENT));
  return 12 + plainLen + 16 * segments;
}

// Encrypts a whole record. `onProgress(done, total)` is called after each segment.
export async function encryptRecord(dataKey, plaintext, onProgress, prefix = random(7)) {
  const key = await subtle.importKey('raw', dataKey, 'AES-GCM', false, ['encrypt']);
  const header = concat(MAGIC_VERSION, prefix);
  const out = new Uint8Array(ciphertextLength(plaintext.length));
  out.set(header, 0);
  let at = 12;
  const segments = Math.max(1, Math.ceil(plaintext.length / SEGMENT));
  for (let i = 0; i < segments; i++) {
    const chunk = plaintext.subarray(i * SEGMENT, Math.min((i + 1) * SEGMENT, plaintext.length));
    const sealed = new Uint8Array(await subtle.encrypt(
      { name: 'AES-GCM', iv: segmentNonce(prefix, i, i === segments - 1), additionalData: header }, key, chunk));
    out.set(sealed, at);
    at += sealed.length;
    if (onProgress) onProgress(Math.min((i + 1) * SEGMENT, plaintext.length), plaintext.length);
  }
  return out;
}

export async function decryptRecord(dataKey, ciphertext) {
  if (ciphertext.length < 12 + 16) throw new Error('ciphertext shorter than one segment');
  const header = ciphertext.subarray(0, 12);
  if (hex(header.subarray(0, 5)) !== hex(MAGIC_VERSION)) throw new Error('not an ehrchain record (bad header)');
  const prefix = header.subarray(5, 12);
  const key = await subtle.importKey('raw', dataKey, 'AES-GCM', false, ['decrypt']);
  const body = ciphertext.subarray(12);
  const sealedSeg = SEGMENT + 16;
  const segments = Math.max(1, Math.ceil(body.length / sealedSeg));
  const parts = [];
  for (let i = 0; i < segments; i++) {
    const seg = body.subarray(i * sealedSeg, Math.min((i + 1) * sealedSeg, body.length));
    try {
      parts.push(new Uint8Array(await subtle.decrypt(
        { name: 'AES-GCM', iv: segmentNonce(prefix, i, i === segments - 1), additionalData: header }, key, seg)));
    } catch {
      throw new Error('the record failed its integrity check (tampered or truncated)');
    }
  }
  return concat(...parts);
}

// Encrypts a File (or Blob) segment by segment without holding its plaintext: each 64 KiB slice
// is read, sealed and appended to a Blob that the browser may keep on disk, while the CID is
// hashed incrementally. Answers { blob, cid, length }.
export async function encryptFile(dataKey, file, onProgress, prefix = random(7)) {
  const key = await subtle.importKey('raw', dataKey, 'AES-GCM', false, ['encrypt']);
  const header = concat(MAGIC_VERSION, prefix);
  const hasher = new Sha256();
  hasher.update(header);
  let blob = new Blob([header]);
  let batch = [];
  const segments = Math.max(1, Math.ceil(file.size / SEGMENT));
  // Read 64 segments (4 MiB) at a time: one read per segment costs more than the encryption.
  let slab = new Uint8Array(0);
  let slabStart = 0;
  for (let i = 0; i < segments; i++) {
    const start = i * SEGMENT;
    const end = Math.min(start + SEGMENT, file.size);
    if (end > slabStart + slab.length || (start === 0 && slab.length === 0)) {
      slabStart = start;
      slab = new Uint8Array(await file.slice(start, Math.min(start + 64 * SEGMENT, file.size)).arrayBuffer());
    }
    const chunk = slab.subarray(start - slabStart, end - slabStart);
    const sealed = new Uint8Array(await subtle.encrypt(
      { name: 'AES-GCM', iv: segmentNonce(prefix, i, i === segments - 1), additionalData: header }, key, chunk));
    hasher.update(sealed);
    batch.push(sealed);
    if (batch.length === 64 || i === segments - 1) {
      blob = new Blob([blob, ...batch]);
      batch = [];
    }
    if (onProgress) onProgress(end, file.size);
  }
  return { blob, cid: cidFromDigest(hasher.digest()), length: blob.size };
}

// Decrypts a record as its ciphertext streams in (`chunks`: an async iterable of Uint8Array),
// keeping at most one sealed segment in memory and the plaintext in a Blob. A full segment is
// held back until more input shows it is not the last. Answers { blob, cid } (the CID of the
// ciphertext received); any tampering, truncation or reordering throws.
export async function decryptStream(dataKey, chunks, onProgress) {
  const key = await subtle.importKey('raw', dataKey, 'AES-GCM', false, ['decrypt']);
  const hasher = new Sha256();
  const sealedLen = SEGMENT + 16;
  let pending = new Uint8Array(0);
  let header = null;
  let counter = 0;
  let received = 0;
  let blob = new Blob([]);
  let batch = [];
  const open = async (seg, last) => {
    try {
      batch.push(new Uint8Array(await subtle.decrypt(
        { name: 'AES-GCM', iv: segmentNonce(header.subarray(5, 12), counter, last), additionalData: header }, key, seg)));
    } catch {
      throw new Error('the record failed its integrity check (tampered or truncated)');
    }
    counter++;
    if (batch.length === 64 || last) {
      blob = new Blob([blob, ...batch]);
      batch = [];
    }
  };
  for await (const chunk of chunks) {
    hasher.update(chunk);
    received += chunk.length;
    if (onProgress) onProgress(received);
    pending = concat(pending, chunk);
    if (!header) {
      if (pending.length < 12) continue;
      header = pending.slice(0, 12);
      if (hex(header.subarray(0, 5)) !== hex(MAGIC_VERSION)) throw new Error('not an ehrchain record (bad header)');
      pending = pending.subarray(12);
    }
    let at = 0;
    while (pending.length - at > sealedLen) {
      await open(pending.subarray(at, at + sealedLen), false);
      at += sealedLen;
    }
    pending = pending.slice(at);
  }
  if (!header || pending.length < 16) throw new Error('the record failed its integrity check (tampered or truncated)');
  await open(pending, true);
  return { blob, cid: cidFromDigest(hasher.digest()) };
}

// ---- SHA-256, incremental (FIPS 180-4) ------------------------------------------------------
// WebCrypto's digest takes one whole buffer; records are hashed as they stream instead.

const K256 = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

export class Sha256 {
  constructor() {
    // Int32Array keeps every word a small integer for the JIT (no doubles).
    this.h = Int32Array.from([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    this.buf = new Uint8Array(64);
    this.fill = 0;
    this.len = 0;
    this.w = new Int32Array(64);
  }

  update(data) {
    this.len += data.length;
    let at = 0;
    if (this.fill) {
      const take = Math.min(64 - this.fill, data.length);
      this.buf.set(data.subarray(0, take), this.fill);
      this.fill += take;
      at = take;
      if (this.fill < 64) return;
      this.blocks(this.buf, 0, 64);
      this.fill = 0;
    }
    const whole = (data.length - at) & ~63;
    if (whole) this.blocks(data, at, at + whole);
    at += whole;
    this.buf.set(data.subarray(at), 0);
    this.fill = data.length - at;
  }

  digest() {
    const bits = this.len * 8;
    const pad = new Uint8Array((this.fill < 56 ? 56 : 120) - this.fill + 8);
    pad[0] = 0x80;
    const dv = new DataView(pad.buffer);
    dv.setUint32(pad.length - 8, Math.floor(bits / 0x100000000));
    dv.setUint32(pad.length - 4, bits >>> 0);
    this.update(pad);
    const out = new Uint8Array(32);
    const ov = new DataView(out.buffer);
    for (let i = 0; i < 8; i++) ov.setInt32(4 * i, this.h[i]);
    return out;
  }

  blocks(d, from, to) {
    const w = this.w;
    const h = this.h;
    const k = K256;
    let h0 = h[0], h1 = h[1], h2 = h[2], h3 = h[3], h4 = h[4], h5 = h[5], h6 = h[6], h7 = h[7];
    for (let at = from; at < to; at += 64) {
      for (let i = 0; i < 16; i++) {
        const j = at + 4 * i;
        w[i] = (d[j] << 24) | (d[j + 1] << 16) | (d[j + 2] << 8) | d[j + 3];
      }
      for (let i = 16; i < 64; i++) {
        const x = w[i - 15];
        const y = w[i - 2];
        const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[i] = (((w[i - 16] + s0) | 0) + ((w[i - 7] + s1) | 0)) | 0;
      }
      let a = h0, b = h1, c = h2, dd = h3, e = h4, f = h5, g = h6, hh = h7;
      for (let i = 0; i < 64; i++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const ch = (e & f) ^ (~e & g);
        const t1 = (((((hh + S1) | 0) + ch) | 0) + ((k[i] + w[i]) | 0)) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const maj = (a & b) ^ (a & c) ^ (b & c);
        const t2 = (S0 + maj) | 0;
        hh = g;
        g = f;
        f = e;
        e = (dd + t1) | 0;
        dd = c;
        c = b;
        b = a;
        a = (t1 + t2) | 0;
      }
      h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + dd) | 0;
      h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + hh) | 0;
    }
    h[0] = h0; h[1] = h1; h[2] = h2; h[3] = h3; h[4] = h4; h[5] = h5; h[6] = h6; h[7] = h7;
  }
}

// ---- CIDv1, raw codec, sha2-256, base32 lower with the 'b' multibase prefix (cid.rs) --------

export async function cidOf(bytes) {
  return cidFromDigest(await sha256(bytes));
}

export function cidFromDigest(digest) {
  const multihash = concat(new Uint8Array([0x01, 0x55, 0x12, 0x20]), digest);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  let bits = 0;
  let value = 0;
  let out = 'b';
  for (const byte of multihash) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

export async function cidDigest(cid) {
  // The ledger carries the 32-byte digest of a CID; decode it back from the text form.
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  if (!cid.startsWith('b')) throw new Error('not a base32 CID');
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of cid.slice(1)) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  const bytes = Uint8Array.from(out);
  if (bytes.length !== 36 || hex(bytes.subarray(0, 4)) !== '01551220') throw new Error('unexpected CID');
  return bytes.subarray(4);
}

// ---- passphrase-encrypted key backup (ehrchain-node accounts.rs) ----------------------------

export const PBKDF2_ITERATIONS = 600000;
const BACKUP_AAD = utf8('ehrchain/web/backup/v1');

// PBKDF2-SHA-256 → master; HKDF → an auth key (sent at login; the node keeps its SHA-256)
// and a wrap key (never leaves the page).
export async function passwordKeys(password, salt, iterations) {
  const base = await subtle.importKey('raw', utf8(password), 'PBKDF2', false, ['deriveBits']);
  const master = new Uint8Array(await subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt, iterations }, base, 256));
  const hk = await subtle.importKey('raw', master, 'HKDF', false, ['deriveBits', 'deriveKey']);
  const auth = new Uint8Array(await subtle.deriveBits(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: utf8('ehrchain/web/auth') }, hk, 256));
  const wrap = await subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info: utf8('ehrchain/web/wrap') }, hk,
    { name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  return { auth, wrap, verifier: hex(await sha256(auth)) };
}

export async function sealBackup(wrap, identity) {
  const nonce = random(12);
  const secrets = await identitySecrets(identity);
  const ct = new Uint8Array(await subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: BACKUP_AAD }, wrap, secrets));
  secrets.fill(0);
  return concat(nonce, ct);
}

export async function openBackup(wrap, backup) {
  let secrets;
  try {
    secrets = new Uint8Array(await subtle.decrypt(
      { name: 'AES-GCM', iv: backup.subarray(0, 12), additionalData: BACKUP_AAD }, wrap, backup.subarray(12)));
  } catch {
    throw new Error('the key backup does not open with this password');
  }
  const id = await identityFromSecrets(secrets.subarray(0, 32), secrets.subarray(32, 64));
  secrets.fill(0);
  return id;
}
