// #/email/verify?token=… — the link of a verification e-mail (sign-up or change of address).
// Works logged in or not; when logged in, the account is reloaded so #/account shows the change.
import { post, ApiError } from '../api.js';
import { h, clear, setMessage } from '../dom.js';
import { t } from '../i18n.js';
import { state, loadMe } from '../store.js';
import { errorText } from '../errors.js';
import { TOKEN_RE, TOKEN_ERRORS, linkErrorText } from './password.js';

// One POST per token: a re-render (a change of language) shows the same outcome instead of
// spending the token again and reporting it "already used"; so does a reload of the tab, from
// what this tab remembers of the success (the token is spent: nothing secret is kept).
const attempts = new Map();
const DONE_KEY = 'ee.verified.';

function remembered(token) {
  try {
    const email = sessionStorage.getItem(DONE_KEY + token);
    return email ? { data: { email } } : null;
  } catch (_) { return null; }
}

function confirm(token) {
  if (!attempts.has(token)) {
    const known = remembered(token);
    attempts.set(token, known ? Promise.resolve(known) : post('/api/auth/email/verify', { token }).then(
      async (data) => {
        try { sessionStorage.setItem(DONE_KEY + token, data.email); } catch (_) { /* storage disabled */ }
        if (state.me) await loadMe().catch(() => null);
        return { data };
      },
      (err) => ({ err })));
  }
  return attempts.get(token);
}

function resendBlock(ctx) {
  const status = h('p', { role: 'status', 'aria-live': 'polite', hidden: true, 'data-testid': 'verify-resend-status' });
  const button = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'resend-verification', text: t('email_verify.resend') });
  button.addEventListener('click', async () => {
    button.disabled = true;
    setMessage(status, '');
    try {
      await post('/api/me/email/verification', {});
      setMessage(status, t('account.resent', { email: state.me.email }), 'success');
    } catch (err) {
      if (ctx.handleAuthError(err)) return;
      if (err instanceof ApiError && err.code === 'already_verified') {
        await loadMe().catch(() => null);
        setMessage(status, t('err.already_verified'), 'success');
        return;
      }
      setMessage(status, errorText(err), 'error');
      button.disabled = false;
    }
  });
  return h('div', { class: 'actions' }, button, status);
}

export function mount(main, params, ctx) {
  ctx.setTitle(t('email_verify.title'));
  const token = (params.query && params.query.get('token')) || '';
  const status = h('div', {
    role: 'status', 'aria-live': 'polite', class: 'loading', 'data-testid': 'verify-status', text: t('email_verify.working'),
  });
  const more = h('div', {});
  main.append(h('h1', { text: t('email_verify.title') }), status, more);
  let alive = true;

  function failed(err) {
    clear(status);
    status.className = 'notice notice-error';
    const code = err && err.code;
    status.dataset.code = TOKEN_ERRORS.has(code) || code === 'email_taken' ? code : (err ? code || 'error' : 'invalid_token');
    if (!err || TOKEN_ERRORS.has(code) || (err instanceof ApiError && err.status === 422)) {
      status.append(h('p', { text: linkErrorText(err) }));
      if (state.me && !state.me.email_verified) {
        more.append(h('p', { text: t('email_verify.new_link_hint') }), resendBlock(ctx));
      } else if (state.me) {
        more.append(h('p', {}, h('a', { href: '#/account', text: t('email_verify.to_account') })));
      } else {
        more.append(h('p', {}, h('a', { href: '#/login?next=' + encodeURIComponent('/account'), text: t('email_verify.login_for_new') })));
      }
    } else if (code === 'email_taken') {
      status.append(h('p', { text: t('email_verify.taken') }));
      more.append(h('p', {}, h('a', { href: state.me ? '#/account' : '#/', text: state.me ? t('email_verify.to_account') : t('notfound.back') })));
    } else {
      status.append(h('p', { text: errorText(err) }));
      more.append(h('p', {}, h('button', { type: 'button', class: 'btn', onclick: () => { attempts.delete(token); ctx.navigate('/email/verify?token=' + encodeURIComponent(token)); }, text: t('app.retry') })));
    }
  }

  if (!TOKEN_RE.test(token)) {
    failed(null);
    return () => { alive = false; };
  }

  main.setAttribute('aria-busy', 'true');
  confirm(token).then(({ data, err }) => {
    if (!alive) return;
    main.removeAttribute('aria-busy');
    if (err) {
      if (ctx.handleAuthError(err)) return;
      failed(err);
      return;
    }
    clear(status);
    status.className = 'notice notice-success';
    status.append(h('p', { text: t('email_verify.done', { email: data.email }) }));
    more.append(h('p', {}, state.me
      ? h('a', { href: '#/account', 'data-testid': 'verify-next', text: t('email_verify.to_account') })
      : h('a', { href: '#/login', 'data-testid': 'verify-next', text: t('nav.login') })));
  });
  return () => { alive = false; };
}
