// The pages. Every element is built with the DOM API (never innerHTML), so text from the node
// or from other people can never become markup; the CSP forbids inline script anyway.

import * as api from './api.js';
import * as flows from './flows.js';
import { session, setSession, logout } from './session.js';
import { ROLES, PURPOSES } from './codec.js';
import { verifyInclusion } from './proof.js';

// ---- small DOM helpers ----------------------------------------------------------------------

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const field = (label, input, hint) =>
  h('label', { class: 'field' }, h('span', {}, label), input, hint ? h('small', {}, hint) : null);

function status() {
  return h('p', { class: 'status', role: 'status', 'aria-live': 'polite' });
}

function showError(el, err) {
  el.className = 'status error';
  el.setAttribute('role', 'alert');
  el.textContent = api.explain(err);
}

function showOk(el, text) {
  el.className = 'status ok';
  el.setAttribute('role', 'status');
  el.textContent = text;
}

export const when = (ms) => (ms ? new Date(Number(ms)).toLocaleString() : '');
const size = (n) => (n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / (1 << 20)).toFixed(1)} MiB`);
const short = (id) => (id && id.length > 16 ? `${id.slice(0, 12)}\u2026` : id);

function progress() {
  const bar = h('progress', { max: 1, value: 0, hidden: true });
  const label = h('span', { class: 'progress-label' });
  const wrap = h('div', { class: 'progress' }, bar, label);
  wrap.update = (what, done, total) => {
    bar.hidden = false;
    bar.max = total || 1;
    bar.value = done;
    label.textContent = `${what}\u2026 ${total ? Math.round((100 * done) / total) : 100}%`;
  };
  return wrap;
}

// Names for agents and organisations, fetched once.
const names = new Map();
async function agentName(id) {
  if (!names.has(id)) {
    names.set(id, (async () => {
      try {
        const a = await api.get(`/v1/agents/${id}`);
        const o = await orgName(a.organisation);
        return `${a.name} (${a.role}, ${o})`;
      } catch {
        return id;
      }
    })());
  }
  return names.get(id);
}
async function orgName(id) {
  if (!names.has(id)) {
    names.set(id, api.get(`/v1/organisations/${id}`).then((o) => o.name, () => id));
  }
  return names.get(id);
}
async function actorName(a, me) {
  if (a.kind === 'patient') return a.id === me ? 'You' : `patient ${short(a.id)}`;
  if (a.kind === 'agent') return agentName(a.id);
  if (a.kind === 'organisation') return orgName(a.id);
  return `unregistered key ${short(a.id)}`;
}
async function granteeName(g) {
  if (g.kind === 'agent') return agentName(g.id);
  if (g.kind === 'organisation') return `everyone at ${await orgName(g.id)}`;
  return `every ${g.role} at ${await orgName(g.organisation)}`;
}

export const CATEGORIES = [
  ['Observation/laboratory', 'Lab result'],
  ['Observation/vital-signs', 'Vital signs'],
  ['DiagnosticReport/laboratory', 'Lab report'],
  ['DocumentReference/clinical-note', 'Clinical note'],
  ['ImagingStudy', 'Imaging'],
  ['MedicationRequest', 'Prescription'],
  ['Condition', 'Diagnosis'],
  ['Immunization', 'Immunisation'],
];
const categoryLabel = (c) => (CATEGORIES.find(([k]) => k === c) || [c, c])[1];
const SCOPES = [
  ['laboratory', 'your lab results and lab reports'],
  ['vital-signs', 'your vital signs'],
  ['clinical-note', 'your clinical notes'],
  ['ImagingStudy', 'your imaging'],
  ['MedicationRequest', 'your prescriptions'],
  ['Condition', 'your diagnoses'],
  ['Immunization', 'your immunisations'],
  ['*', 'all your records, including future ones'],
];
const PURPOSE_TEXT = {
  treatment: 'your treatment',
  payment: 'insurance and payment',
  research: 'research',
  'public-health': 'public-health reporting',
  emergency: 'emergencies only (needs a declared break-glass)',
};

// A decrypted record, shown in the page and offered for download. Text is shown as text;
// images through a blob: URL; anything else is download-only.
async function viewer(rec, name) {
  const blob = new Blob([rec.plaintext], { type: rec.mediaType || 'application/octet-stream' });
  const url = URL.createObjectURL(blob);
  const box = h('div', { class: 'viewer', 'data-record': name });
  const type = rec.mediaType || '';
  if (type.startsWith('text/') || type.includes('json') || type.includes('xml')) {
    // Long texts are cut for display; the download has everything.
    const text = await blob.slice(0, 1 << 20).text();
    box.append(h('pre', { class: 'plaintext' }, text), blob.size > 1 << 20 ? h('p', { class: 'meta' }, `Showing the first MiB of ${size(blob.size)}; download it for the rest.`) : null);
  } else if (type.startsWith('image/')) {
    box.append(h('img', { src: url, alt: `record ${name}` }));
  }
  const basis = rec.basis ? (rec.basis.kind === 'grant' ? `under grant ${rec.basis.grant}` : `as ${rec.basis.kind.replace('_', '-')}`) : '';
  box.append(
    h('p', { class: 'meta' }, `Decrypted on this device ${basis}. This read is on the ledger as transaction ${short(rec.accessTx)}.`),
    h('a', { href: url, download: `${name}${extension(type)}`, class: 'button' }, 'Download'),
  );
  return box;
}
function extension(type) {
  return { 'application/json': '.json', 'application/fhir+json': '.json', 'text/plain': '.txt', 'application/pdf': '.pdf', 'image/png': '.png', 'image/jpeg': '.jpg' }[type] || '';
}

// ---- home, sign-up, login -------------------------------------------------------------------

export function home() {
  return h('section', { class: 'home' },
    h('h1', {}, 'Your health records, under your control'),
    h('p', { class: 'lead' }, 'Records are encrypted on your device before they are stored. You decide who may read which records, for what, and until when. Every read, allowed or refused, is written on a tamper-evident ledger you can check.'),
    h('div', { class: 'cards' },
      h('article', { class: 'card' }, h('h2', {}, 'Patients'),
        h('p', {}, 'Your keys are made in this browser and never leave it unencrypted.'),
        h('a', { href: '#/patient/signup', class: 'button primary' }, 'Create a patient account'),
        h('a', { href: '#/login', class: 'button' }, 'Log in')),
      h('article', { class: 'card' }, h('h2', {}, 'Doctors, insurers, public health'),
        h('p', {}, 'Request an account at your organisation; an administrator approves it. Logging in needs your password and a code from your authenticator app.'),
        h('a', { href: '#/staff/signup', class: 'button primary' }, 'Request a staff account'),
        h('a', { href: '#/login?staff', class: 'button' }, 'Staff log in')),
      h('article', { class: 'card' }, h('h2', {}, 'Auditors'),
        h('p', {}, 'See the ledger: blocks, validators, tamper alerts, and check that a transaction is included.'),
        h('a', { href: '#/ledger', class: 'button' }, 'Open the ledger view'))));
}

export function patientSignup() {
  const login = h('input', { name: 'login', autocomplete: 'username', required: true, minlength: 3, maxlength: 64 });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 12 });
  const pass2 = h('input', { name: 'password2', type: 'password', autocomplete: 'new-password', required: true, minlength: 12 });
  const st = status();
  const form = h('form', { class: 'panel', novalidate: true },
    h('h1', {}, 'Create a patient account'),
    h('p', {}, 'This browser makes your signing and encryption keys. The node stores only a copy encrypted under your passphrase, so you can log in on another device. Nobody, including the node, can reset a lost passphrase: write it down somewhere safe.'),
    field('Login name', login, 'Letters, digits, . _ - @ (3 to 64). Not your real name: it is visible to the node.'),
    field('Passphrase', pass, 'At least 12 characters; a few unrelated words work well.'),
    field('Passphrase again', pass2),
    h('button', { type: 'submit', class: 'primary' }, 'Create my account'),
    st);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (pass.value.length < 12) return showError(st, new Error('The passphrase needs at least 12 characters.'));
    if (pass.value !== pass2.value) return showError(st, new Error('The two passphrases differ. Type them again.'));
    form.querySelector('button').disabled = true;
    try {
      const s = await flows.signUpPatient(login.value.trim(), pass.value, (m) => showOk(st, `${m}\u2026`));
      setSession(s);
      location.hash = '#/patient';
    } catch (err) {
      showError(st, err);
      form.querySelector('button').disabled = false;
    }
  });
  return form;
}

export function loginPage(staff) {
  const login = h('input', { name: 'login', autocomplete: 'username', required: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const code = h('input', { name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxlength: 6 });
  const st = status();
  const form = h('form', { class: 'panel' },
    h('h1', {}, staff ? 'Staff log in' : 'Log in'),
    field('Login name', login),
    field('Password', pass),
    staff ? field('6-digit code from your authenticator app', code) : null,
    h('button', { type: 'submit', class: 'primary' }, 'Log in'),
    staff ? h('p', {}, h('a', { href: '#/login' }, 'I am a patient')) : h('p', {}, h('a', { href: '#/login?staff' }, 'I am staff (doctor, insurer, public health, administrator)')),
    st);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    form.querySelector('button').disabled = true;
    showOk(st, 'Checking your password and opening your keys\u2026');
    try {
      const s = await flows.logIn(login.value.trim(), pass.value, staff ? code.value.trim() : null);
      setSession(s);
      location.hash = s.kind === 'patient' ? '#/patient' : '#/staff';
    } catch (err) {
      showError(st, err);
      form.querySelector('button').disabled = false;
    }
  });
  return form;
}

export async function staffSignup() {
  const chain = await api.get('/v1/chain');
  const orgs = await Promise.all(chain.hosted_organisations.map(async (id) => [id, await orgName(id)]));
  const org = h('select', { name: 'organisation', required: true }, orgs.map(([id, n]) => h('option', { value: id }, n)));
  const role = h('select', { name: 'role' }, ROLES.map((r) => h('option', { value: r }, r.replace(/-/g, ' '))));
  const name = h('input', { name: 'name', required: true, maxlength: 256 });
  const licence = h('input', { name: 'licence', maxlength: 256 });
  const login = h('input', { name: 'login', autocomplete: 'username', required: true });
  const pass = h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true, minlength: 12 });
  const st = status();
  const out = h('div', { class: 'totp' });
  const form = h('form', { class: 'panel' },
    h('h1', {}, 'Request a staff account'),
    orgs.length ? null : h('p', { class: 'status error' }, 'This node hosts no organisation yet. Ask the node operator to create yours (ehrchain org create).'),
    field('Organisation', org),
    field('Role', role),
    field('Full name', name),
    field('Licence or staff number', licence),
    field('Login name', login),
    field('Password', pass, 'At least 12 characters.'),
    h('button', { type: 'submit', class: 'primary' }, 'Send request'),
    st, out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (pass.value.length < 12) return showError(st, new Error('The password needs at least 12 characters.'));
    form.querySelector('button').disabled = true;
    try {
      const r = await flows.requestStaff({ organisation: org.value, role: role.value, name: name.value, licence: licence.value, login: login.value.trim(), password: pass.value });
      showOk(st, 'Request sent. An administrator of your organisation must approve it before you can log in.');
      out.replaceChildren(
        h('h2', {}, 'Set up your second factor now'),
        h('p', {}, 'Add this secret to an authenticator app (it is shown only once). Logging in asks for the 6-digit code it shows.'),
        h('p', {}, h('code', { class: 'secret', 'data-totp': r.totp_secret }, r.totp_secret)),
        h('p', { class: 'meta' }, r.otpauth),
        h('p', {}, `Your staff id will be ${r.agent}. Give it to patients who want to grant you access.`));
    } catch (err) {
      showError(st, err);
      form.querySelector('button').disabled = false;
    }
  });
  return form;
}

// ---- patient dashboard ----------------------------------------------------------------------

export async function patientDashboard() {
  const s = session();
  const [recs, grants, audit, orgs] = await Promise.all([
    api.get(`/v1/patients/${s.patient}/records`, s.identity),
    api.get(`/v1/patients/${s.patient}/grants`, s.identity),
    api.get(`/v1/patients/${s.patient}/audit`, s.identity),
    api.get('/v1/organisations'),
  ]);
  const root = h('div', { class: 'dashboard' });
  const rerender = async () => root.replaceWith(await patientDashboard());

  // Break-glass alerts first, loudly.
  const glass = audit.entries.filter((e) => e.event.kind === 'break_glass');
  if (glass.length) {
    root.append(h('section', { class: 'alert', role: 'alert', id: 'break-glass' },
      h('h2', {}, `Emergency access to your records (${glass.length})`),
      await Promise.all(glass.map(async (e) => h('p', {},
        h('strong', {}, await agentName(e.event.agent)), ` declared break-glass on ${when(e.at)}: \u201c${e.event.reason}\u201d. `,
        `Emergency reads are allowed until ${when(e.event.until)}. Every read is listed in your access history below.`)))));
  }

  root.append(h('header', { class: 'who' },
    h('h1', {}, 'Your records'),
    h('p', {}, `Logged in as ${s.login}. Your pseudonym on the ledger: `, h('code', { id: 'my-patient-id' }, s.patient),
      ' (give it to a doctor who needs to find you; it says nothing about who you are).'),
    h('a', { href: '#/patient/report', class: 'button' }, 'Printable report')));

  // Records by category.
  const byCat = new Map();
  for (const r of recs.records) {
    if (!byCat.has(r.category)) byCat.set(r.category, []);
    byCat.get(r.category).push(r);
  }
  const recSection = h('section', { id: 'records' }, h('h2', {}, 'Records'));
  if (!recs.records.length) recSection.append(h('p', {}, 'No records yet. Upload one below, or ask your doctor to add one.'));
  const viewerSlot = h('div', { class: 'viewer-slot' });
  for (const [cat, list] of byCat) {
    recSection.append(h('h3', {}, `${categoryLabel(cat)} `, h('small', {}, cat)));
    const rows = [];
    for (const r of list) {
      const st = status();
      const actions = h('td', { class: 'actions' });
      if (r.erased === null) {
        actions.append(
          h('button', { 'data-open': r.id, onclick: async () => {
            const p = progress();
            st.replaceChildren(p);
            try {
              const rec = await flows.openRecord(s, r.id, 'treatment', (d, t) => p.update('Downloading ciphertext', d, t));
              viewerSlot.replaceChildren(await viewer(rec, r.id));
              st.textContent = '';
            } catch (err) { showError(st, err); }
          } }, 'Open'),
          eraseButton(s, r, st, rerender));
      } else {
        actions.append(h('span', { class: 'erased' }, `Erased ${when(r.erased)}; `,
          `${r.erase_receipts.length} erasure receipt(s)`,
          h('ul', { class: 'receipts' }, r.erase_receipts.map((k) => h('li', {}, 'signed by validator ', h('code', {}, short(k)))))));
      }
      rows.push(h('tr', { 'data-record': r.id },
        h('td', {}, when(r.anchored)), h('td', {}, r.media_type), h('td', {}, size(r.size)),
        h('td', {}, await actorName(r.author, s.patient)), actions, h('td', {}, st)));
    }
    recSection.append(h('table', {}, h('thead', {}, h('tr', {}, ['Added', 'Type', 'Size', 'By', 'Actions', ''].map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows)));
  }
  recSection.append(viewerSlot, uploadForm(s, s.patient, rerender));
  root.append(recSection);

  root.append(await grantsSection(s, grants.grants, orgs.organisations, rerender));
  root.append(await historySection(s, audit.entries));
  return root;
}

function eraseButton(s, r, st, rerender) {
  const b = h('button', { class: 'danger', 'data-erase': r.id }, 'Erase');
  b.addEventListener('click', async () => {
    if (!b.dataset.armed) {
      b.dataset.armed = '1';
      b.textContent = 'Confirm: erase for good';
      showOk(st, 'Every node will delete the ciphertext and all keys, then sign a receipt. Copies someone already downloaded cannot be reached.');
      return;
    }
    try {
      await flows.erase(s, r.id);
      showOk(st, 'Erasure requested. Receipts appear as each node confirms.');
      setTimeout(rerender, 1500);
    } catch (err) { showError(st, err); }
  });
  return b;
}

function uploadForm(s, patient, done) {
  const file = h('input', { type: 'file', name: 'file', required: true });
  const cat = h('select', { name: 'category' }, CATEGORIES.map(([k, l]) => h('option', { value: k }, `${l} (${k})`)));
  const p = progress();
  const st = status();
  const form = h('form', { class: 'panel upload', id: 'upload' },
    h('h3', {}, 'Add a record'),
    h('p', {}, 'The file is encrypted in this browser; the node stores only ciphertext.'),
    field('File', file), field('Category', cat),
    h('button', { type: 'submit', class: 'primary' }, 'Encrypt and upload'), p, st);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!file.files[0]) return showError(st, new Error('Choose a file first.'));
    try {
      const r = await flows.uploadRecord(s, patient, file.files[0], cat.value, (what, d, t) => p.update(what, d, t));
      showOk(st, `Stored as ${r.record}; its key is sealed to ${r.recipients} recipient(s).`);
      setTimeout(done, 800);
    } catch (err) { showError(st, err); }
  });
  return form;
}

async function grantsSection(s, grants, orgs, rerender) {
  const sec = h('section', { id: 'grants' }, h('h2', {}, 'Who can see your records'));
  const live = grants.filter((g) => g.live);
  if (!live.length) sec.append(h('p', {}, 'Nobody but you can read your records now.'));
  for (const g of grants) {
    const st = status();
    const what = g.categories.map((c) => (SCOPES.find(([k]) => k === c) || [c, c])[1]).join(', ');
    const verb = g.mode === 'append' ? 'may add new records to' : 'may read';
    const line = h('div', { class: `grant ${g.live ? 'live' : 'ended'}`, 'data-grant': g.id, 'data-mode': g.mode },
      h('p', {}, h('strong', {}, await granteeName(g.grantee)), ` ${verb} ${what}, for ${PURPOSE_TEXT[g.purpose] || g.purpose}, until ${when(g.expires)}.`),
      h('p', { class: 'meta' }, g.revoked ? `Revoked ${when(g.revoked)}.` : g.live ? `Granted ${when(g.granted)} (grant ${g.id}).` : 'Expired or not yet started.'));
    if (g.live) {
      line.append(h('button', { class: 'danger', 'data-revoke': g.id, onclick: async () => {
        try {
          await flows.revoke(s, g.id);
          await rerender();
        } catch (err) { showError(st, err); }
      } }, 'Revoke now'), st);
    }
    sec.append(line);
  }
  sec.append(grantForm(s, orgs, rerender));
  return sec;
}

function grantForm(s, orgs, done) {
  const kind = h('select', { name: 'grantee-kind' }, h('option', { value: 'agent' }, 'a person (their staff id)'), h('option', { value: 'organisation' }, 'a whole organisation'));
  const agent = h('input', { name: 'agent', placeholder: 'ag_\u2026', autocomplete: 'off' });
  const org = h('select', { name: 'organisation', hidden: true }, orgs.map((o) => h('option', { value: o.id }, o.name)));
  const scopes = SCOPES.map(([k, l]) => h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'scope', value: k }), ` ${l}`));
  const purpose = h('select', { name: 'purpose' }, PURPOSES.map((p) => h('option', { value: p }, PURPOSE_TEXT[p])));
  const days = h('select', { name: 'days' }, [[1, '1 day'], [7, '1 week'], [30, '30 days'], [365, '1 year']].map(([d, l]) => h('option', { value: d }, l)));
  // Not named 'append': a form's named controls shadow its methods (form.append).
  const append = h('input', { type: 'checkbox', name: 'add-records' });
  const summary = h('p', { class: 'summary', 'aria-live': 'polite', id: 'grant-summary' });
  const st = status();
  let grantee = null;
  const update = async () => {
    agent.hidden = kind.value !== 'agent';
    org.hidden = kind.value !== 'organisation';
    const chosen = scopes.filter((l) => l.firstChild.checked).map((l) => l.textContent.trim());
    const until = new Date(Date.now() + Number(days.value) * 86400000);
    grantee = null;
    let who = '';
    if (kind.value === 'agent' && /^ag_[0-9a-f]{32}$/.test(agent.value.trim())) {
      who = await agentName(agent.value.trim());
      if (who !== agent.value.trim()) grantee = { kind: 'agent', id: agent.value.trim() };
      else who = 'an unknown staff id (check it)';
    } else if (kind.value === 'organisation' && org.value) {
      who = `everyone at ${await orgName(org.value)}`;
      grantee = { kind: 'organisation', id: org.value };
    }
    summary.textContent = grantee && chosen.length
      ? `${who} will be able to read ${chosen.join('; ')}${append.checked ? ', and add new records of these kinds' : ''}, for ${PURPOSE_TEXT[purpose.value]}, until ${until.toLocaleString()}. You can revoke this at any time; what they already read stays read.`
      : 'Choose who, and which records, to see exactly what you would share.';
  };
  [kind, agent, org, purpose, days, append, ...scopes.map((l) => l.firstChild)].forEach((el) => el.addEventListener('input', update));
  const form = h('form', { class: 'panel', id: 'grant-form' },
    h('h3', {}, 'Give access'),
    field('To', h('div', {}, kind, agent, org)),
    h('fieldset', {}, h('legend', {}, 'Which records'), scopes),
    h('label', { class: 'check' }, append, ' They may also add new records of these kinds (for a doctor who writes notes or results)'),
    field('For', purpose), field('For how long', days),
    summary,
    h('button', { type: 'submit', class: 'primary' }, 'Grant access'), st);
  update();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    await update();
    const categories = scopes.filter((l) => l.firstChild.checked).map((l) => l.firstChild.value);
    if (!grantee) return showError(st, new Error('Enter a valid staff id (ag_ followed by 32 hex digits) or choose an organisation.'));
    if (!categories.length) return showError(st, new Error('Tick at least one kind of record.'));
    try {
      const now = Date.now();
      const r = await flows.grant(s, { grantee, categories, purpose: purpose.value, append: append.checked, notBefore: now - 60000, expires: now + Number(days.value) * 86400000 });
      showOk(st, `Granted (${r.id}); ${r.resealed} existing record key(s) shared.`);
      setTimeout(done, 800);
    } catch (err) { showError(st, err); }
  });
  return form;
}

async function historySection(s, entries) {
  const rows = [];
  for (const e of [...entries].reverse()) {
    const ev = e.event;
    let who = '';
    let what = '';
    let why = '';
    let basis = '';
    let cls = '';
    if (ev.kind === 'access') {
      who = await actorName(ev.reader, s.patient);
      what = `read ${short(ev.record)}`;
      why = ev.purpose;
      if (ev.outcome.status === 'permitted') {
        basis = ev.outcome.basis.kind === 'grant' ? `grant ${ev.outcome.basis.grant}` : ev.outcome.basis.kind.replace('_', '-');
        cls = ev.outcome.basis.kind === 'break_glass' ? 'glass' : 'permitted';
      } else {
        basis = `REFUSED (${ev.outcome.code})`;
        cls = 'denied';
      }
    } else if (ev.kind === 'break_glass') {
      who = await agentName(ev.agent);
      what = 'declared break-glass';
      why = ev.reason;
      basis = `until ${when(ev.until)}`;
      cls = 'glass';
    } else if (ev.kind === 'anchor') {
      who = await actorName(ev.author, s.patient);
      what = `added ${short(ev.record)}`;
    } else if (ev.kind === 'grant' || ev.kind === 'revoke') {
      who = 'You';
      what = `${ev.kind === 'grant' ? 'granted' : 'revoked'} ${ev.grant}`;
    } else if (ev.kind === 'erase_request') {
      who = 'You';
      what = `asked to erase ${short(ev.record)}`;
    } else if (ev.kind === 'erase_receipt') {
      who = `validator ${short(ev.validator)}`;
      what = `erased ${short(ev.record)}`;
    } else if (ev.kind === 'counted') {
      who = await agentName(ev.requester);
      what = 'counted you in population statistics (noisy totals only: your conditions, age band and region)';
      why = ev.purpose;
    }
    rows.push(h('tr', { class: cls, 'data-kind': ev.kind, 'data-record': ev.record || '' },
      h('td', {}, when(e.at)), h('td', {}, who), h('td', {}, what), h('td', {}, why), h('td', {}, basis), h('td', {}, h('a', { href: `#/ledger?tx=${e.tx}`, title: `verify transaction ${e.tx}`, 'data-tx': e.tx }, `#${e.height}`))));
  }
  return h('section', { id: 'history' },
    h('h2', {}, 'Access history'),
    h('p', {}, 'Every read of your records, allowed or refused, in ledger order (newest first). Each line is a committed transaction; an auditor can check its inclusion.'),
    h('table', {}, h('thead', {}, h('tr', {}, ['When', 'Who', 'What', 'Why', 'Under', 'Block'].map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows)));
}

