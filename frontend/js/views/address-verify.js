// #/email/address?token=… — the link mailed to an extra address added on My avatars (for
// Gravatar/Libravatar). Works logged in or not (another device may open it).
import { post } from '../api.js';
import { h, clear } from '../dom.js';
import { t } from '../i18n.js';
import { state } from '../store.js';
import { errorText } from '../errors.js';
import { TOKEN_RE, TOKEN_ERRORS, linkErrorText } from './password.js';

// One POST per token: a re-render (a change of language) shows the same outcome instead of
// spending the token again and reporting it "already used".
const attempts = new Map();

function confirm(token) {
  if (!attempts.has(token)) {
    attempts.set(token, post('/api/auth/addresses/verify', { token }).then((data) => ({ data }), (err) => ({ err })));
  }
  return attempts.get(token);
}

export function mount(main, params, ctx) {
  ctx.setTitle(t('address_verify.title'));
  const token = (params.query && params.query.get('token')) || '';
  const status = h('div', {
    role: 'status', 'aria-live': 'polite', class: 'loading', 'data-testid': 'address-verify-status',
    text: t('address_verify.working'),
  });
  const more = h('div', {});
  main.append(h('h1', { text: t('address_verify.title') }), status, more);
  let alive = true;
  const next = () => h('p', {}, state.me
    ? h('a', { href: '#/avatars', 'data-testid': 'address-verify-next', text: t('address_verify.to_avatars') })
    : h('a', { href: '#/login?next=' + encodeURIComponent('/avatars'), 'data-testid': 'address-verify-next', text: t('nav.login') }));

  function failed(err) {
    clear(status);
    status.className = 'notice notice-error';
    const code = err && err.code;
    status.dataset.code = code || 'invalid_token';
    if (!err || TOKEN_ERRORS.has(code) || err.status === 422) {
      status.append(h('p', { text: linkErrorText(err) }), h('p', { text: t('address_verify.new_link_hint') }));
    } else if (code === 'email_taken') {
      status.append(h('p', { text: t('address_verify.taken') }));
    } else {
      status.append(h('p', { text: errorText(err) }));
      more.append(h('p', {}, h('button', {
        type: 'button', class: 'btn', text: t('app.retry'),
        onclick: () => { attempts.delete(token); ctx.navigate('/email/address?token=' + encodeURIComponent(token)); },
      })));
      return;
    }
    more.append(next());
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
      failed(err);
      return;
    }
    clear(status);
    status.className = 'notice notice-success';
    status.append(h('p', { text: t('address_verify.done', { email: data.email }) }));
    more.append(next());
  });
  return () => { alive = false; };
}
