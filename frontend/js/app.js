// Entry point: boots config + session, draws the header, routes #/… to views.
import { post, ApiError } from './api.js';
import { h, clear } from './dom.js';
import { t, getLocale, setLocale, onLocaleChange, money } from './i18n.js';
import { state, subscribe, loadConfig, loadMe, refreshWallet, setMe, rememberLocale, takeFlash } from './store.js';
import * as home from './views/home.js';
import * as theme from './views/theme.js';
import * as wallet from './views/wallet.js';
import * as avatars from './views/avatars.js';
import * as addressVerify from './views/address-verify.js';
import * as auth from './views/auth.js';
import * as account from './views/account.js';
import * as notfound from './views/notfound.js';
import * as verify from './views/verify.js';
import * as admin from './views/admin.js';
import * as learn from './views/learn.js';
import * as adminTraining from './views/admin-training.js';
import * as adminStats from './views/admin-stats.js';
import * as adminSupport from './views/admin-support.js';
import * as password from './views/password.js';
import * as emailVerify from './views/email-verify.js';
import * as signupConfirm from './views/signup-confirm.js';
import * as mail from './views/mail.js';
import * as legal from './views/legal.js';

const main = document.getElementById('main');
const nav = document.getElementById('main-nav');
const balanceChip = document.getElementById('balance-chip');
const langSwitch = document.getElementById('lang-switch');
const userBox = document.getElementById('user-box');

const ROUTES = [
  { pattern: /^\/?$/, view: home, name: 'home' },
  { pattern: /^\/themes\/([\w-]+)\/?$/, view: theme, name: 'theme', keys: ['slug'] },
  { pattern: /^\/themes\/([\w-]+)\/learn\/?$/, view: learn, name: 'theme', keys: ['slug'] },
  { pattern: /^\/wallet\/?$/, view: wallet, name: 'wallet', auth: true },
  { pattern: /^\/avatars\/?$/, view: avatars, name: 'avatars', auth: true },
  // The link mailed to an extra address of My avatars' (no log-in needed either, like those below).
  { pattern: /^\/email\/address\/?$/, view: addressVerify, name: 'address-verify' },
  { pattern: /^\/account\/?$/, view: account, name: 'account', auth: true },
  { pattern: /^\/login\/?$/, view: auth, name: 'login', params: { mode: 'login' } },
  { pattern: /^\/signup\/?$/, view: auth, name: 'signup', params: { mode: 'signup' } },
  // The links of the e-mails (effigies/mail/templates): no log-in needed, another device may open them.
  { pattern: /^\/password\/forgot\/?$/, view: password, name: 'password', params: { mode: 'forgot' } },
  { pattern: /^\/password\/reset\/?$/, view: password, name: 'password', params: { mode: 'reset' } },
  { pattern: /^\/email\/verify\/?$/, view: emailVerify, name: 'email-verify' },
  { pattern: /^\/signup\/confirm\/?$/, view: signupConfirm, name: 'signup-confirm' },
  // Local mode's mail outbox (GET /api/mail/outbox answers 404 elsewhere; the page says so).
  { pattern: /^\/mail\/?$/, view: mail, name: 'mail' },
  // Terms of sale, withdrawal, privacy, legal notice, contact (effigies/legal; linked from the footer).
  { pattern: /^\/legal\/([\w-]+)\/?$/, view: legal, name: 'legal', keys: ['page'] },
  // Public: anyone can check an avatar (/verify/<id> on the server redirects here) or a certificate file.
  { pattern: /^\/verify\/?$/, view: verify, name: 'verify' },
  { pattern: /^\/verify\/([\w-]+)\/?$/, view: verify, name: 'verify', keys: ['public_id'] },
  // The server refuses every /api/admin call to non-admins; the page itself says so too.
  { pattern: /^\/admin\/?$/, view: admin, name: 'admin', auth: true },
  { pattern: /^\/admin\/themes\/([\w-]+)\/training\/?$/, view: adminTraining, name: 'admin', keys: ['slug'], auth: true },
  { pattern: /^\/admin\/stats\/?$/, view: adminStats, name: 'admin', auth: true },
  { pattern: /^\/admin\/support\/?$/, view: adminSupport, name: 'admin', auth: true },
];

let current = null; // { route, params, cleanup, key }

export function parseHash(hash = location.hash) {
  let raw = hash.startsWith('#') ? hash.slice(1) : hash;
  if (!raw.startsWith('/')) raw = '/';
  const [path, query = ''] = raw.split('?');
  return { path, query: new URLSearchParams(query) };
}

export function navigate(path) {
  const target = '#' + path;
  if (location.hash === target) render({ focus: true });
  else location.hash = target;
}