export async function patientReport() {
  const s = session();
  const [recs, grants, audit] = await Promise.all([
    api.get(`/v1/patients/${s.patient}/records`, s.identity),
    api.get(`/v1/patients/${s.patient}/grants`, s.identity),
    api.get(`/v1/patients/${s.patient}/audit`, s.identity),
  ]);
  const disclosures = [];
  for (const e of audit.entries) {
    if (e.event.kind === 'access' && e.event.reader.id !== s.patient) {
      const o = e.event.outcome;
      disclosures.push(h('tr', {}, h('td', {}, when(e.at)), h('td', {}, await actorName(e.event.reader, s.patient)),
        h('td', {}, e.event.record), h('td', {}, e.event.purpose),
        h('td', {}, o.status === 'permitted' ? (o.basis.grant ? `disclosed under ${o.basis.grant}` : `disclosed (${o.basis.kind})`) : `refused (${o.code})`)));
    } else if (e.event.kind === 'break_glass') {
      disclosures.push(h('tr', { class: 'glass' }, h('td', {}, when(e.at)), h('td', {}, await agentName(e.event.agent)), h('td', {}, 'all records'), h('td', {}, 'emergency'), h('td', {}, `break-glass: ${e.event.reason}`)));
    }
  }
  return h('article', { class: 'report' },
    h('p', { class: 'no-print' }, h('a', { href: '#/patient' }, '\u2190 Back'), ' ', h('button', { onclick: () => window.print() }, 'Print')),
    h('h1', {}, 'Health record report'),
    h('p', {}, `Patient pseudonym ${s.patient}. Produced ${new Date().toLocaleString()} from the ledger at this node.`),
    h('h2', {}, `Records (${recs.records.length})`),
    h('table', { tabindex: 0 }, h('thead', {}, h('tr', {}, ['Added', 'Category', 'Type', 'Size', 'Status'].map((c) => h('th', {}, c)))),
      h('tbody', {}, recs.records.map((r) => h('tr', {}, h('td', {}, when(r.anchored)), h('td', {}, categoryLabel(r.category)), h('td', {}, r.media_type), h('td', {}, size(r.size)), h('td', {}, r.erased ? `erased ${when(r.erased)}` : 'held'))))),
    h('h2', {}, 'Grants'),
    h('ul', {}, await Promise.all(grants.grants.map(async (g) => h('li', {}, `${await granteeName(g.grantee)}: ${g.mode === 'append' ? 'may add' : 'may read'} ${g.categories.join(', ')} for ${g.purpose}, ${when(g.not_before)} to ${when(g.expires)}${g.revoked ? `, revoked ${when(g.revoked)}` : ''}`)))),
    h('h2', {}, 'Disclosures (reads by others, allowed and refused)'),
    disclosures.length ? h('table', { tabindex: 0 }, h('thead', {}, h('tr', {}, ['When', 'Who', 'Record', 'Purpose', 'Outcome'].map((c) => h('th', {}, c)))), h('tbody', {}, disclosures)) : h('p', {}, 'Nobody else has read or tried to read your records.'));
}

