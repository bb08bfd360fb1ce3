// What a person does, as the steps the browser takes: sign-up and login with the encrypted key
// backup, record upload (encrypt, store, anchor, seal the key to every recipient), reading
// (commit the access, open the envelope, decrypt here), grants (sign, then re-seal the keys of
// covered records to the grantee), revocation, erasure and break-glass.

import * as api from './api.js';
import {
  b64, unb64, random, unhex, hex, generateIdentity, actorId, passwordKeys, sealBackup, openBackup,
  PBKDF2_ITERATIONS, sealEnvelope, openEnvelope, encryptFile, decryptStream, cidDigest,
} from './crypto.js';
import { signTx, newId, idBytes } from './codec.js';

async function newAccountBody(login, password, identity) {
  const salt = random(16);
  const keys = await passwordKeys(password, salt, PBKDF2_ITERATIONS);
  return {
    login,
    encrypt_key: hex(identity.encryptPublic),
    salt: b64(salt),
    iterations: PBKDF2_ITERATIONS,
    verifier: keys.verifier,
    backup: b64(await sealBackup(keys.wrap, identity)),
  };
}

// Patient sign-up: keys made here, the pseudonym registered on the ledger (signed here), and
// only the password-encrypted backup stored at the node.
export async function signUpPatient(login, password, step = () => {}) {
  step('Making your keys on this device');
  const identity = await generateIdentity();
  step('Registering your pseudonym on the ledger');
  await api.submit(await signTx(identity, { kind: 'register-patient', encryptKey: identity.encryptPublic }));
  step('Storing your encrypted key backup at the node');
  const body = await newAccountBody(login, password, identity);
  const { patient } = await api.post('/v1/accounts/patient', body, identity);
  return { kind: 'patient', login, identity, patient };
}

export async function requestStaff(form) {
  const identity = await generateIdentity();
  const body = await newAccountBody(form.login, form.password, identity);
  Object.assign(body, { organisation: form.organisation, role: form.role, name: form.name, licence: form.licence });
  return api.post('/v1/accounts/staff', body, identity);
}

export async function logIn(login, password, code) {
  const params = await api.get(`/v1/accounts/login-params?login=${encodeURIComponent(login)}`);
  const keys = await passwordKeys(password, unb64(params.salt), params.iterations);
  const account = await api.post('/v1/accounts/login', { login, auth: b64(keys.auth), totp: code || null });
  const identity = await openBackup(keys.wrap, unb64(account.backup));
  if (hex(identity.signPublic) !== account.sign_key) throw new Error('the key backup does not match this account');
  return { ...account, identity };
}

// Encrypts and stores a file as a record of `patient`, authored by the logged-in person.
export async function uploadRecord(s, patient, file, category, onProgress = () => {}) {
  const recipients = (await api.get(`/v1/patients/${patient}/recipients?category=${encodeURIComponent(category)}`, s.identity)).recipients;
  const dataKey = random(32);
  onProgress('Encrypting', 0, file.size);
  // Segment by segment from the file: the whole plaintext is never in memory.
  const { blob: ciphertext, cid } = await encryptFile(dataKey, file, (d, t) => onProgress('Encrypting', d, t));
  const stored = await api.putBlob(s.identity, ciphertext, (d, t) => onProgress('Uploading', d, t));
  if (stored.cid !== cid) throw new Error(`the node stored the ciphertext as ${stored.cid}, but it hashes to ${cid}; nothing was anchored`);
  const record = newId('rec_');
  onProgress('Anchoring on the ledger', 1, 1);
  const receipt = await api.submit(await signTx(s.identity, {
    kind: 'anchor-record', record, patient, category, mediaType: file.type || 'application/octet-stream',
    size: ciphertext.size, cidDigest: await cidDigest(cid), supersedes: null,
  }));
  const context = idBytes(record, 'rec_');
  const envelopes = [];
  for (const r of recipients) {
    envelopes.push({ recipient: r.key, sealed: b64(await sealEnvelope(unhex(r.key), context, dataKey)) });
  }
  await api.post(`/v1/records/${record}/envelopes`, { envelopes }, s.identity);
  dataKey.fill(0);
  return { record, cid, receipt, recipients: recipients.length };
}

