// The end-to-end scenario in headless Chromium, against a real node started by
// crates/ehrchain-cli/tests/web.rs:
//   an org admin and a doctor request staff accounts; the node operator approves the admin (CLI);
//   the admin approves the doctor in the UI; a patient signs up, uploads a record, opens it
//   (decrypted in the page), grants the doctor; the doctor opens it; an insurer sees only what
//   its payment grant covers; the patient revokes; the doctor is refused; with a standing
//   emergency grant the doctor declares break-glass and reads, and the patient sees the alert
//   first; the access history shows the doctor's read and the refusal; the report lists the
//   disclosures; the patient erases the record and sees the node's erasure receipt.
// Throughout, every response the node sent is recorded: none may contain the record's plaintext.
//
// usage: node scenario.mjs <node url> <data dir> <ehrchain binary> [screenshot dir]

import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { launch, check, expectText } from './harness.mjs';

const [url, dataDir, bin, shots] = process.argv.slice(2);
if (!bin) throw new Error('usage: node scenario.mjs <node url> <data dir> <ehrchain binary> [screenshot dir]');
if (shots) mkdirSync(shots, { recursive: true });

function totp(base32, offset = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const c of base32) {
    value = (value << 5) | alphabet.indexOf(c);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30000) + offset));
  const d = createHmac('sha1', Buffer.from(out)).update(counter).digest();
  const o = d[19] & 0xf;
  const code = ((d[o] & 0x7f) << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3];
  return String(code % 1000000).padStart(6, '0');
}

async function shot(page, name, opts = {}) {
  if (shots) await page.screenshot({ path: `${shots}/${name}.png`, fullPage: true, ...opts });
}

const browser = await launch();
const results = [];
const step = (name) => results.push(name);
const PASSWORD = 'correct horse battery staple';