// ---- staff dashboard (doctor, nurse, insurer, public health, admin) -------------------------

const ROLE_PURPOSE = { doctor: 'treatment', nurse: 'treatment', 'lab-technician': 'treatment', pharmacist: 'treatment', 'insurer-officer': 'payment', 'public-health-officer': 'public-health', researcher: 'research', 'org-admin': 'treatment' };
const CLINICAL = ['doctor', 'nurse'];

export async function staffDashboard() {
  const s = session();
  const root = h('div', { class: 'dashboard' });
  const purpose = ROLE_PURPOSE[s.role] || 'treatment';
  root.append(h('header', { class: 'who' },
    h('h1', {}, `${s.name}`),
    h('p', {}, `${s.role.replace(/-/g, ' ')} at ${await orgName(s.organisation)}. Your staff id: `, h('code', { id: 'my-agent-id' }, s.agent),
      ` (patients grant access to it). You read for: ${purpose}.`)));

  if (s.role === 'org-admin') root.append(await approvals(s), await staffList(s));

  const detail = h('section', { id: 'patient-detail' });
  const showPatient = async (pid, p = purpose) => detail.replaceChildren(await patientPanel(s, pid, p));
  const list = await api.get(`/v1/agents/${s.agent}/patients`, s.identity);
  const sec = h('section', { id: 'patients' }, h('h2', {}, 'Patients who granted you access'));
  if (!list.patients.length) sec.append(h('p', {}, 'No patient has granted you access yet. Patients grant access to your staff id shown above.'));
  for (const p of list.patients) {
    const g = p.grants.map((x) => `${x.categories.join(', ')} for ${x.purpose} until ${when(x.expires)}`).join('; ');
    sec.append(h('div', { class: 'patient', 'data-patient': p.patient },
      h('button', { onclick: () => showPatient(p.patient) }, `Patient ${p.patient}`), h('span', { class: 'meta' }, ` ${g}`)));
  }
  const byId = h('input', { name: 'patient', placeholder: 'pt_\u2026' });
  sec.append(h('form', { class: 'inline', onsubmit: (e) => { e.preventDefault(); showPatient(byId.value.trim()); } },
    field('Open a patient by pseudonym', byId), h('button', { type: 'submit' }, 'Open')));
  root.append(sec);
  if (CLINICAL.includes(s.role)) root.append(breakGlassForm(s, showPatient));
  if (s.role === 'public-health-officer' || s.role === 'researcher') root.append(populationForm(s, purpose));
  root.append(detail);
  return root;
}

