// The router: one page, hash routes, each route a view from views.js. Pages that need a
// logged-in person send everyone else to the login page.

import * as v from './views.js';
import { session, logout } from './session.js';
import { explain } from './api.js';

const routes = {
  '': () => v.home(),
  '/': () => v.home(),
  '/patient/signup': () => v.patientSignup(),
  '/login': (q) => v.loginPage(q.has('staff')),
  '/staff/signup': () => v.staffSignup(),
  '/patient': () => need('patient', v.patientDashboard),
  '/patient/report': () => need('patient', v.patientReport),
  '/staff': () => need('staff', v.staffDashboard),
  '/ledger': (q) => v.ledgerView(q.get('tx')),
};

function need(kind, view) {
  const s = session();
  if (!s || s.kind !== kind) {
    location.hash = kind === 'staff' ? '#/login?staff' : '#/login';
    return null;
  }
  return view();
}

function nav() {
  const s = session();
  const links = [v.h('a', { href: '#/' }, 'Home'), v.h('a', { href: '#/ledger' }, 'Ledger')];
  if (s) {
    links.push(v.h('a', { href: s.kind === 'patient' ? '#/patient' : '#/staff' }, s.kind === 'patient' ? 'My records' : 'Dashboard'));
    links.push(v.h('button', { class: 'link', id: 'logout', onclick: () => { logout(); location.hash = '#/'; } }, `Log out ${s.login}`));
  } else {
    links.push(v.h('a', { href: '#/login' }, 'Log in'));
  }
  document.getElementById('nav').replaceChildren(...links);
}

async function show() {
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  const main = document.getElementById('app');
  nav();
  const route = routes[path] || (() => v.h('p', { class: 'status error' }, 'No such page. ', v.h('a', { href: '#/' }, 'Go to the home page.')));
  main.setAttribute('aria-busy', 'true');
  try {
    const el = await route(new URLSearchParams(query || ''));
    if (el) main.replaceChildren(el);
  } catch (err) {
    main.replaceChildren(v.h('p', { class: 'status error', role: 'alert' }, explain(err)));
  }
  main.removeAttribute('aria-busy');
  const h1 = main.querySelector('h1');
  if (h1) {
    h1.tabIndex = -1;
    h1.focus({ preventScroll: true });
  }
}

window.addEventListener('hashchange', show);
show();
