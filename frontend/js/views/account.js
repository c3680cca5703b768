// #/account — e-mail address (confirmation, change), my proposals still on sale, change password,
// delete account.
import { get, post, ApiError } from '../api.js';
import { h, clear, setMessage } from '../dom.js';
import { t, timeOnly, money } from '../i18n.js';
import { state, setMe, loadMe, refreshWallet } from '../store.js';
import { errorText, invalidField } from '../errors.js';
import { field } from './auth.js';
import { passwordMeter } from '../password-meter.js';
import { themeName } from './home.js';

function statusLine(testid) {
  return h('p', { role: 'status', 'aria-live': 'polite', hidden: true, 'data-testid': testid });
}

/** Shared by both forms: clears old marks, shows a message on the field at fault. */
function feedback(status, inputs) {
  return {
    reset() {
      inputs.forEach((input) => input.removeAttribute('aria-invalid'));
      setMessage(status, '');
    },
    invalid(input, message) {
      input.setAttribute('aria-invalid', 'true');
      setMessage(status, message, 'error');
      input.focus();
    },
  };
}

/** The address and whether it is confirmed; "Send the link again" while it is not. Redraws itself. */
function emailSection(ctx) {
  const section = h('section', { class: 'auth-form panel', 'aria-labelledby': 'email-title', 'data-testid': 'email-section' });
  const status = statusLine('resend-status');

  function draw() {
    const me = state.me;
    if (!me) return;
    const verified = Boolean(me.email_verified);
    const button = verified ? null : h('button', {
      type: 'button', class: 'btn btn-primary', 'data-testid': 'resend-verification', text: t('account.resend'),
    });
    clear(section);
    section.append(
      h('h2', { id: 'email-title', text: t('account.email_title') }),
      h('p', { 'data-testid': 'account-email', text: t('account.signed_in_as', { email: me.email }) }),
      h('p', { 'data-testid': 'email-status', dataset: { verified: String(verified) } },
        h('span', { class: verified ? 'badge badge-ok' : 'badge badge-muted', text: verified ? t('account.email_verified_badge') : t('account.email_unverified_badge') }),
        ' ',
        verified ? t('account.email_verified') : t('account.email_unverified')),
      button ? h('div', { class: 'actions' }, button) : null,
      status);
    if (!button) return;
    button.addEventListener('click', async () => {
      button.disabled = true;
      setMessage(status, '');
      try {
        await post('/api/me/email/verification', {});
        setMessage(status, t('account.resent', { email: me.email }), 'success');
        button.disabled = false;
      } catch (err) {
        if (ctx.handleAuthError(err)) return;
        if (err instanceof ApiError && err.code === 'already_verified') {
          // Confirmed meanwhile (another tab or device): show it.
          try { await loadMe(); } catch (_) { /* the message below still says it */ }
          draw();
          setMessage(status, t('err.already_verified'), 'success');
          return;
        }
        button.disabled = false;
        setMessage(status, errorText(err), 'error');
      }
    });
  }
  draw();
  return section;
}

/** GET /api/me/proposals grouped by theme (newest first), each with a link to its page to buy. */
function proposalsSection(ctx, signal) {
  const body = h('div', { 'aria-busy': 'true' }, h('p', { class: 'loading', text: t('app.loading') }));
  const section = h('section', { class: 'auth-form panel proposals-panel', 'aria-labelledby': 'proposals-title', 'data-testid': 'my-proposals' },
    h('h2', { id: 'proposals-title', text: t('account.proposals_title') }),
    body);

  // The theme names are a nicety: without them the slug stands in.
  const themes = get('/api/themes', { signal }).catch((err) => {
    if (err && err.name === 'AbortError') throw err;
    return [];
  });
  Promise.all([get('/api/me/proposals', { signal }), themes]).then(([data, list]) => {
    const bySlug = new Map((list || []).map((th) => [th.slug, th]));
    const groups = new Map();
    for (const p of (data && data.proposals) || []) {
      if (!groups.has(p.theme_slug)) groups.set(p.theme_slug, []);
      groups.get(p.theme_slug).push(p);
    }
    clear(body);
    body.removeAttribute('aria-busy');
    if (!groups.size) {
      body.append(h('p', { class: 'empty', 'data-testid': 'proposals-empty' },
        t('account.proposals_empty') + ' ',
        h('a', { href: '#/', text: t('account.proposals_empty_link') })));
      return;
    }
    body.append(h('p', { class: 'hint', text: t('account.proposals_explain') }),
      h('ul', { class: 'proposal-groups' }, [...groups].map(([slug, proposals]) => proposalGroup(slug, bySlug.get(slug), proposals))));
  }).catch((err) => {
    if (err && err.name === 'AbortError') return;
    if (ctx.handleAuthError(err)) return;
    clear(body);
    body.removeAttribute('aria-busy');
    body.append(h('p', { role: 'alert', class: 'notice notice-error', text: errorText(err) }));
  });
  return section;
}