// Population counts: noisy totals over the patients who granted this purpose to the
// organisation. The page says what the numbers are and what each request costs.
function populationForm(s, purpose) {
  const condition = h('input', { name: 'condition', inputmode: 'numeric', placeholder: 'e.g. 44054006 (diabetes), optional' });
  const by = h('select', { name: 'by' }, [['total', 'Total'], ['age-band', 'Age band'], ['region', 'Region (list them)'], ['condition', 'Condition codes (list them)']].map(([v, l]) => h('option', { value: v }, l)));
  const cells = h('input', { name: 'cells', placeholder: 'Massachusetts, Ohio  or  44054006, 38341003' });
  const epsilon = h('select', { name: 'epsilon' }, [[1000, '1.0 (less noise)'], [500, '0.5'], [200, '0.2'], [100, '0.1 (more noise)']].map(([v, l]) => h('option', { value: v }, l)));
  epsilon.value = '500';
  const st = status();
  const out = h('div', { id: 'population-result' });
  const form = h('form', { class: 'panel', id: 'population-form' },
    h('h2', {}, 'Population counts'),
    h('p', {}, `Counts only patients who let your organisation use their conditions for ${purpose}. Every number has random noise added, small numbers are hidden, each request is recorded on the ledger and shown to the patients counted, and each one spends part of your privacy budget.`),
    field('Condition (SNOMED CT code)', condition), field('Break down by', by), field('Cells', cells, 'Only for regions or condition codes: the cells are named by you, never by the data.'),
    field('Privacy loss (epsilon)', epsilon), h('button', { type: 'submit', class: 'primary' }, 'Release counts'), st, out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const named = by.value === 'region' || by.value === 'condition';
    const list = cells.value.split(',').map((c) => c.trim()).filter(Boolean);
    if (named && !list.length) return showError(st, new Error('Name the cells: the regions or condition codes to count.'));
    try {
      const r = await flows.populationCounts(s, {
        purpose, condition: condition.value.trim() || null, groupBy: by.value, cells: named ? list : [], epsilonMilli: Number(epsilon.value),
      });
      const rows = r.cells.map((c) => h('tr', { 'data-cell': c.label }, h('td', {}, c.label),
        h('td', {}, c.suppressed ? `fewer than ${r.noise.suppress_below} (hidden)` : String(c.count))));
      out.replaceChildren(h('table', {}, h('thead', {}, h('tr', {}, ['Cell', 'Patients (noisy)'].map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows)));
      showOk(st, `Released at block ${r.height}. Noise scale ${r.noise.scale}; privacy budget used ${r.budget.spent_epsilon} of ${r.budget.total_epsilon}.`);
    } catch (err) { out.replaceChildren(); showError(st, err); }
  });
  return form;
}

