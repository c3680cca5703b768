// #/wallet — balance, top-up packs with the card element, history.
import { h, clear } from '../dom.js';
import { t, money, dateTime } from '../i18n.js';
import { state, subscribe, refreshWallet } from '../store.js';
import { errorText } from '../errors.js';
import { createTopup } from '../topup.js';

// Ledger lines say what they are (kind); the server's description is English, so translate the known kinds.
const KINDS = { topup: 'wallet.kind.topup', purchase: 'wallet.kind.purchase', adjustment: 'wallet.kind.adjustment', refund: 'wallet.kind.refund' };

function describe(entry) {
  const key = KINDS[entry.kind];
  if (!key) return entry.description || '';
  if (entry.kind === 'adjustment' && entry.description) return `${t(key)} — ${entry.description}`;
  return t(key);
}

export function mount(main, _params, ctx) {
  ctx.setTitle(t('wallet.title'));
  const balance = h('p', { class: 'balance-big', 'data-testid': 'wallet-balance', 'aria-live': 'polite' });
  const history = h('div', { class: 'history', 'aria-busy': 'true' });
  const notice = h('div', { role: 'alert', class: 'notice notice-error', hidden: true });
  const topup = createTopup({ onSuccess: () => load() });

  main.append(
    h('h1', { text: t('wallet.title') }),
    h('section', { class: 'balance-card', 'aria-labelledby': 'balance-title' },
      h('h2', { id: 'balance-title', text: t('wallet.balance') }),
      balance),
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

  function drawHistory(entries) {
    clear(history);
    history.removeAttribute('aria-busy');
    if (!entries || !entries.length) {
      history.append(h('p', { class: 'empty', text: t('wallet.history_empty') }));
      return;
    }
    const rows = entries.map((entry) => {
      const positive = entry.amount_cents > 0;
      const amount = (positive ? '+' : '') + money(entry.amount_cents, state.currency);
      return h('tr', {},
        h('td', {}, h('time', { datetime: entry.created_at, text: dateTime(entry.created_at) })),
        h('td', { text: describe(entry) }),
        h('td', { class: positive ? 'amount amount-plus' : 'amount', text: amount }));
    });
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
      if (wallet) drawHistory(wallet.entries);
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
    unsubscribe();
    topup.destroy();
  };
}
