// #/wallet — balance, top-up packs with the card element, history.
import { get } from '../api.js';
import { h, clear } from '../dom.js';
import { t, hasKey, money, dateTime } from '../i18n.js';
import { state, subscribe, refreshWallet, backToTheme } from '../store.js';
import { errorText } from '../errors.js';
import { createTopup, topupFailureText } from '../topup.js';
import { themeName } from './home.js';

// The server sends what each line is about (kind, avatar, reason…), and the sentence is written
// here, in the reader's language; its `description` is the ledger's English, the last resort.
// The admin's support page shows the same lines (views/admin-support.js).
export function describe(entry) {
  if (entry.kind === 'purchase' && entry.avatar) {
    const theme = themeName({ name: entry.avatar.theme_name, name_fr: entry.avatar.theme_name_fr });
    return t('wallet.line.purchase', { avatar: entry.avatar.public_id, theme });
  }
  if (entry.kind === 'topup') return t('wallet.line.topup', { amount: money(entry.amount_cents, state.currency) });
  if (entry.kind === 'adjustment' && entry.reason) {
    return t(entry.amount_cents > 0 ? 'wallet.line.goodwill' : 'wallet.line.correction', { reason: entry.reason });
  }
  const key = 'wallet.kind.' + entry.kind;
  return hasKey(key) ? t(key) : (entry.description || '');
}

// A top-up that did not (yet) credit anything has no ledger line; it is shown among them anyway,
// so the person sees why their money is not there.
function unsettledTopups(topups) {
  return (topups || []).filter((tp) => tp.status !== 'succeeded').map((tp) => ({
    created_at: tp.created_at,
    text: tp.status === 'failed'
      ? t('wallet.line.topup_failed', { amount: money(tp.amount_cents, tp.currency), reason: topupFailureText(tp) })
      : t('wallet.line.topup_pending', { amount: money(tp.amount_cents, tp.currency) }),
    amount: '—',
    className: 'amount',
    testid: `topup-${tp.status}`,
  }));
}

export function mount(main, params, ctx) {
  ctx.setTitle(t('wallet.title'));
  const abort = new AbortController();
  const balance = h('p', { class: 'balance-big', 'data-testid': 'wallet-balance', 'aria-live': 'polite' });
  const history = h('div', { class: 'history', 'aria-busy': 'true' });
  const notice = h('div', { role: 'alert', class: 'notice notice-error', hidden: true });
  // The way back to the proposals: the theme page the person came from (?from=, or the last one
  // opened in this tab); once the wallet is topped up, a button right under the balance.
  const backSlug = backToTheme(params.query && params.query.get('from'));
  const back = h('p', { class: 'back', hidden: true });
  const backDone = h('div', { class: 'notice notice-success', role: 'status', hidden: true, 'data-testid': 'wallet-back-done' });
  let backTheme = null;
  let toppedUp = false;
  const topup = createTopup({
    onSuccess: () => {
      load();
      toppedUp = true;
      drawBack();
    },
  });

  main.append(
    back,
    h('h1', { text: t('wallet.title') }),
    h('section', { class: 'balance-card', 'aria-labelledby': 'balance-title' },
      h('h2', { id: 'balance-title', text: t('wallet.balance') }),
      balance),
    backDone,
    notice,
    h('section', { class: 'panel' }, topup.el),
    h('section', { 'aria-labelledby': 'history-title' },
      h('h2', { id: 'history-title', text: t('wallet.history') }),
      history));

  function drawBalance() {
    if (typeof state.balanceCents === 'number') {
      balance.textContent = money(state.balanceCents, state.currency);
      balance.dataset.cents = String(state.balanceCents);
    } else {
      balance.textContent = '…';
      delete balance.dataset.cents;
    }
  }

  function backHref() {
    return '#/themes/' + encodeURIComponent(backSlug);
  }

  function drawBack() {
    if (!backTheme) return;
    const theme = themeName(backTheme);
    clear(back);
    back.append(h('a', { href: backHref(), 'data-testid': 'wallet-back', text: t('wallet.back', { theme }) }));
    back.hidden = false;
    if (!toppedUp) return;
    clear(backDone);
    const link = h('a', { href: backHref(), class: 'btn btn-primary', 'data-testid': 'wallet-back-link', text: t('wallet.back_done', { theme }) });
    backDone.append(link);
    backDone.hidden = false;
    link.focus();
  }

  if (backSlug) {
    get('/api/themes/' + encodeURIComponent(backSlug), { signal: abort.signal }).then((theme) => {
      backTheme = theme;
      drawBack();
    }).catch(() => { /* gone or unreachable: no way back to offer */ });
  }

  function drawHistory(entries, topups) {
    clear(history);
    history.removeAttribute('aria-busy');
    const lines = (entries || []).map((entry) => {
      const positive = entry.amount_cents > 0;
      return {
        created_at: entry.created_at,
        text: describe(entry),
        amount: (positive ? '+' : '') + money(entry.amount_cents, state.currency),
        className: positive ? 'amount amount-plus' : 'amount',
        testid: `line-${entry.kind}`,
      };
    }).concat(unsettledTopups(topups));
    if (!lines.length) {
      history.append(h('p', { class: 'empty', text: t('wallet.history_empty') }));
      return;
    }
    lines.sort((a, b) => new Date(b.created_at) - new Date(a.created_at));
    const rows = lines.map((line) => h('tr', { 'data-testid': line.testid },
      h('td', {}, h('time', { datetime: line.created_at, text: dateTime(line.created_at) })),
      h('td', { text: line.text }),
      h('td', { class: line.className, text: line.amount })));
    history.append(h('div', { class: 'table-scroll' },
      h('table', { 'data-testid': 'history' },
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col', text: t('wallet.col_date') }),
          h('th', { scope: 'col', text: t('wallet.col_description') }),
          h('th', { scope: 'col', class: 'amount', text: t('wallet.col_amount') }))),
        h('tbody', {}, rows))));
  }

  async function load() {
    try {
      const wallet = await refreshWallet();
      if (wallet) drawHistory(wallet.entries, wallet.topups);
      else ctx.requireLogin('/wallet');
    } catch (err) {
      notice.textContent = errorText(err);
      notice.hidden = false;
    }
  }

  const unsubscribe = subscribe(drawBalance);
  drawBalance();
  load();

  return () => {
    abort.abort();
    unsubscribe();
    topup.destroy();
  };
}
