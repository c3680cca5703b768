// #/signup/confirm?token=…&next=… — the link of the sign-up e-mail: it creates the account, logs
// this browser in (whichever device opens it) and goes back to where the person signed up from.
import { post, ApiError } from '../api.js';
import { h, clear } from '../dom.js';
import { t } from '../i18n.js';
import { setMe, refreshWallet, setFlash } from '../store.js';
import { errorText } from '../errors.js';
import { TOKEN_RE, TOKEN_ERRORS } from './password.js';
import { safeNext } from './auth.js';

// One POST per token: a re-render (a change of language) must not spend the link twice.
const attempts = new Map();

export function mount(main, params, ctx) {
  ctx.setTitle(t('signup_confirm.title'));
  const token = (params.query && params.query.get('token')) || '';
  const next = safeNext(params.query);
  const status = h('div', {
    role: 'status', 'aria-live': 'polite', class: 'loading', 'data-testid': 'signup-confirm-status',
    text: t('signup_confirm.working'),
  });
  const more = h('div', {});
  main.append(h('h1', { text: t('signup_confirm.title') }), status, more);
  let alive = true;

  function failed(err) {
    clear(status);
    status.className = 'notice notice-error';
    const code = (err && err.code) || 'invalid_token';
    status.dataset.code = code;
    if (code === 'token_used' || code === 'account_exists') {
      // Already made (this link, or another sign-up of the address): the account waits for a log-in.
      status.append(h('p', { text: t('signup_confirm.' + code) }));
      more.append(h('p', {}, h('a', { href: '#/login' + (next !== '/' ? '?next=' + encodeURIComponent(next) : ''),
        'data-testid': 'signup-confirm-login', text: t('nav.login') })));
    } else if (!err || TOKEN_ERRORS.has(code) || (err instanceof ApiError && err.status === 422)) {
      status.append(h('p', { text: t('signup_confirm.' + (code === 'token_expired' ? 'expired' : 'invalid')) }));
      more.append(h('p', {}, h('a', { href: '#/signup', 'data-testid': 'signup-confirm-again', text: t('signup_sent.again') })));
    } else {
      status.append(h('p', { text: errorText(err) }));
      more.append(h('p', {}, h('button', {
        type: 'button', class: 'btn',
        onclick: () => { attempts.delete(token); ctx.navigate(location.hash.slice(1)); },
        text: t('app.retry'),
      })));
    }
  }

  if (!TOKEN_RE.test(token)) {
    failed(null);
    return () => { alive = false; };
  }
  if (!attempts.has(token)) {
    attempts.set(token, post('/api/auth/signup/confirm', { token }).then((user) => ({ user }), (err) => ({ err })));
  }
  main.setAttribute('aria-busy', 'true');
  attempts.get(token).then(async ({ user, err }) => {
    if (!alive) return;
    main.removeAttribute('aria-busy');
    if (err) { failed(err); return; }
    setMe(user);
    await refreshWallet().catch(() => null);
    setFlash('signup_confirm.welcome', { name: user.display_name }); // shown once by the next page
    ctx.navigate(next);
  });
  return () => { alive = false; };
}
