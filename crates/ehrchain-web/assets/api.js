// Talking to the node: JSON calls, signed requests (x-ehr-auth, auth.rs), transactions as
// canonical bytes, and record upload/read. Errors carry the API's stable code and a sentence
// saying what to do next.

import { hex, sha256, sign, utf8, unb64, b64 } from './crypto.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// What to do next, by error code; the node's own message is kept after it.
const NEXT = {
  access_denied: 'You do not have access to this record (no live grant covers it). Ask the patient for a grant, or declare break-glass in an emergency.',
  bad_credentials: 'Check the login name, password and (for staff) the 6-digit code, then try again.',
  locked: 'Too many failed attempts. Wait one minute, then try again.',
  pending_approval: 'Your request is waiting for your organisation\u2019s administrator. Try again after they approve it.',
  revoked: 'This staff account was revoked by your organisation. Ask your administrator.',
  login_taken: 'That login name is taken. Choose another one.',
  unauthorised: 'Your session could not be verified. Check this device\u2019s clock, then log in again.',
  replay: 'This action was already submitted. Refresh the page to see its result.',
  overloaded: 'The node is busy. Wait a few seconds and try again.',
  not_authorised: 'The ledger refused: adding records for a patient needs their grant to add records of this kind, or a declared break-glass. Ask the patient.',
  no_envelope: 'The record key has not been shared with you yet. Ask the patient to grant again.',
  privacy_budget_exhausted: 'Your privacy budget for population counts is used up; no further counts can be released to you.',
  bad_epsilon: 'Choose a privacy loss (epsilon) above 0 and at most 1.',
};

export function explain(err) {
  if (err instanceof ApiError) {
    const next = NEXT[err.code];
    return next ? `${next} (${err.code}: ${err.message})` : `${err.message} (${err.code})`;
  }
  // fetch rejects with a TypeError only when the request could not be made at all.
  if (err instanceof TypeError && /fetch|network/i.test(err.message)) {
    return 'The node could not be reached. Check that it is running and your connection, then try again.';
  }
  return err.message || String(err);
}

async function check(resp) {
  if (resp.ok) return resp;
  let body = null;
  try {
    body = await resp.json();
  } catch {
    /* not JSON */
  }
  const e = body && (body.error || {});
  throw new ApiError(resp.status, (e && e.code) || `http_${resp.status}`, (e && e.message) || `HTTP ${resp.status}`);
}

export async function authHeader(identity, method, pathAndQuery, bodyHash) {
  const ms = Date.now();
  const msg = utf8(`${method}\n${pathAndQuery}\n${ms}\n${bodyHash}`);
  const sig = await sign(identity, 'ehrchain/http', msg);
  return `${hex(identity.signPublic)}.${ms}.${hex(sig)}`;
}

export async function get(path, identity) {
  const headers = {};
  if (identity) headers['x-ehr-auth'] = await authHeader(identity, 'GET', path, hex(await sha256(new Uint8Array(0))));
  const resp = await check(await fetch(path, { headers }));
  return resp.json();
}

export async function post(path, body, identity) {
  const bytes = utf8(JSON.stringify(body));
  const headers = { 'content-type': 'application/json' };
  if (identity) headers['x-ehr-auth'] = await authHeader(identity, 'POST', path, hex(await sha256(bytes)));
  const resp = await check(await fetch(path, { method: 'POST', headers, body: bytes }));
  return resp.status === 204 ? null : resp.json();
}

// Submits signed transaction bytes and waits for the receipt; a ledger rejection throws.
export async function submit(signedTx) {
  const resp = await check(await fetch('/v1/tx', {
    method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: signedTx,
  }));
  return resp.json();
}

// Sends a signed release of population counts; answers the noisy cells (never true counts).
export async function aggregate(signedTx) {
  const resp = await check(await fetch('/v1/aggregates', {
    method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: signedTx,
  }));
  return resp.json();
}

// Uploads ciphertext with progress (fetch cannot report upload progress; XHR can).
export async function putBlob(identity, ciphertext, onProgress) {
  const auth = await authHeader(identity, 'POST', '/v1/blobs', 'UNSIGNED-PAYLOAD');
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/blobs');
    xhr.setRequestHeader('x-ehr-auth', auth);
    xhr.setRequestHeader('content-type', 'application/octet-stream');
    xhr.upload.onprogress = (e) => onProgress && onProgress(e.loaded, e.total);
    xhr.onerror = () => reject(new TypeError('network error'));
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        /* not JSON */
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else {
        const e = (body && body.error) || {};
        reject(new ApiError(xhr.status, e.code || `http_${xhr.status}`, e.message || `HTTP ${xhr.status}`));
      }
    };
    xhr.send(ciphertext);
  });
}

// Sends a signed access transaction; answers the envelope, the headers and the ciphertext as a
// stream of chunks. The node sends only ciphertext: decryption happens in the page.
export async function readRecord(record, accessTx, envelopeOnly = false) {
  const q = envelopeOnly ? '?envelope_only=true' : '';
  const resp = await check(await fetch(`/v1/records/${record}/read${q}`, {
    method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: accessTx,
  }));
  if (envelopeOnly) {
    const j = await resp.json();
    return { envelope: unb64(j.envelope), accessTx: j.access_tx };
  }
  const h = (n) => resp.headers.get(n);
  const total = Number(h('x-ehr-size')) || 0;
  const reader = resp.body.getReader();
  // The ciphertext as it arrives, for the caller to decrypt as it streams.
  async function* chunks() {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      yield value;
    }
  }
  return {
    chunks: chunks(),
    total,
    envelope: unb64(h('x-ehr-envelope')),
    accessTx: h('x-ehr-access-tx'),
    basis: JSON.parse(h('x-ehr-basis') || 'null'),
    cid: h('x-ehr-cid'),
    category: h('x-ehr-category'),
    mediaType: h('x-ehr-media-type'),
  };
}

export { b64 };