async function approvals(s) {
  const sec = h('section', { id: 'approvals' }, h('h2', {}, 'Staff requests waiting for you'));
  const { requests } = await api.get('/v1/accounts/staff-requests', s.identity);
  if (!requests.length) sec.append(h('p', {}, 'No requests are waiting.'));
  for (const r of requests) {
    const st = status();
    sec.append(h('div', { class: 'request', 'data-login': r.login },
      h('p', {}, h('strong', {}, r.name), ` asks to join as ${r.role} (licence ${r.licence || 'none given'}), login ${r.login}, requested ${when(r.requested)}.`),
      h('button', { class: 'primary', onclick: async (e) => {
        e.target.disabled = true;
        try {
          await api.post(`/v1/accounts/staff-requests/${encodeURIComponent(r.login)}/approve`, {}, s.identity);
          showOk(st, `Approved: ${r.name} is registered on the ledger.`);
        } catch (err) { showError(st, err); e.target.disabled = false; }
      } }, 'Approve and register'),
      h('button', { class: 'danger', onclick: async (e) => {
        e.target.disabled = true;
        try {
          await api.post(`/v1/accounts/staff-requests/${encodeURIComponent(r.login)}/decline`, {}, s.identity);
          showOk(st, `Declined: the request from ${r.name} is deleted.`);
        } catch (err) { showError(st, err); e.target.disabled = false; }
      } }, 'Decline'), st));
  }
  return sec;
}