try {
  // --- staff sign-up requests ---------------------------------------------------------------
  const adminCtx = await browser.newContext();
  const admin = await adminCtx.newPage();
  const home = await admin.goto(`${url}/`);
  const csp = home.headers()['content-security-policy'] || '';
  check(csp.includes("script-src 'self'") && csp.includes("default-src 'none'") && !csp.includes('unsafe'), `strict CSP on the page, got ${csp}`);
  await admin.waitForSelector('text=Your health records, under your control');
  await shot(admin, 'home');

  async function requestStaff(page, role, name, login, org = "St Mary's Hospital") {
    await page.goto(`${url}/#/staff/signup`);
    await page.selectOption('select[name=organisation]', { label: org });
    await page.selectOption('select[name=role]', role);
    await page.fill('input[name=name]', name);
    await page.fill('input[name=licence]', `${role.toUpperCase()}-1`);
    await page.fill('input[name=login]', login);
    await page.fill('input[name=password]', PASSWORD);
    await page.click('button:has-text("Send request")');
    const secret = await page.locator('[data-totp]').getAttribute('data-totp', { timeout: 30000 });
    check(/^[A-Z2-7]{32}$/.test(secret), `a base32 TOTP secret, got ${secret}`);
    return secret;
  }
  const adminSecret = await requestStaff(admin, 'org-admin', 'Ada Admin', 'ada.admin');
  await shot(admin, 'staff-signup');
  const doctorCtx = await browser.newContext();
  const doctor = await doctorCtx.newPage();
  const doctorSecret = await requestStaff(doctor, 'doctor', 'Dr Rao', 'dr.rao');
  await requestStaff(await (await browser.newContext()).newPage(), 'doctor', 'Not A Doctor', 'mallory');
  const insurerCtx = await browser.newContext();
  const insurer = await insurerCtx.newPage();
  const insurerSecret = await requestStaff(insurer, 'insurer-officer', 'Ines Insurer', 'ines', 'Acme Insurance');
  const healthCtx = await browser.newContext();
  const health = await healthCtx.newPage();
  const healthSecret = await requestStaff(health, 'public-health-officer', 'Hana Health', 'hana', 'City Health Agency');
  step('staff requests made; each got a TOTP secret');

  // A pending account cannot log in yet.
  await doctor.goto(`${url}/#/login?staff`);
  await doctor.fill('input[name=login]', 'dr.rao');
  await doctor.fill('input[name=password]', PASSWORD);
  await doctor.fill('input[name=code]', totp(doctorSecret));
  await doctor.click('button:has-text("Log in")');
  await expectText(doctor, '[role=alert]', 'waiting for your organisation');
  step('a pending staff account is refused with what to do next');

  // The node operator bootstraps the first org admin (and approves the insurer, whose
  // organisation has no admin of its own yet).
  for (const login of ['ada.admin', 'ines', 'hana']) {
    execFileSync(bin, ['--node', url, 'staff', 'approve', '--data-dir', dataDir, '--login', login], { stdio: 'inherit' });
  }

  async function staffLogin(page, login, secret) {
    await page.goto(`${url}/#/login?staff`);
    await page.fill('input[name=login]', login);
    await page.fill('input[name=password]', PASSWORD);
    await page.fill('input[name=code]', totp(secret));
    await page.click('button:has-text("Log in")');
    await page.waitForSelector('#my-agent-id', { timeout: 30000 });
    return page.locator('#my-agent-id').textContent();
  }
  // A wrong code is refused.
  await admin.goto(`${url}/#/login?staff`);
  await admin.fill('input[name=login]', 'ada.admin');
  await admin.fill('input[name=password]', PASSWORD);
  await admin.fill('input[name=code]', String((Number(totp(adminSecret)) + 1) % 1000000).padStart(6, '0'));
  await admin.click('button:has-text("Log in")');
  await expectText(admin, '[role=alert]', 'Check the login name, password');
  step('a wrong TOTP code is refused');
  await staffLogin(admin, 'ada.admin', adminSecret);
  await admin.waitForSelector('[data-login="dr.rao"]');
  await shot(admin, 'admin-approvals');
  await admin.click('[data-login="dr.rao"] button:has-text("Approve")');
  await expectText(admin, '[data-login="dr.rao"] .status', 'Approved');
  await admin.click('[data-login="mallory"] button:has-text("Decline")');
  await expectText(admin, '[data-login="mallory"] .status', 'Declined');
  step('org admin approved the doctor and declined another request in the UI');

  const doctorId = await staffLogin(doctor, 'dr.rao', doctorSecret);
  check(/^ag_[0-9a-f]{32}$/.test(doctorId), `doctor id ${doctorId}`);
  step('doctor logged in with password and TOTP');

  // --- patient -------------------------------------------------------------------------------
  const patientCtx = await browser.newContext();
  const patient = await patientCtx.newPage();
  const marker = `HbA1c-${randomBytes(8).toString('hex')}`;
  const plaintext = JSON.stringify({ resourceType: 'Observation', code: { text: marker }, valueQuantity: { value: 6.1, unit: '%' } });
  const seen = []; // every response body the node sent to any page
  const bodies = []; // reading a body is asynchronous: settle() waits for all of them
  for (const ctx of [patientCtx, doctorCtx, insurerCtx]) {
    ctx.on('response', (r) => {
      bodies.push(r.body().then((body) => seen.push({ url: r.url(), body }), () => { /* redirects have no body */ }));
    });
  }
  const settle = async () => {
    for (let n = -1; n !== bodies.length;) {
      n = bodies.length;
      await Promise.all(bodies);
    }
  };

  await patient.goto(`${url}/#/patient/signup`);
  await shot(patient, 'patient-signup');
  await patient.fill('input[name=login]', 'alice');
  await patient.fill('input[name=password]', PASSWORD);
  await patient.fill('input[name=password2]', PASSWORD);
  await patient.click('button:has-text("Create my account")');
  await patient.waitForSelector('#my-patient-id', { timeout: 60000 });
  const patientId = await patient.locator('#my-patient-id').textContent();
  check(/^pt_[0-9a-f]{32}$/.test(patientId), `patient id ${patientId}`);
  step('patient signed up (keys made in the browser, pseudonym registered)');

  await patient.setInputFiles('#upload input[type=file]', { name: 'lab.json', mimeType: 'application/fhir+json', buffer: Buffer.from(plaintext) });
  await patient.selectOption('#upload select[name=category]', 'Observation/laboratory');
  await patient.click('#upload button[type=submit]');
  await expectText(patient, '#upload .status', 'Stored as');
  await patient.waitForSelector('#records [data-open]', { timeout: 30000 });
  const recordId = await patient.locator('#records [data-open]').first().getAttribute('data-open');
  step(`patient uploaded record ${recordId}`);

  // The patient's own view: decrypted in the page from ciphertext.
  await patient.click(`[data-open="${recordId}"]`);
  await expectText(patient, '.viewer pre', marker);
  await settle();
  const ownRead = seen.filter((s) => s.url.includes(`/v1/records/${recordId}/read`));
  check(ownRead.length === 1, `one read response for the patient's open, got ${ownRead.length}`);
  check(ownRead[0].body.subarray(0, 4).toString() === 'EHRS', 'the read response is a STREAM ciphertext');
  check(!ownRead[0].body.includes(marker), 'the read response does not contain the plaintext');
  step('patient opened the record: the node sent ciphertext only, the page decrypted it');
  await shot(patient, 'patient-record-open');

  // Grant the doctor, with the plain-language summary.
  await patient.fill('#grant-form input[name=agent]', doctorId);
  await patient.check('#grant-form input[value=laboratory]');
  await patient.selectOption('#grant-form select[name=purpose]', 'treatment');
  await patient.selectOption('#grant-form select[name=days]', '7');
  await patient.check('#grant-form input[name=add-records]');
  await expectText(patient, '#grant-summary', 'Dr Rao (doctor');
  const summary = await patient.locator('#grant-summary').textContent();
  check(summary.includes('lab results') && summary.includes('add new records') && summary.includes('your treatment') && summary.includes('until'), `grant summary says what, for what, until when: ${summary}`);
  await shot(patient, 'patient-grant-form');
  await patient.click('#grant-form button[type=submit]');
  await expectText(patient, '#grant-form .status', '1 existing record key(s) shared');
  step('patient granted the doctor (signed in the browser; key re-sealed)');

  // The doctor sees the patient and opens the record.
  await doctor.goto(`${url}/#/`);
  await doctor.goto(`${url}/#/staff`);
  await doctor.waitForSelector(`[data-patient="${patientId}"] button`);
  await doctor.click(`[data-patient="${patientId}"] button`);
  await doctor.click(`#patient-detail [data-open="${recordId}"]`);
  await expectText(doctor, '#patient-detail .viewer pre', marker);
  step('doctor opened the record');
  await shot(doctor, 'doctor-dashboard');

  // The doctor adds a result for the patient, under the patient's grant to add records.
  await doctor.setInputFiles('#patient-detail #upload input[type=file]', { name: 'potassium.json', mimeType: 'application/fhir+json', buffer: Buffer.from(JSON.stringify({ resourceType: 'Observation', code: { text: `K+ ${marker}` } })) });
  await doctor.selectOption('#patient-detail #upload select[name=category]', 'Observation/laboratory');
  await doctor.click('#patient-detail #upload button[type=submit]');
  await expectText(doctor, '#patient-detail #upload .status', 'Stored as');
  const doctorRecord = /rec_[0-9a-f]{32}/.exec(await doctor.locator('#patient-detail #upload .status').textContent())[0];
  step(`doctor added record ${doctorRecord} under the patient's grant to add records`);

  // The insurer sees only what its grant allows: lab results for payment, not the clinical note.
  const insurerId = await staffLogin(insurer, 'ines', insurerSecret);
  await patient.goto(`${url}/#/`);
  await patient.goto(`${url}/#/patient`);
  // A 3 MiB note: long enough for the progress bar to move through encryption and upload.
  const note = `Clinical note ${marker}-note\n${'Patient stable, observations within range. '.repeat(73200)}`;
  await patient.setInputFiles('#upload input[type=file]', { name: 'note.txt', mimeType: 'text/plain', buffer: Buffer.from(note) });
  await patient.selectOption('#upload select[name=category]', 'DocumentReference/clinical-note');
  await patient.evaluate(() => {
    window.progressSeen = [];
    const label = document.querySelector('#upload .progress-label');
    new MutationObserver(() => window.progressSeen.push(label.textContent)).observe(label, { childList: true, characterData: true, subtree: true });
  });
  await patient.click('#upload button[type=submit]');
  await expectText(patient, '#upload .status', 'Stored as');
  const progressSeen = await patient.evaluate(() => window.progressSeen);
  check(progressSeen.some((t) => /^Encrypting\u2026 ([1-9]|[1-9][0-9])%$/.test(t)) && progressSeen.some((t) => t === 'Uploading\u2026 100%'),
    `the progress bar moved through encryption and reached 100% of the upload: ${JSON.stringify([...new Set(progressSeen)].slice(0, 12))}`);
  step(`upload progress shown (${new Set(progressSeen).size} distinct states)`);
  await patient.waitForFunction(() => document.querySelectorAll('#records tr[data-record]').length === 3);
  check((await patient.locator(`#records tr[data-record="${doctorRecord}"]`).textContent()).includes('Dr Rao'), 'the patient sees the doctor as the author of the new record');
  await patient.fill('#grant-form input[name=agent]', insurerId);
  await patient.check('#grant-form input[value=laboratory]');
  await patient.selectOption('#grant-form select[name=purpose]', 'payment');
  await expectText(patient, '#grant-summary', 'insurance and payment');
  await patient.click('#grant-form button[type=submit]');
  await expectText(patient, '#grant-form .status', '2 existing record key(s) shared');
  await insurer.goto(`${url}/#/`);
  await insurer.goto(`${url}/#/staff`);
  await insurer.click(`[data-patient="${patientId}"] button`);
  await insurer.waitForSelector('#patient-detail table');
  const insurerRecords = await insurer.locator('#patient-detail tr[data-record]').evaluateAll((rs) => rs.map((r) => r.dataset.record));
  check(insurerRecords.length === 2 && insurerRecords.includes(recordId) && insurerRecords.includes(doctorRecord), `the insurer lists only the two lab records, not the clinical note: ${insurerRecords}`);
  check((await insurer.locator('#patient-detail form#upload').count()) === 0, 'an insurer is not offered to add records');
  await insurer.click(`#patient-detail [data-open="${recordId}"]`);
  await expectText(insurer, '#patient-detail .viewer pre', marker);
  step('insurer sees and opens only the record its payment grant covers');
  await shot(insurer, 'insurer-view');

  // A public-health agency, granted as a whole organisation, sees only the clinical note, and
  // opens it through its node re-sealing the organisation's key to the officer.
  await staffLogin(health, 'hana', healthSecret);
  await patient.goto(`${url}/#/`);
  await patient.goto(`${url}/#/patient`);
  await patient.selectOption('#grant-form select[name=grantee-kind]', 'organisation');
  await patient.selectOption('#grant-form select[name=organisation]', { label: 'City Health Agency' });
  await patient.check('#grant-form input[value=clinical-note]');
  await patient.selectOption('#grant-form select[name=purpose]', 'public-health');
  await expectText(patient, '#grant-summary', 'everyone at City Health Agency will be able to read your clinical notes, for public-health reporting');
  await patient.click('#grant-form button[type=submit]');
  await expectText(patient, '#grant-form .status', '1 existing record key(s) shared');
  await health.goto(`${url}/#/`);
  await health.goto(`${url}/#/staff`);
  await health.click(`[data-patient="${patientId}"] button`);
  await health.waitForSelector('#patient-detail table');
  const healthRecords = await health.locator('#patient-detail tr[data-record]').evaluateAll((rs) => rs.map((r) => r.dataset.record));
  check(healthRecords.length === 1 && !healthRecords.includes(recordId) && !healthRecords.includes(doctorRecord), `public health lists only the clinical note: ${healthRecords}`);
  await health.click(`#patient-detail [data-open="${healthRecords[0]}"]`);
  await expectText(health, '#patient-detail .viewer pre', 'Clinical note');
  step('public-health officer sees and opens only what the organisation grant covers');

  // Population counts: the officer releases a total. The patient's grant covers notes, not
  // conditions, so nobody is counted and the cell is hidden (noise of scale 1 would have to
  // reach 9.5 to show it: e^-9.5 / 2).
  await health.selectOption('#population-form select[name=by]', 'total');
  await health.selectOption('#population-form select[name=epsilon]', '1000');
  await health.click('#population-form button[type=submit]');
  await expectText(health, '#population-form .status', 'privacy budget used 1 of 5');
  await expectText(health, '#population-result tr[data-cell=all]', 'hidden');
  step('public-health officer released a population count: noisy, the small cell hidden, the budget shown');
  // The form alone: the page above it holds the opened clinical note.
  if (shots) await health.locator('#population-form').screenshot({ path: `${shots}/public-health-counts.png` });

  // The patient revokes; the doctor's next open is refused.
  await patient.goto(`${url}/#/`);
  await patient.goto(`${url}/#/patient`);
  await patient.click(`[data-grant][data-mode=read]:has-text("Dr Rao") [data-revoke]`);
  await patient.waitForSelector('#grants .grant.ended[data-mode=read]:has-text("Dr Rao")');
  step('patient revoked the grant');
  await doctor.click(`#patient-detail [data-open="${recordId}"]`);
  await expectText(doctor, `#patient-detail tr[data-record="${recordId}"] [role=alert]`, 'You do not have access');
  check((await doctor.locator('#patient-detail .viewer').count()) === 0, 'no record shown to the doctor after revocation');
  step('doctor refused after revocation');

  // Emergency: the patient keeps a standing emergency grant for the hospital; the doctor
  // declares break-glass and reads; the patient sees it at the top of the page.
  await patient.goto(`${url}/#/`);
  await patient.goto(`${url}/#/patient`);
  await patient.selectOption('#grant-form select[name=grantee-kind]', 'organisation');
  await patient.selectOption('#grant-form select[name=organisation]', { label: "St Mary's Hospital" });
  await patient.check('#grant-form input[value="*"]');
  await patient.selectOption('#grant-form select[name=purpose]', 'emergency');
  await patient.selectOption('#grant-form select[name=days]', '365');
  await expectText(patient, '#grant-summary', "everyone at St Mary's Hospital will be able to read all your records");
  await patient.click('#grant-form button[type=submit]');
  await expectText(patient, '#grant-form .status', 'Granted');
  await doctor.fill('#break-glass-form input[name=patient]', patientId);
  await doctor.fill('#break-glass-form input[name=reason]', 'unconscious in the emergency department');
  await doctor.click('#break-glass-form button[type=submit]');
  await expectText(doctor, '#break-glass-form .status', 'Declared');
  await doctor.click(`#patient-detail [data-open="${recordId}"]`);
  await expectText(doctor, '#patient-detail .viewer', 'as break-glass');
  step('doctor declared break-glass and read under it');
  await patient.goto(`${url}/#/`);
  await patient.goto(`${url}/#/patient`);
  await expectText(patient, '#break-glass', 'unconscious in the emergency department');
  check(await patient.locator('#break-glass').evaluate((el) => el === el.parentElement.firstElementChild), 'the break-glass alert is the first thing on the page');
  step('patient sees the break-glass alert first');
  await shot(patient, 'patient-break-glass', { fullPage: false });

  // The patient's access history: the doctor's read and the refusal.
  await patient.goto(`${url}/#/`);
  await patient.goto(`${url}/#/patient`);
  await patient.waitForSelector('#history');
  const rows = await patient.locator(`#history tr[data-kind=access][data-record="${recordId}"]`).allTextContents();
  const byDoctor = rows.filter((r) => r.includes('Dr Rao'));
  check(byDoctor.some((r) => /grant gr_[0-9a-f]{32}/.test(r) && r.includes('treatment')), `history shows the doctor's read under the grant: ${JSON.stringify(byDoctor)}`);
  check(byDoctor.some((r) => r.includes('REFUSED')), `history shows the doctor's refusal: ${JSON.stringify(byDoctor)}`);
  check(rows.some((r) => r.includes('You')), 'history shows the patient\u2019s own read');
  step('access history shows the doctor\u2019s read and the refusal');
  await shot(patient, 'patient-dashboard');
  await patient.setViewportSize({ width: 390, height: 844 });
  await shot(patient, 'patient-dashboard-phone', { fullPage: false });
  await patient.setViewportSize({ width: 1280, height: 720 });

  await patient.goto(`${url}/#/patient/report`);
  await patient.waitForSelector('text=Disclosures');
  const report = await patient.locator('.report').textContent();
  check(report.includes('Dr Rao') && report.includes('refused') && report.includes(`disclosed under gr_`), 'the report lists the disclosure and the refusal');
  await shot(patient, 'patient-report');
  step('printable report lists disclosures');

  // Erasure with its receipt.
  await patient.goto(`${url}/#/patient`);
  await patient.click(`[data-erase="${recordId}"]`);
  await patient.click(`[data-erase="${recordId}"]`);
  let receipts = 0;
  for (let i = 0; i < 30 && !receipts; i++) {
    await patient.goto(`${url}/#/`);
    await patient.goto(`${url}/#/patient`);
    await patient.waitForSelector('#records');
    const t = await patient.locator(`#records tr[data-record="${recordId}"]`).textContent();
    const m = /(\d+) erasure receipt/.exec(t || '');
    receipts = m ? Number(m[1]) : 0;
    if (!receipts) await patient.waitForTimeout(500);
  }
  check(receipts === 1, `one erasure receipt from the node's validator, got ${receipts}`);
  step('patient erased the record and sees the erasure receipt');

  // The plaintext never came from the node, in any response to the patient or the doctor.
  await settle();
  check(seen.length > 10, `responses were recorded (${seen.length})`);
  const leaks = seen.filter((s) => s.body.includes(marker)).map((s) => s.url);
  check(leaks.length === 0, `no node response carried the plaintext; leaked in ${leaks.join(', ')}`);
  step(`none of ${seen.length} node responses contained the plaintext`);

  // The auditor's view.
  const auditor = await (await browser.newContext()).newPage();
  await auditor.goto(`${url}/#/ledger`);
  await auditor.waitForSelector('#blocks tbody tr');
  await expectText(auditor, '#tamper-alerts', 'No tamper');
  check((await auditor.locator('#validators li').count()) === 1, 'one validator listed');
  step('auditor view lists blocks, the validator and no alerts');

  // Verify the record's anchor from the patient's history, in the browser; tampering fails.
  const anchorTx = await patient.locator(`#history tr[data-kind=anchor][data-record="${recordId}"] a[data-tx]`).getAttribute('data-tx');
  await auditor.goto(`${url}/#/ledger?tx=${anchorTx}`);
  await auditor.waitForSelector('#inclusion');
  check((await auditor.locator('#inclusion').getAttribute('data-verified')) === 'true', `the anchor's inclusion verifies: ${await auditor.locator('#inclusion').innerText()}`);
  await expectText(auditor, '#inclusion h3', 'Verified');
  await shot(auditor, 'ledger');
  const negatives = await auditor.evaluate(async (tx) => {
    const { verifyInclusion } = await import('/ui/proof.js');
    const { hex, random } = await import('/ui/crypto.js');
    const p = await (await fetch(`/v1/tx/${tx}/proof`)).json();
    const chain = await (await fetch('/v1/chain')).json();
    const keys = chain.validators.map((v) => v.key);
    const id = chain.chain_id;
    const good = await verifyInclusion(tx, p.index, p.parts, keys, id);
    const otherKey = await verifyInclusion(tx, p.index, p.parts, [hex(random(32))], id);
    const wrongId = await verifyInclusion(`${tx.slice(0, 63)}${tx[63] === '0' ? '1' : '0'}`, p.index, p.parts, keys, id);
    const wrongIndex = await verifyInclusion(tx, p.index + 1, p.parts, keys, id);
    const forged = { ...p.parts, tx_path: [hex(random(32))] };
    const forgedPath = await verifyInclusion(tx, p.index, forged, keys, id);
    // The finalization is bound to its chain and its header: another chain id, or a signature
    // with one bit flipped, does not certify.
    const otherChain = await verifyInclusion(tx, p.index, p.parts, keys, hex(random(32)));
    const fin = p.parts.finalization;
    const flipped = fin && { ...p.parts, finalization: { ...fin, signatures: fin.signatures.map((s) => ({ ...s, signature: `${s.signature.slice(0, 2) === '00' ? '01' : '00'}${s.signature.slice(2)}` })) } };
    const badSig = flipped ? await verifyInclusion(tx, p.index, flipped, keys, id) : { ok: false };
    return { engine: Boolean(fin), good: good.ok, otherKey: otherKey.ok, wrongId: wrongId.ok, wrongIndex: wrongIndex.ok, forgedPath: forgedPath.ok, otherChain: otherChain.ok, badSig: badSig.ok };
  }, anchorTx);
  check(negatives.engine && negatives.good && !negatives.otherKey && !negatives.wrongId && !negatives.wrongIndex && !negatives.forgedPath && !negatives.otherChain && !negatives.badSig, `inclusion checks refuse forgeries: ${JSON.stringify(negatives)}`);
  step('auditor verified the record anchor\u2019s inclusion in the browser; forged proofs fail');

  // The org admin revokes the doctor; the doctor can no longer log in.
  await admin.goto(`${url}/#/`);
  await admin.goto(`${url}/#/staff`);
  await admin.click(`[data-revoke-agent="${doctorId}"]`);
  await admin.click(`[data-revoke-agent="${doctorId}"]`);
  await expectText(admin, `tr[data-agent="${doctorId}"] .status`, 'Revoked');
  await doctor.goto(`${url}/#/login?staff`);
  await doctor.fill('input[name=login]', 'dr.rao');
  await doctor.fill('input[name=password]', PASSWORD);
  await doctor.fill('input[name=code]', totp(doctorSecret, 1));
  await doctor.click('button:has-text("Log in")');
  await expectText(doctor, '[role=alert]', 'revoked by your organisation');
  step('org admin revoked the doctor in the UI; the doctor can no longer log in');

  // The patient logs in on another device (a fresh browser context): the backup the node kept
  // opens with the passphrase alone. This context bypasses the CSP only so that the
  // accessibility checker (axe-core) can be injected into the pages.
  const elsewhere = await (await browser.newContext({ bypassCSP: true })).newPage();
  await elsewhere.goto(`${url}/#/login`);
  await elsewhere.fill('input[name=login]', 'alice');
  await elsewhere.fill('input[name=password]', 'not the passphrase');
  await elsewhere.click('button:has-text("Log in")');
  await expectText(elsewhere, '[role=alert]', 'Check the login name, password');
  await elsewhere.fill('input[name=password]', PASSWORD);
  await elsewhere.click('button:has-text("Log in")');
  await elsewhere.waitForSelector('#my-patient-id', { timeout: 30000 });
  check((await elsewhere.locator('#my-patient-id').textContent()) === patientId, 'the same pseudonym on the other device');
  check((await elsewhere.locator(`#records tr[data-record="${doctorRecord}"]`).count()) === 1, 'the records are there on the other device');
  step('patient logged in on another device with the passphrase (wrong one refused)');

  // Accessibility: axe-core's WCAG 2 A/AA rules on every page; serious or critical findings fail.
  const axePath = new URL('./node_modules/axe-core/axe.min.js', import.meta.url).pathname;
  const findings = [];
  const pagesToCheck = ['#/', '#/patient', '#/patient/report', '#/ledger', '#/patient/signup', '#/login?staff', '#/staff/signup'];
  // Every page on a desktop, and the patient's pages again on a phone-sized screen.
  for (const [route, phone] of [...pagesToCheck.map((r) => [r, false]), ['#/', true], ['#/patient', true]]) {
    await elsewhere.setViewportSize(phone ? { width: 390, height: 844 } : { width: 1280, height: 720 });
    await elsewhere.goto(`${url}/${route}`);
    await elsewhere.waitForSelector('main h1');
    await elsewhere.waitForFunction(() => !document.querySelector('main[aria-busy]'));
    if (!(await elsewhere.evaluate(() => 'axe' in window))) await elsewhere.addScriptTag({ path: axePath });
    const v = await elsewhere.evaluate(async () => (await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] })).violations
      .filter((x) => x.impact === 'serious' || x.impact === 'critical')
      .map((x) => `${x.id} (${x.impact}): ${x.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`));
    for (const f of v) findings.push(`${route}${phone ? ' (phone)' : ''}: ${f}`);
  }
  check(findings.length === 0, `no serious or critical WCAG 2 A/AA findings; got:\n${findings.join('\n')}`);
  step('axe-core finds no serious or critical WCAG 2 A/AA issues on 7 pages (2 also phone-sized)');

  console.log(JSON.stringify({ ok: true, steps: results }));
} catch (err) {
  // What each page showed when the scenario failed, to say why.
  const pages = {};
  for (const ctx of browser.contexts()) {
    for (const p of ctx.pages()) {
      pages[p.url()] = await p.locator('main').innerText().catch(() => '?');
      if (shots) await p.screenshot({ path: `${shots}/failure-${Object.keys(pages).length}.png`, fullPage: true }).catch(() => {});
    }
  }
  console.log(JSON.stringify({ ok: false, steps: results, error: String(err && err.stack || err), pages }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