function resolve(path) {
  for (const route of ROUTES) {
    const match = route.pattern.exec(path);
    if (match) {
      const params = { ...(route.params || {}) };
      (route.keys || []).forEach((key, i) => { params[key] = decodeURIComponent(match[i + 1]); });
      return { route, params };
    }
  }
  return { route: { view: notfound, name: 'notfound' }, params: {} };
}

const ctx = {
  navigate,
  setTitle(title) {
    document.title = title ? `${title} — ${t('app.name')}` : t('app.name');
  },
  requireLogin(nextPath) {
    navigate('/login?next=' + encodeURIComponent(nextPath || parseHash().path));
  },
  /** Call on any ApiError: a 401 means the session is gone → login. Returns true when handled. */
  handleAuthError(err) {
    if (err instanceof ApiError && err.status === 401) {
      setMe(null);
      ctx.requireLogin();
      return true;
    }
    return false;
  },
};

function render({ focus = true } = {}) {
  const { path, query } = parseHash();
  const { route, params } = resolve(path);

  if (route.auth && !state.me) {
    location.replace('#/login?next=' + encodeURIComponent(path));
    return;
  }

  if (current && current.cleanup) {
    try { current.cleanup(); } catch (err) { console.error(err); }
  }
  clear(main);
  main.removeAttribute('aria-busy');
  current = { route, params };
  ctx.setTitle('');
  drawHeader(route.name);
  try {
    current.cleanup = route.view.mount(main, { ...params, query }, ctx) || null;
  } catch (err) {
    console.error(err);
    main.append(h('p', { class: 'notice notice-error', role: 'alert', text: t('err.server') }));
  }
  showFlash();
  if (focus) {
    const heading = main.querySelector('h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: false });
    }
    window.scrollTo(0, 0);
  }
}

/** A notice left for this page by the previous one (store.setFlash), under its heading. */
function showFlash() {
  const flash = takeFlash();
  if (!flash) return;
  const note = h('p', { class: 'notice notice-success', role: 'status', 'data-testid': 'flash', text: t(flash.key, flash.params || {}) });
  const heading = main.querySelector('h1');
  if (heading) heading.after(note);
  else main.prepend(note);
}

// ----- typed values across a language switch -----
const RESTORE_MS = 5000; // a view that draws its form after a request gets it back too

/** A field's name on the page that does not change between two draws (uid() ids carry a counter). */
function fieldKey(el) {
  const id = el.id ? el.id.replace(/-\d+$/, '') : '';
  return [el.tagName, el.type || '', el.name || '', id, el.dataset.testid || ''].join('|');
}

function typedValues() {
  const seen = new Map();
  const values = [];
  main.querySelectorAll('input, textarea, select').forEach((el) => {
    if (el.type === 'file' || el.type === 'hidden' || el.disabled) return;
    const changed = el.type === 'checkbox' || el.type === 'radio' ? el.checked !== el.defaultChecked : el.value !== el.defaultValue;
    const key = fieldKey(el);
    const n = seen.get(key) || 0; // the n-th field of that kind (a list of identical rows)
    seen.set(key, n + 1);
    if (changed) values.push({ key, n, value: el.value, checked: el.checked });
  });
  return values;
}

function restoreTyped(values) {
  if (!values.length) return;
  let pending = values.slice();
  const fill = () => {
    const seen = new Map();
    main.querySelectorAll('input, textarea, select').forEach((el) => {
      const key = fieldKey(el);
      const n = seen.get(key) || 0;
      seen.set(key, n + 1);
      const i = pending.findIndex((v) => v.key === key && v.n === n);
      if (i === -1) return;
      const saved = pending[i];
      pending.splice(i, 1);
      if (el.type === 'checkbox' || el.type === 'radio') el.checked = saved.checked;
      else el.value = saved.value;
      el.dispatchEvent(new Event(el.tagName === 'SELECT' || el.type === 'checkbox' || el.type === 'radio' ? 'change' : 'input', { bubbles: true }));
    });
    return pending.length === 0;
  };
  if (fill()) return;
  const view = current;
  const observer = new MutationObserver(() => { if (current !== view || fill()) observer.disconnect(); });
  observer.observe(main, { childList: true, subtree: true });
  setTimeout(() => observer.disconnect(), RESTORE_MS);
}

function navLink(href, label, active) {
  return h('a', { href, 'aria-current': active ? 'page' : null, text: label });
}

// The legal pages every page links to (the withdrawal page is linked from the terms).
const LEGAL_FOOTER = [['terms', 'legal.terms'], ['privacy', 'legal.privacy'], ['legal-notice', 'legal.legal_notice'],
  ['contact', 'legal.contact']];