async function staffList(s) {
  const sec = h('section', { id: 'staff' }, h('h2', {}, `Staff of ${await orgName(s.organisation)}`));
  const { agents } = await api.get(`/v1/organisations/${s.organisation}/agents`);
  const rows = agents.map((a) => {
    const st = status();
    const cell = h('td', {});
    if (a.revoked) cell.append(`revoked ${when(a.revoked)}`);
    else if (a.id === s.agent) cell.append('you');
    else {
      const b = h('button', { class: 'danger', 'data-revoke-agent': a.id }, 'Revoke');
      b.addEventListener('click', async () => {
        if (!b.dataset.armed) {
          b.dataset.armed = '1';
          b.textContent = `Confirm: revoke ${a.name}`;
          showOk(st, 'They will no longer be able to log in or read anything; what they already read stays read.');
          return;
        }
        try {
          await flows.revokeAgent(s, a.id);
          b.remove();
          showOk(st, `Revoked: ${a.name} is no longer registered.`);
        } catch (err) { showError(st, err); }
      });
      cell.append(b);
    }
    return h('tr', { 'data-agent': a.id }, h('td', {}, a.name), h('td', {}, a.role), h('td', {}, a.licence), h('td', {}, when(a.registered)), cell, h('td', {}, st));
  });
  sec.append(h('table', {}, h('thead', {}, h('tr', {}, ['Name', 'Role', 'Licence', 'Registered', 'Status', ''].map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, rows)));
  return sec;
}

async function patientPanel(s, pid, purpose) {
  const panel = h('div', { class: 'panel' }, h('h2', {}, `Patient ${pid}`));
  const st = status();
  let recs;
  try {
    recs = await api.get(`/v1/patients/${pid}/records?purpose=${purpose}`, s.identity);
  } catch (err) {
    showError(st, err);
    panel.append(st);
    return panel;
  }
  panel.append(h('p', {}, `Records you may read for ${purpose} (${recs.records.length}). Each opening is written in the patient\u2019s access history.`));
  const slot = h('div', { class: 'viewer-slot' });
  const rows = recs.records.filter((r) => r.erased === null).map((r) => {
    const rs = status();
    return h('tr', { 'data-record': r.id },
      h('td', {}, categoryLabel(r.category)), h('td', {}, when(r.anchored)), h('td', {}, r.media_type), h('td', {}, size(r.size)),
      h('td', {}, h('button', { 'data-open': r.id, onclick: async () => {
        const p = progress();
        rs.replaceChildren(p);
        try {
          const rec = await flows.openRecord(s, r.id, purpose, (d, t) => p.update('Downloading', d, t));
          slot.replaceChildren(await viewer(rec, r.id));
          rs.textContent = '';
        } catch (err) { slot.replaceChildren(); showError(rs, err); }
      } }, 'Open')), h('td', {}, rs));
  });
  panel.append(h('table', {}, h('thead', {}, h('tr', {}, ['Category', 'Added', 'Type', 'Size', '', ''].map((c) => h('th', {}, c)))), h('tbody', {}, rows)), slot);
  if (CLINICAL.includes(s.role)) panel.append(uploadForm(s, pid, async () => panel.replaceWith(await patientPanel(s, pid, purpose))));
  panel.append(st);
  return panel;
}

function breakGlassForm(s, showPatient) {
  const pid = h('input', { name: 'patient', placeholder: 'pt_\u2026', required: true });
  const reason = h('input', { name: 'reason', required: true, maxlength: 1024, placeholder: 'e.g. unconscious in the emergency department' });
  const dur = h('select', { name: 'duration' }, [[3600, '1 hour'], [7200, '2 hours'], [14400, '4 hours']].map(([v, l]) => h('option', { value: v }, l)));
  const st = status();
  const form = h('form', { class: 'panel glass', id: 'break-glass-form' },
    h('h2', {}, 'Emergency access (break-glass)'),
    h('p', {}, 'Only for emergencies. The declaration is on the ledger, shown at the top of the patient\u2019s page, and reviewed. It opens records only where the patient keeps a standing emergency grant for your organisation.'),
    field('Patient pseudonym', pid), field('Reason', reason), field('For', dur),
    h('button', { type: 'submit', class: 'danger' }, 'Declare break-glass'), st);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!reason.value.trim()) return showError(st, new Error('Give the reason: it is shown to the patient and to reviewers.'));
    try {
      await flows.breakGlass(s, pid.value.trim(), reason.value.trim(), Number(dur.value));
      showOk(st, 'Declared. Emergency reads are now allowed for the chosen time.');
      await showPatient(pid.value.trim(), 'emergency');
    } catch (err) { showError(st, err); }
  });
  return form;
}

