// The little shared state: server config, the signed-in person, the wallet balance.
import { get, patch, ApiError } from './api.js';
import { getLocale, setLocale, hasSavedLocale } from './i18n.js';

export const state = {
  config: null,        // GET /api/config
  me: null,            // GET /api/me, or null when signed out
  balanceCents: null,  // GET /api/wallet balance_cents, null when unknown
  currency: 'eur',
};

const listeners = new Set();

export function subscribe(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function notify() {
  listeners.forEach((fn) => fn(state));
}

export async function loadConfig() {
  state.config = await get('/api/config');
  state.currency = state.config.currency || 'eur';
  return state.config;
}

export function priceCents() {
  return state.config ? state.config.price_cents : 10;
}

export async function loadMe() {
  // GET /api/session answers 200 to a visitor too: no failed request in the console on each page load.
  const session = await get('/api/session');
  state.me = (session && session.user) || null;
  if (!state.me) state.balanceCents = null;
  notify();
  adoptLocale(state.me);
  return state.me;
}

export function setMe(me) {
  state.me = me;
  if (!me) state.balanceCents = null;
  notify();
  adoptLocale(me);
}

/** A choice made on this device wins (and is sent to the account); otherwise use the account's language. */
function adoptLocale(me) {
  if (!me) return;
  if (!hasSavedLocale() && (me.locale === 'fr' || me.locale === 'en')) {
    setLocale(me.locale, { save: false });
  } else if (me.locale !== getLocale()) {
    rememberLocale(getLocale());
  }
}

/** Returns the full wallet ({balance_cents, currency, entries}) and updates the shared balance. */
export async function refreshWallet() {
  if (!state.me) return null;
  try {
    const wallet = await get('/api/wallet');
    state.balanceCents = wallet.balance_cents;
    state.currency = wallet.currency || state.currency;
    notify();
    return wallet;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      setMe(null);
      return null;
    }
    throw err;
  }
}

export function setBalance(cents) {
  state.balanceCents = cents;
  notify();
}

const THEME_KEY = 'ee.theme';
const THEME_PATH = /^\/themes\/[\w-]+$/;

/** The theme page last opened in this tab (sessionStorage): the wallet page links back to it. */
export function rememberTheme(slug) {
  try { sessionStorage.setItem(THEME_KEY, slug); } catch (_) { /* storage disabled: ?from= still works */ }
}

/** Where the wallet page leads back to: its ?from=/themes/<slug>, else the last theme page of this tab. */
export function backToTheme(from) {
  if (typeof from === 'string' && THEME_PATH.test(from)) return from.slice('/themes/'.length);
  try {
    const slug = sessionStorage.getItem(THEME_KEY);
    if (slug && THEME_PATH.test('/themes/' + slug)) return slug;
  } catch (_) { /* storage disabled */ }
  return null;
}

const FLASH_KEY = 'ee.flash';
let pendingFlash = null;

/** A notice for the next page only ({key, params} of a string), e.g. after sign-up; survives a reload. */
export function setFlash(key, params = {}) {
  pendingFlash = { key, params };
  try { sessionStorage.setItem(FLASH_KEY, JSON.stringify(pendingFlash)); } catch (_) { /* memory is enough */ }
}

/** The pending notice, once: later calls return null. */
export function takeFlash() {
  let flash = pendingFlash;
  pendingFlash = null;
  try {
    const saved = sessionStorage.getItem(FLASH_KEY);
    sessionStorage.removeItem(FLASH_KEY);
    if (saved) flash = JSON.parse(saved);
  } catch (_) { /* storage disabled or garbled: keep the in-memory one */ }
  return flash && typeof flash.key === 'string' ? flash : null;
}

/** PATCH /api/me {locale} when signed in; failures are harmless (localStorage still has it). */
export async function rememberLocale(locale) {
  if (!state.me) return;
  try {
    const me = await patch('/api/me', { locale });
    if (me && typeof me === 'object' && me.id) state.me = me;
    else state.me = { ...state.me, locale };
  } catch (_) { /* not worth bothering anyone */ }
}
