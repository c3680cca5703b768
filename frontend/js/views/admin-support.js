// #/admin/support — find a person (part of an e-mail address, or an id), read their wallet as they
// read it, and grant a goodwill credit with a reason, after a confirmation that names the exact
// amount and person. The search and the chosen person live in the address (?q=…&user=…), so a
// reload or a language switch (which redraws the page) keeps them. The server refuses non-admins.
import { get, post, randomKey } from '../api.js';
import { h, append, clear, setMessage, uid } from '../dom.js';
import { t, money, dateTime, number } from '../i18n.js';
import { state } from '../store.js';
import { errorText } from '../errors.js';
import { topupFailureText } from '../topup.js';
import { describe } from './wallet.js';

const LIMIT_CENTS = 10000; // the server's bound on a goodwill adjustment
const PAGE = 20;
const USER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** "2", "2.5", "2,50", "2,50 €" → cents; null when it is not an amount in euros. */
export function parseEuros(text) {
  const m = /^\s*(\d{1,6})(?:[.,](\d{1,2}))?\s*€?\s*$/.exec(text || '');
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] || '').padEnd(2, '0'));
}

/** What the API may leave empty (null): a dash, never the word "null". */
function shown(value) {
  return value === null || value === undefined || value === '' ? '—' : String(value);
}

function signed(cents) {
  return (cents > 0 ? '+' : '') + money(cents, state.currency);
}

function table(testid, caption, cols, rows) {
  return h('div', { class: 'table-scroll' }, h('table', { 'data-testid': testid },
    h('caption', { class: 'visually-hidden', text: caption }),
    h('thead', {}, h('tr', {}, cols.map(([text, cls]) => h('th', { scope: 'col', class: cls || null, text })))),
    h('tbody', {}, rows)));
}

// The addresses that may show an avatar at /avatar/{hash}: the account's own when linked, and
// every extra one, pending or confirmed (GET /api/admin/users gives them to admins only).
function addresses(u) {
  if (!u.addresses || !u.addresses.length) return null;
  return h('ul', { class: 'hint hint-block support-addresses', 'data-testid': 'support-addresses', 'aria-label': t('support.addresses') },
    u.addresses.map((a) => h('li', { class: 'wrap-anywhere' },
      a.extra ? a.email : t('support.address_own', { email: a.email }), ' — ',
      a.verified ? t('support.address_verified') : t('support.address_pending'),
      a.linked ? ', ' + t('support.address_linked') : '')));
}

// Three columns and the button under the address: it fits a 360 px phone without scrolling sideways.
function resultsTable(users, open) {
  return table('support-results', t('support.results_caption'), [
    [t('support.col.account')], [t('support.col.balance'), 'amount'], [t('support.col.avatars'), 'amount'],
  ], users.map((u) => h('tr', { 'data-user-id': u.id },
    h('th', { scope: 'row' },
      h('strong', { class: 'wrap-anywhere', text: u.email }),
      u.role === 'admin' ? [' ', h('span', { class: 'badge badge-muted', text: t('support.role_admin') })] : null,
      u.deleted_at ? [' ', h('span', { class: 'badge badge-muted', text: t('support.deleted') })] : null,
      h('span', { class: 'hint hint-block',
        text: t('support.signed_up', { name: u.display_name, created: dateTime(u.created_at) }) }),
      addresses(u),
      h('button', {
        type: 'button', class: 'btn nowrap', 'data-testid': 'support-open', onclick: () => open(u.id),
        'aria-label': t('support.open_label', { email: u.email }), text: t('support.open'),
      })),
    h('td', { class: 'amount', text: money(u.balance_cents, state.currency) }),
    h('td', { class: 'amount', text: number(u.avatar_count) }))));
}

function historyTable(entries) {
  if (!entries.length) return h('p', { class: 'empty', text: t('wallet.history_empty') });
  return table('support-history', t('support.history_caption'), [
    [t('wallet.col_date')], [t('wallet.col_description')], [t('support.col.by')], [t('wallet.col_amount'), 'amount'],
  ], entries.map((e) => h('tr', { 'data-testid': `line-${e.kind}` },
    h('td', {}, h('time', { datetime: e.created_at, text: dateTime(e.created_at) })),
    h('td', { text: shown(describe(e)) }),
    h('td', { text: e.kind === 'adjustment' ? shown(e.admin_email || e.admin_id) : '' }),
    h('td', { class: e.amount_cents > 0 ? 'amount amount-plus' : 'amount', text: signed(e.amount_cents) }))));
}

function topupsTable(topups) {
  if (!topups.length) return h('p', { class: 'empty', text: t('support.no_topups') });
  return table('support-topups', t('support.topups_caption'), [
    [t('wallet.col_date')], [t('wallet.col_amount'), 'amount'], [t('support.col.status')], [t('support.col.failure')],
  ], topups.map((tp) => h('tr', { 'data-testid': `topup-${tp.status}` },
    h('td', {}, h('time', { datetime: tp.created_at, text: dateTime(tp.created_at) })),
    h('td', { class: 'amount', text: money(tp.amount_cents, tp.currency) }),
    h('td', { text: t('support.topup_status.' + tp.status) }),
    h('td', { text: tp.status === 'failed' ? shown(topupFailureText(tp)) : '' }))));
}