// ---- auditor: the ledger --------------------------------------------------------------------

export async function ledgerView(txToCheck) {
  const [chain, alerts] = await Promise.all([api.get('/v1/chain'), api.get('/v1/alerts')]);
  const tip = chain.tip ? chain.tip.height : 0;
  const blocks = [];
  for (let hgt = tip; hgt > Math.max(0, tip - 15); hgt--) {
    try {
      blocks.push(await api.get(`/v1/blocks/${hgt}`));
    } catch (err) {
      blocks.push({ damaged: hgt, error: api.explain(err) });
    }
  }
  const detail = h('div', { class: 'viewer-slot' });
  const txInput = h('input', { name: 'tx', placeholder: 'transaction id (64 hex digits)', value: txToCheck || null });
  const st = status();
  const trusted = chain.validators.map((v) => v.key);
  const check = async () => {
    st.textContent = '';
    detail.replaceChildren();
    const id = txInput.value.trim();
    if (!/^[0-9a-f]{64}$/.test(id)) return showError(st, new Error('A transaction id is 64 hex digits (shown in the access history and in receipts).'));
    try {
      const [t, p] = await Promise.all([api.get(`/v1/tx/${id}`), api.get(`/v1/tx/${id}/proof`)]);
      const v = await verifyInclusion(id, p.index, p.parts, trusted, chain.chain_id);
      detail.replaceChildren(h('div', { class: `panel ${v.ok ? 'verified' : 'alert'}`, id: 'inclusion', 'data-verified': String(v.ok) },
        h('h3', {}, v.ok ? `Verified: transaction ${id.slice(0, 12)}\u2026 (${t.kind}) is in block ${v.height}` : 'NOT verified: do not rely on this transaction'),
        h('ul', {}, v.checks.map((c) => h('li', { class: c.ok ? 'ok' : 'bad' }, `${c.ok ? '\u2713' : '\u2717'} ${c.name}`))),
        h('p', { class: 'meta' }, 'Checked in this browser from the proof\u2019s bytes against the validator keys listed above; compare those keys with the ones your consortium publishes. ',
          `Outcome on the ledger: ${t.outcome.status}${t.outcome.code ? ` (${t.outcome.code})` : ''}, ${when(t.time)}.`),
        h('details', {}, h('summary', {}, 'The proof (base64), for ', h('code', {}, 'ehrchain verify proof')),
          h('textarea', { readonly: true, rows: 4, 'aria-label': 'inclusion proof (base64)' }, p.proof))));
    } catch (err) { showError(st, err); }
  };
  const root = h('div', { class: 'dashboard' },
    h('h1', {}, 'The ledger'),
    alerts.alerts.length
      ? h('section', { class: 'alert', role: 'alert', id: 'tamper-alerts' }, h('h2', {}, `Tamper and damage alerts (${alerts.alerts.length})`),
        h('ul', {}, alerts.alerts.map((a) => h('li', {}, JSON.stringify(a)))))
      : h('p', { class: 'status ok', id: 'tamper-alerts' }, 'No tamper or damage alerts: every block and stored ciphertext passed its last check.'),
    h('section', {}, h('h2', {}, 'Chain'),
      h('dl', {}, h('dt', {}, 'Chain'), h('dd', {}, chain.chain), h('dt', {}, 'Chain id'), h('dd', {}, h('code', {}, chain.chain_id)),
        h('dt', {}, 'Height'), h('dd', {}, String(tip)), h('dt', {}, 'Started'), h('dd', {}, when(chain.genesis_time))),
      h('h3', {}, `Validators (${chain.validators.length})`),
      h('ul', { id: 'validators' }, chain.validators.map((v) => h('li', {}, `${v.name}: `, h('code', {}, v.key))))),
    h('section', {}, h('h2', {}, 'Check a transaction'),
      h('p', {}, 'A record\u2019s anchor, a grant, a read: every line of a patient\u2019s access history links here.'),
      h('form', { class: 'inline', id: 'check-tx', onsubmit: (e) => { e.preventDefault(); check(); } },
        field('Transaction id', txInput), h('button', { type: 'submit' }, 'Verify inclusion')), st, detail),
    h('section', {}, h('h2', {}, 'Latest blocks'),
      h('table', { id: 'blocks', tabindex: 0 }, h('thead', {}, h('tr', {}, ['Height', 'Time', 'Transactions', 'Hash', 'Votes'].map((c) => h('th', {}, c)))),
        h('tbody', {}, blocks.map((b) => b.damaged
          ? h('tr', { class: 'denied' }, h('td', {}, String(b.damaged)), h('td', { colspan: 4 }, b.error))
          : h('tr', {}, h('td', {}, String(b.header.height)), h('td', {}, when(b.header.time)),
            h('td', {}, b.transactions.map((t) => `${t.kind} (${t.outcome.status})`).join(', ')),
            h('td', {}, h('code', {}, short(b.header.hash))), h('td', {}, String(b.certificate.length))))))));
  if (txToCheck) check();
  return root;
}

export { logout };