function drawHeader(routeName = current && current.route.name) {
  clear(nav);
  nav.setAttribute('aria-label', t('nav.label'));
  const items = [navLink('#/', t('nav.themes'), routeName === 'home' || routeName === 'theme')];
  if (state.me) {
    items.push(navLink('#/avatars', t('nav.avatars'), routeName === 'avatars'));
    items.push(navLink('#/wallet', t('nav.wallet'), routeName === 'wallet'));
    items.push(navLink('#/account', t('nav.account'), routeName === 'account'));
    if (state.me.role === 'admin') items.push(navLink('#/admin', t('nav.admin'), routeName === 'admin'));
  } else {
    items.push(navLink('#/login', t('nav.login'), routeName === 'login'));
    items.push(navLink('#/signup', t('nav.signup'), routeName === 'signup'));
  }
  nav.append(h('ul', {}, items.map((item) => h('li', {}, item))));

  clear(userBox);
  userBox.hidden = !state.me;
  if (state.me) {
    userBox.append(
      // The inner span: the greeting hides itself where its box has too little room (app.css).
      h('span', { class: 'nav-user', 'data-testid': 'user-name' }, h('span', { text: t('nav.hello', { name: state.me.display_name }) })),
      h('button', { type: 'button', class: 'link-button', 'data-testid': 'logout', onclick: logout, text: t('nav.logout') }));
  }

  if (state.me && typeof state.balanceCents === 'number') {
    const amount = money(state.balanceCents, state.currency);
    balanceChip.textContent = t('nav.balance', { amount });
    balanceChip.setAttribute('aria-label', t('nav.balance_label', { amount }));
    balanceChip.dataset.cents = String(state.balanceCents);
    balanceChip.hidden = false;
  } else {
    balanceChip.hidden = true;
  }

  langSwitch.setAttribute('aria-label', t('app.lang_group'));
  langSwitch.querySelectorAll('button').forEach((btn) => {
    const on = btn.dataset.locale === getLocale();
    btn.setAttribute('aria-pressed', on ? 'true' : 'false');
    btn.setAttribute('title', t(btn.dataset.locale === 'fr' ? 'app.lang_fr' : 'app.lang_en'));
  });

  const skip = document.getElementById('skip-link');
  skip.textContent = t('app.skip');
  const footer = document.getElementById('footer');
  clear(footer);
  footer.append(t('app.footer'));
  const legalPage = routeName === 'legal' && current ? current.params.page : null;
  const legalLinks = h('nav', { class: 'footer-legal', 'aria-label': t('legal.footer_label'), 'data-testid': 'legal-links' });
  LEGAL_FOOTER.forEach(([page, key], i) => {
    if (i) legalLinks.append(' · ');
    legalLinks.append(h('a', {
      href: `#/legal/${page}`, 'data-testid': `legal-link-${page}`, 'aria-current': legalPage === page ? 'page' : null, text: t(key),
    }));
  });
  if (state.config && state.config.mail_outbox) {
    legalLinks.append(' · ', h('a', {
      href: '#/mail', 'data-testid': 'outbox-link-footer', 'aria-current': routeName === 'mail' ? 'page' : null, text: t('mail.footer_link'),
    }));
  }
  legalLinks.style.marginTop = '.4rem';
  footer.append(legalLinks);
}

async function logout() {
  try {
    await post('/api/auth/logout', {});
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) console.warn('logout failed', err);
  }
  setMe(null);
  navigate('/');
}

function bootFailed() {
  clear(main);
  main.append(
    h('p', { class: 'notice notice-error', role: 'alert', text: t('app.boot_failed') }),
    h('button', { type: 'button', class: 'btn', onclick: () => location.reload(), text: t('app.retry') }),
  );
}

async function boot() {
  langSwitch.addEventListener('click', (event) => {
    const btn = event.target.closest('button[data-locale]');
    if (!btn) return;
    const locale = btn.dataset.locale;
    setLocale(locale);
    rememberLocale(locale);
  });
  document.getElementById('skip-link').addEventListener('click', (event) => {
    event.preventDefault();
    main.focus();
  });
  // Before boot has read the session, a render would send a signed-in person to the log-in page;
  // boot's own render comes in the new language anyway.
  // What was typed survives the redraw (a half-filled log-in form, a goodwill reason…).
  onLocaleChange(() => {
    if (!document.body.dataset.ready) return;
    const typed = typedValues();
    render({ focus: false });
    restoreTyped(typed);
  });
  subscribe(() => drawHeader());
  window.addEventListener('hashchange', () => render({ focus: true }));

  drawHeader('home');
  main.setAttribute('aria-busy', 'true');
  try {
    // In sequence: the first GET sets the csrftoken cookie, the second then keeps it.
    await loadConfig();
    await loadMe();
  } catch (err) {
    console.error(err);
    bootFailed();
    return;
  }
  if (state.me) refreshWallet().catch(() => {});
  render({ focus: false });
  document.body.dataset.ready = 'true';
}

boot();