function proposalGroup(slug, theme, proposals) {
  const name = theme ? themeName(theme) : slug;
  const href = '#/themes/' + encodeURIComponent(slug);
  const soonest = proposals.map((p) => p.expires_at).filter(Boolean).sort((a, b) => Date.parse(a) - Date.parse(b))[0];
  return h('li', { class: 'proposal-group', 'data-testid': 'proposal-group', 'data-slug': slug },
    h('h3', {}, h('a', { href, text: name })),
    h('p', { class: 'hint', 'data-testid': 'proposal-summary' },
      t('account.proposals_count', { count: proposals.length }),
      soonest ? ' — ' + t('account.proposals_expires', { time: timeOnly(soonest) }) : ''),
    h('ul', { class: 'proposal-thumbs' }, proposals.map((p, i) => h('li', { 'data-testid': 'proposal', 'data-candidate-id': p.id },
      h('img', {
        src: p.preview_url, alt: t('account.proposal_alt', { name, n: i + 1, total: proposals.length }),
        title: p.expires_at ? t('theme.expires', { time: timeOnly(p.expires_at) }) : null,
        width: 64, height: 64, loading: 'lazy', decoding: 'async',
        class: theme && theme.pixel_art ? 'pixelated' : 'smooth',
      })))),
    h('a', { href, class: 'btn btn-primary', 'data-testid': 'proposals-buy', text: t('account.proposals_buy', { name }) }));
}

