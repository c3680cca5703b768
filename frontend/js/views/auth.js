// #/login and #/signup.
import { post, ApiError } from '../api.js';
import { h, uid, clear, setMessage } from '../dom.js';
import { t, getLocale } from '../i18n.js';
import { state, setMe, loadMe, refreshWallet } from '../store.js';
import { errorText, invalidField } from '../errors.js';
import { passwordMeter } from '../password-meter.js';

export function field({ label, type, name, autocomplete, required = true, minlength, hint }) {
  const id = uid(name);
  const hintId = hint ? id + '-hint' : null;
  const input = h('input', {
    id, name, type, autocomplete, required, minlength,
    'aria-describedby': hintId,
    spellcheck: type === 'email' || type === 'password' ? 'false' : null,
    autocapitalize: type === 'email' ? 'none' : null,
  });
  return {
    input,
    el: h('div', { class: 'field' },
      h('label', { for: id, text: label }),
      input,
      hint ? h('p', { id: hintId, class: 'hint', text: hint }) : null),
  };
}

/** Only in-app paths ("/themes/x") are accepted as a destination. */
export function safeNext(query) {
  const next = query && query.get('next');
  return next && /^\/[\w\-/]*$/.test(next) ? next : '/';
}

export function mount(main, params, ctx) {
  const signup = params.mode === 'signup';
  const next = safeNext(params.query);
  ctx.setTitle(signup ? t('auth.signup_title') : t('auth.login_title'));

  const error = h('div', { role: 'alert', class: 'notice notice-error', hidden: true, 'data-testid': 'auth-error' });
  const name = signup ? field({ label: t('auth.display_name'), type: 'text', name: 'display_name', autocomplete: 'nickname' }) : null;
  const email = field({ label: t('auth.email'), type: 'email', name: 'email', autocomplete: 'email' });
  const password = field({
    label: t('auth.password'), type: 'password', name: 'password',
    autocomplete: signup ? 'new-password' : 'current-password',
    minlength: signup ? 10 : null, hint: signup ? t('auth.password_hint') : null,
  });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', text: signup ? t('auth.signup_submit') : t('auth.login_submit') });
  const nextQuery = next !== '/' ? '?next=' + encodeURIComponent(next) : '';
  // Log in: "Forgot your password?" carries over the address typed so far.
  const forgot = signup ? null : h('a', { href: '#/password/forgot', 'data-testid': 'forgot-link', text: t('auth.forgot_link') });
  if (forgot) {
    email.input.addEventListener('input', () => {
      const typed = email.input.value.trim();
      forgot.setAttribute('href', '#/password/forgot' + (typed ? '?email=' + encodeURIComponent(typed) : ''));
    });
  }

  const form = h('form', { class: 'auth-form panel', novalidate: true },
    error,
    name && name.el, email.el, password.el,
    signup ? passwordMeter(password.input, { email: () => email.input.value.trim(), name: () => name.input.value.trim() }) : null,
    forgot ? h('p', { class: 'forgot' }, forgot) : null,
    h('div', { class: 'actions' }, submit),
    h('p', { class: 'switch' },
      (signup ? t('auth.have_account') : t('auth.no_account')) + ' ',
      h('a', { href: (signup ? '#/login' : '#/signup') + nextQuery, text: signup ? t('nav.login') : t('nav.signup') })));

  const needed = params.query && params.query.get('next') && !signup;
  main.append(h('h1', { text: signup ? t('auth.signup_title') : t('auth.login_title') }));
  if (needed) main.append(h('p', { class: 'notice', text: t('auth.required') }));
  main.append(form);

  // After a sign-up: "check your inbox", in place of the form (the link finishes the account).
  function showSent(address) {
    ctx.setTitle(t('signup_sent.title'));
    clear(main);
    const outbox = state.config && state.config.mail_outbox
      ? h('p', {}, h('a', { href: '#/mail', 'data-testid': 'signup-outbox', text: t('signup_sent.outbox') })) : null;
    main.append(
      h('h1', { text: t('signup_sent.title') }),
      h('div', { class: 'panel signup-sent', role: 'status', 'data-testid': 'signup-sent' },
        h('p', { class: 'lead', text: t('signup_sent.sent', { email: address }) }),
        h('p', { text: t('signup_sent.how') }),
        h('p', { class: 'hint', text: t('signup_sent.missing') }),
        outbox,
        h('p', {}, h('a', { href: '#/signup' + nextQuery, 'data-testid': 'signup-again', text: t('signup_sent.again') }))));
    const heading = main.querySelector('h1');
    if (heading) { heading.setAttribute('tabindex', '-1'); heading.focus(); }
  }

  function invalid(input, message) {
    input.setAttribute('aria-invalid', 'true');
    setMessage(error, message, 'error');
    input.focus();
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    [name, email, password].forEach((f) => f && f.input.removeAttribute('aria-invalid'));
    setMessage(error, '');
    // Light checks first (the server checks again).
    if (name && !name.input.value.trim()) return invalid(name.input, t('err.validation_error'));
    if (!email.input.value.trim() || !email.input.checkValidity()) return invalid(email.input, t('err.validation_error'));
    if (signup && password.input.value.length < 10) return invalid(password.input, t('err.password_too_short'));
    if (!password.input.value) return invalid(password.input, t('err.validation_error'));

    submit.disabled = true;
    submit.textContent = t('auth.working');
    try {
      const body = { email: email.input.value.trim(), password: password.input.value };
      if (signup) {
        body.display_name = name.input.value.trim();
        body.locale = getLocale(); // the language of the e-mails
      }
      if (signup) {
        // The same answer whether or not the address has an account (no one can probe them):
        // the account is made, and this browser logged in, by the link the e-mail carries.
        if (next !== '/') body.next = next;
        await post('/api/auth/signup', body);
        showSent(body.email);
        return;
      }
      const user = await post('/api/auth/login', body);
      if (user && user.id) setMe(user);
      else await loadMe();
      await refreshWallet().catch(() => null);
      ctx.navigate(next);
    } catch (err) {
      submit.disabled = false;
      submit.textContent = signup ? t('auth.signup_submit') : t('auth.login_submit');
      const message = errorText(err);
      const fieldName = err instanceof ApiError && err.status === 422 ? invalidField(err) : '';
      if (err instanceof ApiError && err.code === 'email_taken') invalid(email.input, message);
      else if (err instanceof ApiError && err.code === 'invalid_credentials') invalid(password.input, message);
      else if (err instanceof ApiError && (err.code === 'password_weak' || err.code === 'password_personal')) invalid(password.input, message);
      else if (fieldName === 'email') invalid(email.input, t('err.invalid_email'));
      else if (fieldName === 'password') invalid(password.input, signup ? t('err.password_too_short') : message);
      else if (fieldName === 'display_name' && name) invalid(name.input, t('err.invalid_display_name'));
      else setMessage(error, message, 'error');
    }
  });

  return null;
}
