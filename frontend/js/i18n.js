// The interface's language: strings/fr.js (default) and strings/en.js, chosen per person.
// t(key, params) fills {placeholders}; a value may also be a function(params).

import fr from './strings/fr.js';
import en from './strings/en.js';

const STORAGE_KEY = 'ee.locale';
export const LOCALES = ['fr', 'en'];

const dict = { fr, en };

function initialLocale() {
  try {
    const saved = localStorage.getItem(STORAGE_KEY);
    if (LOCALES.includes(saved)) return saved;
  } catch (_) { /* storage disabled */ }
  // No choice made here yet: the browser's first language we speak; French for a French-speaking
  // browser (our first public), English for every other one (more widely read than French).
  const wanted = (navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'fr'])
    .map((tag) => String(tag).toLowerCase().split('-')[0]);
  const first = wanted.find((lang) => LOCALES.includes(lang));
  return first || (wanted.length ? 'en' : 'fr');
}

let current = initialLocale();
const listeners = new Set();

export function getLocale() { return current; }

/** True when the person picked a language on this device (it then wins over the account's). */
export function hasSavedLocale() {
  try { return LOCALES.includes(localStorage.getItem(STORAGE_KEY)); } catch (_) { return false; }
}

export function setLocale(locale, { save = true } = {}) {
  if (!LOCALES.includes(locale)) return;
  if (save) {
    try { localStorage.setItem(STORAGE_KEY, locale); } catch (_) { /* ignore */ }
  }
  if (locale === current) return;
  current = locale;
  document.documentElement.lang = locale;
  listeners.forEach((fn) => fn(locale));
}

export function onLocaleChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function t(key, params = {}) {
  const value = dict[current][key] ?? dict.fr[key];
  if (value === undefined) {
    console.warn('i18n: missing key', key);
    return key;
  }
  if (typeof value === 'function') return value(params);
  // A value the API left empty (null) reads as a dash, never as the word "null".
  return value.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name] ?? '—') : m));
}

export function hasKey(key) { return key in dict[current]; }

const INTL = { fr: 'fr-FR', en: 'en-IE' };

/** 12345 → "12 345" (fr) or "12,345" (en). */
export function number(n) {
  return new Intl.NumberFormat(INTL[current]).format(n);
}

/** 100 → "1,00 €" (fr) or "€1.00" (en). */
export function money(cents, currency = 'eur') {
  return new Intl.NumberFormat(INTL[current], { style: 'currency', currency: currency.toUpperCase() })
    .format(cents / 100);
}

/** Money without trailing zeros where whole: 100 → "1 €" / "€1". */
export function moneyShort(cents, currency = 'eur') {
  const whole = cents % 100 === 0;
  return new Intl.NumberFormat(INTL[current], {
    style: 'currency', currency: currency.toUpperCase(),
    minimumFractionDigits: whole ? 0 : 2, maximumFractionDigits: 2,
  }).format(cents / 100);
}

export function dateTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(INTL[current], { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

export function dateOnly(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(INTL[current], { dateStyle: 'long' }).format(d);
}

export function timeOnly(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(INTL[current], { timeStyle: 'short' }).format(d);
}

document.documentElement.lang = current;

/** A check both dictionaries have the same keys (used by the test page / console). */
export function missingKeys() {
  const fr = Object.keys(dict.fr), en = Object.keys(dict.en);
  return { en: fr.filter((k) => !(k in dict.en)), fr: en.filter((k) => !(k in dict.fr)) };
}