function field(label, control, hint) {
  const hintId = control.id + '-hint';
  control.setAttribute('aria-describedby', hintId);
  return h('div', { class: 'field' }, h('label', { for: control.id, text: label }), control,
    h('p', { id: hintId, class: 'hint', text: hint }));
}

/** The goodwill form: amount + reason → a confirmation naming both → one POST, one key per confirmation. */
function goodwillForm(user, onDone) {
  const amount = h('input', { id: uid('support-amount'), type: 'text', inputmode: 'decimal', autocomplete: 'off', required: true });
  const reason = h('textarea', { id: uid('support-reason'), rows: 2, maxlength: 500, required: true });
  const status = h('p', { role: 'status', 'aria-live': 'polite', hidden: true, 'data-testid': 'goodwill-status' });
  const review = h('button', { type: 'submit', class: 'btn btn-primary', text: t('support.review') });
  const question = h('p', { 'data-testid': 'goodwill-question' });
  const quoted = h('p', { class: 'hint' });
  const confirm = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'goodwill-confirm', text: t('support.confirm') });
  const cancel = h('button', { type: 'button', class: 'btn', text: t('support.cancel') });
  const confirmBox = h('div', { class: 'notice', role: 'group', 'aria-label': t('support.confirm_group'), hidden: true },
    question, quoted, h('div', { class: 'actions' }, confirm, cancel));
  const form = h('form', { class: 'panel admin-form', novalidate: true, 'aria-labelledby': 'goodwill-title', 'data-testid': 'goodwill-form' },
    h('h3', { id: 'goodwill-title', text: t('support.goodwill_title') }),
    field(t('support.amount'), amount, t('support.amount_hint', { max: money(LIMIT_CENTS, state.currency) })),
    field(t('support.reason'), reason, t('support.reason_hint')),
    h('div', { class: 'actions' }, review),
    confirmBox, status);
  // Decided when the confirmation is shown: a double click, or a retry after a lost answer,
  // sends the same key and the server credits once.
  let pending = null; // { cents, reason, key }

  function editable(on) {
    amount.readOnly = reason.readOnly = !on;
    review.disabled = !on;
    confirmBox.hidden = on;
  }

  function invalid(control, message) {
    control.setAttribute('aria-invalid', 'true');
    setMessage(status, message, 'error');
    control.focus();
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (pending) return; // the confirmation is showing: only its buttons act
    [amount, reason].forEach((c) => c.removeAttribute('aria-invalid'));
    const cents = parseEuros(amount.value);
    const why = reason.value.trim();
    if (cents === null || cents < 1 || cents > LIMIT_CENTS) {
      invalid(amount, t('support.bad_amount', { max: money(LIMIT_CENTS, state.currency) }));
      return;
    }
    if (why.length < 3 || why.length > 500) {
      invalid(reason, t('support.bad_reason'));
      return;
    }
    pending = { cents, reason: why, key: randomKey() };
    question.textContent = t('support.confirm_question', { amount: money(cents, state.currency), email: user.email, name: user.display_name });
    quoted.textContent = t('support.confirm_reason', { reason: why });
    setMessage(status, '');
    editable(false);
    confirm.focus();
  });

  cancel.addEventListener('click', () => {
    pending = null;
    editable(true);
    amount.focus();
  });

  confirm.addEventListener('click', async () => {
    if (!pending || confirm.disabled) return;
    confirm.disabled = cancel.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      const result = await post(`/api/admin/wallets/${encodeURIComponent(user.id)}/adjustments`,
        { amount_cents: pending.cents, reason: pending.reason }, { headers: { 'Idempotency-Key': pending.key } });
      const done = t('support.granted', {
        amount: money(pending.cents, state.currency), email: user.email, balance: money(result.balance_cents, state.currency),
      });
      pending = null;
      form.reset();
      editable(true);
      onDone(done);
    } catch (err) {
      // Nothing was stored for a refusal, and a lost answer is replayed: the same key is safe to send again.
      setMessage(status, errorText(err, { idempotency_key_reused: t('support.key_reused') }), 'error');
      confirm.focus();
    } finally {
      confirm.disabled = cancel.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });
  return form;
}