function emailForm(ctx) {
  const fresh = field({ label: t('account.new_email'), type: 'email', name: 'new_email', autocomplete: 'email' });
  const password = field({ label: t('account.current_password'), type: 'password', name: 'password', autocomplete: 'current-password' });
  const status = statusLine('change-email-status');
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', text: t('account.change_email_submit') });
  const form = h('form', { class: 'auth-form panel', novalidate: true, 'aria-labelledby': 'change-email-title' },
    h('h2', { id: 'change-email-title', text: t('account.change_email_title') }),
    h('p', { text: t('account.change_email_explain', { email: state.me.email }) }),
    status, fresh.el, password.el,
    h('div', { class: 'actions' }, submit));
  const ui = feedback(status, [fresh.input, password.input]);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    ui.reset();
    const address = fresh.input.value.trim();
    if (!address || !fresh.input.checkValidity()) return ui.invalid(fresh.input, t('err.invalid_email'));
    if (!password.input.value) return ui.invalid(password.input, t('err.validation_error'));
    submit.disabled = true;
    try {
      await post('/api/me/email', { new_email: address, password: password.input.value });
      form.reset();
      setMessage(status, t('account.change_email_sent', { email: address }), 'success');
    } catch (err) {
      if (ctx.handleAuthError(err)) return;
      const code = err instanceof ApiError ? err.code : '';
      if (code === 'wrong_password') ui.invalid(password.input, errorText(err));
      else if (code === 'same_email' || code === 'email_taken') ui.invalid(fresh.input, errorText(err, { email_taken: t('account.email_taken') }));
      else if (invalidField(err) === 'new_email') ui.invalid(fresh.input, t('err.invalid_email'));
      else setMessage(status, errorText(err), 'error');
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function passwordForm(ctx) {
  const current = field({ label: t('account.current_password'), type: 'password', name: 'current_password', autocomplete: 'current-password' });
  const fresh = field({
    label: t('account.new_password'), type: 'password', name: 'new_password', autocomplete: 'new-password',
    minlength: 10, hint: t('auth.password_hint'),
  });
  const again = field({ label: t('account.new_password_again'), type: 'password', name: 'new_password_again', autocomplete: 'new-password' });
  const status = statusLine('password-status');
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', text: t('account.password_submit') });
  const form = h('form', { class: 'auth-form panel', novalidate: true, 'aria-labelledby': 'password-title' },
    h('h2', { id: 'password-title', text: t('account.password_title') }),
    status, current.el, fresh.el, passwordMeter(fresh.input), again.el,
    h('div', { class: 'actions' }, submit));
  const ui = feedback(status, [current.input, fresh.input, again.input]);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    ui.reset();
    if (!current.input.value) return ui.invalid(current.input, t('err.validation_error'));
    if (fresh.input.value.length < 10) return ui.invalid(fresh.input, t('err.password_too_short'));
    if (fresh.input.value !== again.input.value) return ui.invalid(again.input, t('account.passwords_differ'));
    submit.disabled = true;
    try {
      await post('/api/me/password', { current_password: current.input.value, new_password: fresh.input.value });
      form.reset();
      setMessage(status, t('account.password_changed'), 'success');
    } catch (err) {
      if (ctx.handleAuthError(err)) return;
      if (err instanceof ApiError && err.code === 'wrong_password') ui.invalid(current.input, errorText(err));
      else if (err instanceof ApiError && (err.code === 'password_weak' || err.code === 'password_personal')) ui.invalid(fresh.input, errorText(err));
      else if (invalidField(err) === 'new_password') ui.invalid(fresh.input, t('err.password_too_short'));
      else setMessage(status, errorText(err), 'error');
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function deleteForm(main, ctx) {
  const password = field({ label: t('auth.password'), type: 'password', name: 'password', autocomplete: 'current-password' });
  const confirm = h('input', { type: 'checkbox', id: 'delete-confirm', name: 'confirm', required: true });
  const status = statusLine('delete-status');
  const submit = h('button', { type: 'submit', class: 'btn btn-danger', text: t('account.delete_submit') });
  // What the wallet still holds is given up with the account: said in so many words, and the
  // amount shown is the one confirmed (the server refuses another: balance_not_confirmed).
  const balanceLine = h('p', { class: 'notice', hidden: true, 'data-testid': 'delete-balance' });
  let shownCents = 0;
  function showBalance(cents) {
    shownCents = typeof cents === 'number' ? cents : 0;
    balanceLine.hidden = shownCents <= 0;
    balanceLine.textContent = shownCents > 0 ? t('account.delete_balance', { amount: money(shownCents, state.currency) }) : '';
  }
  showBalance(state.balanceCents);
  refreshWallet().then((wallet) => { if (wallet) showBalance(wallet.balance_cents); }).catch(() => null);
  const form = h('form', { class: 'auth-form panel', novalidate: true, 'aria-labelledby': 'delete-title' },
    h('h2', { id: 'delete-title', text: t('account.delete_title') }),
    h('p', { text: t('account.delete_explain') }),
    balanceLine,
    status, password.el,
    h('div', { class: 'field check' }, confirm, h('label', { for: 'delete-confirm', text: t('account.delete_confirm') })),
    h('div', { class: 'actions' }, submit));
  const ui = feedback(status, [password.input, confirm]);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    ui.reset();
    if (!password.input.value) return ui.invalid(password.input, t('err.validation_error'));
    if (!confirm.checked) return ui.invalid(confirm, t('account.delete_confirm_needed'));
    submit.disabled = true;
    try {
      await post('/api/me/delete', { password: password.input.value, forfeit_cents: shownCents });
    } catch (err) {
      submit.disabled = false;
      if (ctx.handleAuthError(err)) return;
      if (err instanceof ApiError && err.code === 'balance_not_confirmed') {
        // The balance moved since the page showed it (a top-up landed): show the new one, ask again.
        const wallet = await refreshWallet().catch(() => null);
        if (wallet) showBalance(wallet.balance_cents);
        confirm.checked = false;
        setMessage(status, t('account.delete_balance_changed'), 'error');
      } else if (err instanceof ApiError && err.code === 'wrong_password') ui.invalid(password.input, errorText(err));
      else setMessage(status, errorText(err), 'error');
      return;
    }
    setMe(null);
    clear(main);
    main.append(
      h('h1', { tabindex: '-1', text: t('account.deleted_title') }),
      h('p', { class: 'notice notice-success', role: 'status', 'data-testid': 'account-deleted', text: t('account.deleted') }),
      h('p', {}, h('a', { href: '#/', text: t('notfound.back') })));
    main.querySelector('h1').focus();
  });
  return form;
}

export function mount(main, _params, ctx) {
  ctx.setTitle(t('account.title'));
  const abort = new AbortController();
  main.append(
    h('h1', { text: t('account.title') }),
    emailSection(ctx),
    proposalsSection(ctx, abort.signal),
    emailForm(ctx),
    passwordForm(ctx),
    deleteForm(main, ctx));
  return () => abort.abort();
}