// Reads a record: the access is committed on the ledger first (permitted or denied), then the
// envelope is opened and the ciphertext decrypted in this page.
export async function openRecord(s, record, purpose, onProgress) {
  const access = await signTx(s.identity, { kind: 'access', record, purpose });
  const got = await api.readRecord(record, access);
  const key = await openEnvelope(s.identity, idBytes(record, 'rec_'), got.envelope);
  const { blob, cid } = await decryptStream(key, got.chunks, (d) => onProgress && onProgress(d, got.total));
  key.fill(0);
  if (cid !== got.cid) throw new Error('the ciphertext received does not match the record\u2019s CID; nothing is shown');
  return { ...got, plaintext: blob };
}

// Signs a grant, then re-seals the data keys of the covered existing records to the grantee.
export async function grant(s, spec) {
  const id = newId('gr_');
  const receipt = await api.submit(await signTx(s.identity, {
    kind: 'grant', grant: id, grantee: spec.grantee, categories: spec.categories, records: spec.records || [],
    mode: 'read', purpose: spec.purpose, notBefore: spec.notBefore, expires: spec.expires,
  }));
  if (spec.append) {
    // A separate grant: one grant has one mode. Revoking the read grant leaves this one.
    await api.submit(await signTx(s.identity, {
      kind: 'grant', grant: newId('gr_'), grantee: spec.grantee, categories: spec.categories, records: spec.records || [],
      mode: 'append', purpose: spec.purpose, notBefore: spec.notBefore, expires: spec.expires,
    }));
  }
  const g = spec.grantee;
  const key = g.kind === 'agent'
    ? (await api.get(`/v1/agents/${g.id}`)).encrypt_key
    : (await api.get(`/v1/organisations/${g.kind === 'role' ? g.organisation : g.id}`)).encrypt_key;
  const records = (await api.get(`/v1/patients/${s.patient}/records`, s.identity)).records;
  let resealed = 0;
  for (const r of records) {
    if (r.erased !== null) continue;
    if (!(spec.records || []).includes(r.id) && !spec.categories.some((c) => covers(c, r.category))) continue;
    const access = await signTx(s.identity, { kind: 'access', record: r.id, purpose: spec.purpose });
    const { envelope } = await api.readRecord(r.id, access, true);
    const context = idBytes(r.id, 'rec_');
    const dataKey = await openEnvelope(s.identity, context, envelope);
    const sealed = await sealEnvelope(unhex(key), context, dataKey);
    dataKey.fill(0);
    await api.post(`/v1/records/${r.id}/envelopes`, { envelopes: [{ recipient: key, sealed: b64(sealed) }] }, s.identity);
    resealed++;
  }
  return { id, receipt, resealed };
}

// CategoryPattern::covers (vocab.rs): '*', a type, a code, or type/code.
export function covers(pattern, category) {
  if (pattern === '*') return true;
  const [type, code] = category.split('/');
  if (pattern.includes('/')) return pattern === category;
  return pattern === type || pattern === code;
}

export async function revoke(s, grantId) {
  return api.submit(await signTx(s.identity, { kind: 'revoke', grant: grantId }));
}

export async function erase(s, record) {
  return api.submit(await signTx(s.identity, { kind: 'erase-request', record }));
}

export async function breakGlass(s, patient, reason, durationSecs) {
  return api.submit(await signTx(s.identity, { kind: 'break-glass', patient, reason, durationSecs }));
}

// An org admin ends a staff member's registration (the ledger checks the signer administers
// the organisation). Their node account can no longer log in.
export async function revokeAgent(s, agent) {
  return api.submit(await signTx(s.identity, { kind: 'revoke-agent', agent }));
}

// A public-health officer or researcher releases population counts: the request is committed
// and charged to their privacy budget before the node computes noisy, suppressed cells.
export async function populationCounts(s, spec) {
  return api.aggregate(await signTx(s.identity, { kind: 'release-aggregate', ...spec }));
}

export { actorId };