export function mount(main, params, ctx) {
  ctx.setTitle(t('support.title'));
  main.append(h('p', { class: 'back' }, h('a', { href: '#/admin', text: t('support.back') })),
    h('h1', { text: t('support.title') }));
  if (!state.me || state.me.role !== 'admin') {
    main.append(h('p', { class: 'notice notice-error', role: 'alert', text: t('admin.forbidden') }));
    return null;
  }
  const query = params.query || new URLSearchParams();
  const input = h('input', { id: uid('support-q'), type: 'text', name: 'q', autocomplete: 'off', enterkeyhint: 'search',
    minlength: 2, maxlength: 254, value: query.get('q') || '' });
  const searchStatus = h('p', { role: 'status', 'aria-live': 'polite', hidden: true, 'data-testid': 'support-search-status' });
  const results = h('div', { 'data-testid': 'support-results-box' });
  // An e-mail address is one long word: at 360 px it must wrap rather than widen the page.
  const walletBox = h('section', {
    'aria-labelledby': 'support-wallet-title', 'data-testid': 'support-wallet', hidden: true, class: 'wrap-words',
  });
  const searchForm = h('form', { role: 'search', class: 'panel admin-form', novalidate: true },
    field(t('support.search_label'), input, t('support.search_hint')),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary', text: t('support.search') })));
  main.append(h('p', { class: 'hint', text: t('support.intro') }), searchForm, searchStatus, results, walletBox);

  let alive = true;
  let searchSeq = 0;
  let walletSeq = 0;
  let found = [];
  let chosen = USER_ID.test(query.get('user') || '') ? query.get('user') : null;

  function remember() {
    const q = new URLSearchParams();
    if (input.value.trim()) q.set('q', input.value.trim());
    if (chosen) q.set('user', chosen);
    const hash = '#/admin/support' + (q.toString() ? '?' + q : '');
    // replaceState: no hashchange, so the page is not redrawn.
    if (location.hash !== hash) history.replaceState(null, '', hash);
  }

  async function search(offset = 0) {
    const q = input.value.trim();
    input.removeAttribute('aria-invalid');
    if (q.length < 2) {
      input.setAttribute('aria-invalid', 'true');
      setMessage(searchStatus, t('support.search_hint'), 'error');
      input.focus();
      return;
    }
    const seq = ++searchSeq;
    results.setAttribute('aria-busy', 'true');
    try {
      const page = await get(`/api/admin/users?${new URLSearchParams({ q, limit: PAGE, offset })}`);
      if (!alive || seq !== searchSeq) return;
      found = offset ? found.concat(page.items) : page.items;
      clear(results);
      setMessage(searchStatus, found.length ? t('support.found', { count: found.length }) : t('support.none'));
      if (found.length) results.append(resultsTable(found, open));
      if (page.has_more) {
        results.append(h('p', {}, h('button', {
          type: 'button', class: 'btn', onclick: () => search(found.length), text: t('support.more'),
        })));
      }
      remember();
    } catch (err) {
      if (ctx.handleAuthError(err)) return;
      setMessage(searchStatus, errorText(err), 'error');
    } finally {
      results.removeAttribute('aria-busy');
    }
  }

  async function open(userId, { message, focus = true } = {}) {
    chosen = userId;
    remember();
    const seq = ++walletSeq;
    walletBox.hidden = false;
    walletBox.setAttribute('aria-busy', 'true');
    try {
      const wallet = await get(`/api/admin/wallets/${encodeURIComponent(userId)}`);
      if (!alive || seq !== walletSeq) return;
      drawWallet(wallet, message);
      // After a credit the confirm button is gone: the success message takes the focus.
      const target = walletBox.querySelector(message ? '[data-testid=goodwill-done]' : 'h2');
      if (focus || message) target.focus();
    } catch (err) {
      if (ctx.handleAuthError(err)) return;
      clear(walletBox);
      walletBox.append(h('p', { class: 'notice notice-error', role: 'alert', text: errorText(err) }));
    } finally {
      walletBox.removeAttribute('aria-busy');
    }
  }

  function drawWallet(wallet, message) {
    const user = wallet.user;
    clear(walletBox);
    // dom.js append, not Element.append: that one writes a null child (no message) as the text "null".
    append(walletBox, [
      h('h2', { id: 'support-wallet-title', tabindex: '-1', text: t('support.wallet_title', { email: shown(user.email) }) }),
      h('p', { class: 'hint' }, t('support.who', { name: shown(user.display_name), created: shown(dateTime(user.created_at)) }), ' ',
        h('code', { text: shown(user.id) })),
      message ? h('p', { class: 'notice notice-success', role: 'status', tabindex: '-1', 'data-testid': 'goodwill-done', text: message }) : null,
      h('section', { class: 'balance-card', 'aria-labelledby': 'support-balance-title' },
        h('h3', { id: 'support-balance-title', text: t('wallet.balance') }),
        h('p', { class: 'balance-big', 'data-testid': 'support-balance', 'data-cents': String(wallet.balance_cents),
          text: money(wallet.balance_cents, wallet.currency) })),
      user.deleted_at
        ? h('p', { class: 'notice', text: t('support.deleted_note') })
        : goodwillForm(user, (done) => {
          open(user.id, { message: done, focus: false });
          if (found.some((u) => u.id === user.id)) search(0); // its balance in the list too
        }),
      h('h3', { text: t('wallet.history') }),
      historyTable(wallet.entries),
      h('h3', { text: t('support.topups_title') }),
      topupsTable(wallet.topups)]);
  }

  searchForm.addEventListener('submit', (event) => {
    event.preventDefault();
    search(0);
  });

  if (input.value.trim().length >= 2) search(0);
  if (chosen) open(chosen, { focus: false });
  return () => { alive = false; };
}
