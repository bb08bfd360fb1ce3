// The browser half of the crypto cross-test (crates/ehrchain-cli/tests/web.rs): loads the UI's
// own modules in headless Chromium from a real node, runs them on values the Rust side made, and
// makes values for the Rust side to check. Prints one JSON object; judges nothing itself.
//
// usage: node crypto.mjs <node url> <fixtures.json>

import { readFileSync } from 'node:fs';
import { launch } from './harness.mjs';

const [url, fixturesPath] = process.argv.slice(2);
const fixtures = JSON.parse(readFileSync(fixturesPath, 'utf8'));

const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(`${url}/ui/selftest.html`);
  const out = await page.evaluate(async (fx) => {
    const c = await import('/ui/crypto.js');
    const codec = await import('/ui/codec.js');
    const api = await import('/ui/api.js');
    const r = {};
    const attempt = async (f) => {
      try {
        return { ok: await f() };
      } catch (e) {
        return { error: String(e.message || e) };
      }
    };

    // Rust's identity, rebuilt from its secrets.
    const id = await c.identityFromSecrets(c.unhex(fx.sign_seed), c.unhex(fx.encrypt_secret));
    r.sign_public = c.hex(id.signPublic);
    r.encrypt_public = c.hex(id.encryptPublic);
    r.patient_id = await c.actorId('patient', id.signPublic);
    r.agent_id = await c.actorId('agent', id.signPublic);

    // Transactions: encode and sign the same values Rust encoded and signed.
    r.txs = [];
    for (const t of fx.txs) {
      const body = { ...t.body };
      for (const k of ['encryptKey', 'cidDigest']) if (body[k]) body[k] = c.unhex(body[k]);
      const bytes = codec.encodeTx({ signer: id.signPublic, nonce: BigInt(t.nonce), body });
      const signed = await codec.signTx(id, body, BigInt(t.nonce));
      r.txs.push({ kind: body.kind, bytes: c.hex(bytes), signed: c.hex(signed) });
    }

    // Rust-sealed envelope and Rust-encrypted record, opened here.
    const ctx = c.unhex(fx.record_id);
    r.opened_key = c.hex(await c.openEnvelope(id, ctx, c.unb64(fx.rust_envelope)));
    const ct = c.unb64(fx.rust_ciphertext);
    r.rust_ciphertext_cid = await c.cidOf(ct);
    r.rust_plaintext_sha256 = c.hex(await c.sha256(await c.decryptRecord(c.unhex(fx.rust_data_key), ct)));

    // Tampering must fail: a flipped envelope byte, a flipped ciphertext byte, a dropped segment.
    const badEnv = c.unb64(fx.rust_envelope);
    badEnv[40] ^= 1;
    r.tampered_envelope = await attempt(() => c.openEnvelope(id, ctx, badEnv));
    const wrongCtx = ctx.slice();
    wrongCtx[0] ^= 1;
    r.wrong_context = await attempt(() => c.openEnvelope(id, wrongCtx, c.unb64(fx.rust_envelope)));
    const badCt = ct.slice();
    badCt[100] ^= 1;
    r.tampered_ciphertext = await attempt(() => c.decryptRecord(c.unhex(fx.rust_data_key), badCt));
    r.truncated_ciphertext = await attempt(() => c.decryptRecord(c.unhex(fx.rust_data_key), ct.subarray(0, 12 + 65536 + 16)));

    // Streaming: the incremental SHA-256 equals WebCrypto's on awkward lengths and chunkings;
    // the Rust record decrypts as a stream of 7000-byte chunks (and fails truncated or tampered).
    r.sha256_mismatches = [];
    for (const len of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 200000]) {
      const data = c.random(Math.min(len, 65536));
      const full = len > 65536 ? c.concat(data, data, data, c.random(len - 3 * 65536)) : data;
      const h = new c.Sha256();
      for (let at = 0; at < full.length;) {
        const step = 1 + ((at * 31) % 97);
        h.update(full.subarray(at, at + step));
        at += step;
      }
      if (c.hex(h.digest()) !== c.hex(await c.sha256(full))) r.sha256_mismatches.push(len);
    }
    async function* chunked(bytes, n) {
      for (let at = 0; at < bytes.length; at += n) yield bytes.subarray(at, at + n);
    }
    const streamed = await c.decryptStream(c.unhex(fx.rust_data_key), chunked(ct, 7000));
    r.stream_plaintext_sha256 = c.hex(await c.sha256(new Uint8Array(await streamed.blob.arrayBuffer())));
    r.stream_cid = streamed.cid;
    r.stream_truncated = await attempt(() => c.decryptStream(c.unhex(fx.rust_data_key), chunked(ct.subarray(0, ct.length - 1), 7000)));
    r.stream_tampered = await attempt(() => c.decryptStream(c.unhex(fx.rust_data_key), chunked(badCt, 7000)));
    r.stream_segment_dropped = await attempt(() => c.decryptStream(c.unhex(fx.rust_data_key),
      chunked(c.concat(ct.subarray(0, 12), ct.subarray(12 + 65552)), 7000)));

    // Made here, for Rust to open.
    const plain = new Uint8Array(fx.browser_plain_len);
    for (let i = 0; i < plain.length; i++) plain[i] = (i * 7) % 251;
    const key = c.unhex(fx.browser_data_key);
    r.browser_ciphertext = c.b64(await c.encryptRecord(key, plain));
    r.browser_envelope = c.b64(await c.sealEnvelope(c.unhex(fx.encrypt_public), ctx, key));
    const fromFile = await c.encryptFile(key, new File([plain], 'x.bin'));
    r.browser_file_ciphertext = c.b64(new Uint8Array(await fromFile.blob.arrayBuffer()));
    r.browser_file_cid = fromFile.cid;
    const empty = await c.encryptFile(key, new File([], 'empty.txt'));
    r.browser_empty_ciphertext = c.b64(new Uint8Array(await empty.blob.arrayBuffer()));
    r.auth_header = await api.authHeader(id, 'GET', fx.auth_path, c.hex(await c.sha256(new Uint8Array(0))));

    // A browser-generated identity, for Rust to rebuild from its secrets.
    const g = await c.generateIdentity();
    r.generated = {
      secrets: c.hex(await c.identitySecrets(g)),
      sign_public: c.hex(g.signPublic),
      encrypt_public: c.hex(g.encryptPublic),
    };
    // The password backup round-trips, and a wrong password does not open it.
    const salt = c.random(16);
    const k1 = await c.passwordKeys('correct horse battery staple', salt, 1000);
    const backup = await c.sealBackup(k1.wrap, g);
    const back = await c.openBackup((await c.passwordKeys('correct horse battery staple', salt, 1000)).wrap, backup);
    r.backup_roundtrip = c.hex(back.signPublic) === r.generated.sign_public && c.hex(back.encryptPublic) === r.generated.encrypt_public;
    r.backup_wrong_password = await attempt(async () => c.openBackup((await c.passwordKeys('wrong', salt, 1000)).wrap, backup));
    r.verifier_is_sha256_of_auth = k1.verifier === c.hex(await c.sha256(k1.auth));
    return r;
  }, fixtures);
  console.log(JSON.stringify(out));
} finally {
  await browser.close();
}
