// #/password/forgot (ask for a reset link) and #/password/reset?token=… (choose a new password).
import { post, ApiError } from '../api.js';
import { h, clear, setMessage, alertBox } from '../dom.js';
import { t, getLocale } from '../i18n.js';
import { setMe } from '../store.js';
import { errorText, invalidField } from '../errors.js';
import { field } from './auth.js';
import { passwordMeter } from '../password-meter.js';

/** What an e-mailed link carries (the server checks it again): 20–100 of A–Z a–z 0–9 _ -. */
export const TOKEN_RE = /^[A-Za-z0-9_-]{20,100}$/;
export const TOKEN_ERRORS = new Set(['invalid_token', 'token_used', 'token_expired']);

/** The message for a link the server refused (or that is malformed): err.invalid_token by default. */
export function linkErrorText(err) {
  const code = err && TOKEN_ERRORS.has(err.code) ? err.code : 'invalid_token';
  return t('err.' + code);
}

function forgot(main, params, ctx) {
  ctx.setTitle(t('forgot.title'));
  const error = alertBox({ 'data-testid': 'forgot-error' });
  const status = h('div', { role: 'status', 'aria-live': 'polite', class: 'notice notice-success', hidden: true, 'data-testid': 'forgot-status' });
  const email = field({ label: t('auth.email'), type: 'email', name: 'email', autocomplete: 'email' });
  const typed = params.query && params.query.get('email');
  if (typed) email.input.value = typed.slice(0, 254);
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', text: t('forgot.submit') });
  const form = h('form', { class: 'auth-form panel', novalidate: true, 'aria-labelledby': 'forgot-title' },
    h('p', { id: 'forgot-lead', text: t('forgot.lead') }),
    error, email.el,
    h('div', { class: 'actions' }, submit),
    h('p', { class: 'switch' }, h('a', { href: '#/login', text: t('forgot.back_login') })));

  main.append(h('h1', { id: 'forgot-title', text: t('forgot.title') }), status, form);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    email.input.removeAttribute('aria-invalid');
    setMessage(error, '');
    const address = email.input.value.trim();
    if (!address || !email.input.checkValidity()) {
      email.input.setAttribute('aria-invalid', 'true');
      setMessage(error, t('err.invalid_email'), 'error');
      email.input.focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = t('auth.working');
    try {
      await post('/api/auth/password/forgot', { email: address, locale: getLocale() });
      // The same answer whether or not an account uses the address: so is this notice.
      clear(status);
      status.append(
        h('p', { text: t('forgot.sent', { email: address }) }),
        h('p', { class: 'hint', text: t('forgot.sent_hint') }));
      status.hidden = false;
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && invalidField(err) === 'email') {
        email.input.setAttribute('aria-invalid', 'true');
        setMessage(error, t('err.invalid_email'), 'error');
        email.input.focus();
      } else {
        setMessage(error, errorText(err), 'error');
      }
    } finally {
      submit.disabled = false;
      submit.textContent = t('forgot.submit');
    }
  });
  return null;
}

// Tokens already spent on this page: a re-render (a change of language) keeps saying it worked.
const resetDone = new Set();

function reset(main, params, ctx) {
  ctx.setTitle(t('reset.title'));
  const token = (params.query && params.query.get('token')) || '';
  const status = h('div', { role: 'status', 'aria-live': 'polite', hidden: true, 'data-testid': 'reset-status' });
  main.append(h('h1', { text: t('reset.title') }), status);

  function showDone() {
    clear(status);
    status.className = 'notice notice-success';
    status.append(
      h('p', { text: t('reset.done') }),
      h('p', {}, h('a', { href: '#/login', class: 'btn btn-primary', 'data-testid': 'reset-login', text: t('nav.login') })));
    status.hidden = false;
  }

  function showLinkError(err) {
    clear(status);
    status.className = 'notice notice-error';
    status.dataset.code = err && TOKEN_ERRORS.has(err.code) ? err.code : 'invalid_token';
    status.append(
      h('p', { text: linkErrorText(err) }),
      h('p', {}, h('a', { href: '#/password/forgot', 'data-testid': 'reset-ask-again', text: t('reset.ask_again') })));
    status.hidden = false;
  }

  if (resetDone.has(token)) { showDone(); return null; }
  if (!TOKEN_RE.test(token)) { showLinkError(null); return null; }

  const error = alertBox({ 'data-testid': 'reset-error' });
  const fresh = field({
    label: t('account.new_password'), type: 'password', name: 'new_password', autocomplete: 'new-password',
    minlength: 10, hint: t('auth.password_hint'),
  });
  const again = field({ label: t('account.new_password_again'), type: 'password', name: 'new_password_again', autocomplete: 'new-password' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', text: t('reset.submit') });
  const form = h('form', { class: 'auth-form panel', novalidate: true, 'aria-label': t('reset.title') },
    error, fresh.el, passwordMeter(fresh.input), again.el,
    h('div', { class: 'actions' }, submit));
  main.append(form);

  function invalid(input, message) {
    input.setAttribute('aria-invalid', 'true');
    setMessage(error, message, 'error');
    input.focus();
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    [fresh.input, again.input].forEach((input) => input.removeAttribute('aria-invalid'));
    setMessage(error, '');
    if (fresh.input.value.length < 10) return invalid(fresh.input, t('err.password_too_short'));
    if (fresh.input.value.length > 128) return invalid(fresh.input, t('err.password_too_long'));
    if (fresh.input.value !== again.input.value) return invalid(again.input, t('account.passwords_differ'));
    submit.disabled = true;
    submit.textContent = t('auth.working');
    try {
      await post('/api/auth/password/reset', { token, new_password: fresh.input.value });
    } catch (err) {
      submit.disabled = false;
      submit.textContent = t('reset.submit');
      const fieldName = err instanceof ApiError && err.status === 422 ? invalidField(err) : '';
      if (err instanceof ApiError && TOKEN_ERRORS.has(err.code)) {
        form.remove();
        showLinkError(err);
        main.querySelector('[data-testid=reset-ask-again]').focus();
      } else if (err instanceof ApiError && (err.code === 'password_weak' || err.code === 'password_personal')) {
        invalid(fresh.input, errorText(err));
      } else if (fieldName === 'new_password') {
        invalid(fresh.input, t('err.password_too_short'));
      } else if (fieldName === 'token') {
        form.remove();
        showLinkError(null);
        main.querySelector('[data-testid=reset-ask-again]').focus();
      } else {
        setMessage(error, errorText(err), 'error');
      }
      return;
    }
    // Every session of the account has ended, this browser's too.
    resetDone.add(token);
    setMe(null);
    form.remove();
    showDone();
    main.querySelector('[data-testid=reset-login]').focus();
  });
  return null;
}

export function mount(main, params, ctx) {
  return params.mode === 'reset' ? reset(main, params, ctx) : forgot(main, params, ctx);
}
