// Measures the browser's cryptography in headless Chromium on this machine: STREAM encryption
// and decryption throughput (WebCrypto AES-256-GCM, 64 KiB segments), whole-buffer and as the UI
// streams them (File slices in, Blobs out, incremental SHA-256 for the CID), an HPKE seal + open,
// and the PBKDF2 login derivation. A measurement, not a test: it prints numbers and judges nothing.
//
// usage: node measure.mjs <node url> [record MiB, default 64]

import { launch } from './harness.mjs';

const [url, mib = '64'] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage();
  await page.goto(`${url}/ui/selftest.html`);
  const r = await page.evaluate(async (n) => {
    const c = await import('/ui/crypto.js');
    const plain = new Uint8Array(n * 1048576);
    for (let i = 0; i < plain.length; i += 65536) plain.set(c.random(Math.min(65536, plain.length - i)), i);
    const key = c.random(32);
    const best = async (f, runs = 3) => {
      let min = Infinity;
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        await f();
        min = Math.min(min, performance.now() - t);
      }
      return min;
    };
    let ct;
    const enc = await best(async () => { ct = await c.encryptRecord(key, plain); });
    const dec = await best(() => c.decryptRecord(key, ct));
    // The streaming paths the UI uses: from a File, into Blobs, hashing incrementally.
    const file = new File([plain], 'record.bin');
    let streamed;
    const encFile = await best(async () => { streamed = await c.encryptFile(key, file); });
    const ctBytes = new Uint8Array(await streamed.blob.arrayBuffer());
    async function* chunks() {
      for (let at = 0; at < ctBytes.length; at += 65536) yield ctBytes.subarray(at, at + 65536);
    }
    const decStream = await best(() => c.decryptStream(key, chunks()));
    const sha = await best(async () => { const h = new c.Sha256(); h.update(ctBytes); h.digest(); });
    const id = await c.generateIdentity();
    const ctx = c.random(16);
    const hpke = await best(async () => c.openEnvelope(id, ctx, await c.sealEnvelope(id.encryptPublic, ctx, key)), 20);
    const pbkdf2 = await best(() => c.passwordKeys('correct horse battery staple', c.random(16), c.PBKDF2_ITERATIONS));
    return { mib: n, encrypt_ms: enc, decrypt_ms: dec, encrypt_mb_s: n / (enc / 1000), decrypt_mb_s: n / (dec / 1000),
      encrypt_file_mb_s: n / (encFile / 1000), decrypt_stream_mb_s: n / (decStream / 1000), js_sha256_mb_s: n / (sha / 1000), hpke_seal_open_ms: hpke, pbkdf2_600k_ms: pbkdf2, ua: navigator.userAgent };
  }, Number(mib));
  console.log(JSON.stringify(r, null, 1));
} finally {
  await browser.close();
}
