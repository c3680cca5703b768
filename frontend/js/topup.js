// The top-up form: pick a pack, enter a card in the stripe.js card element, pay.
// Flow: SetupIntent → stripe.confirmCardSetup → POST /api/wallet/topups → poll until settled.
// Used on the wallet page and, after a 402, in place on the theme page.
import { get, post, ApiError } from './api.js';
import { h, uid, setMessage } from './dom.js';
import { t, hasKey, money, moneyShort } from './i18n.js';
import { state, priceCents, refreshWallet } from './store.js';
import { getStripe } from './stripe.js';
import { errorText } from './errors.js';

const POLL_MS = 700;
const POLL_LIMIT_MS = 60000;

export function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    if (signal) {
      signal.addEventListener('abort', () => { clearTimeout(timer); reject(new DOMException('aborted', 'AbortError')); }, { once: true });
    }
  });
}

/** Why a top-up failed, in the reader's language when Stripe's decline code is a known one
 * (failure_message is Stripe's English sentence, kept as the fallback). */
export function topupFailureText(topup) {
  const key = topup.failure_code && 'wallet.decline.' + topup.failure_code;
  if (key && hasKey(key)) return t(key);
  return topup.failure_message || t('err.payment_failed');
}

function stripeErrorText(error) {
  if (!error) return t('wallet.card_error');
  // A JS exception (e.g. the card was left empty) has no Stripe "type": keep it to ourselves.
  if (error instanceof Error || typeof error.message !== 'string' || !error.message) {
    return t('wallet.card_error');
  }
  return error.message;
}

// localstripe's shim (local mode only) renders bare inputs whose only hint is a placeholder;
// give them names. stripe.js renders an iframe with its own labels, which this leaves alone.
const SHIM_LABELS = {
  number: 'wallet.shim.number', exp_month: 'wallet.shim.exp_month', exp_year: 'wallet.shim.exp_year',
  cvc: 'wallet.shim.cvc', postal_code: 'wallet.shim.postal_code',
};
function labelShimInputs(box) {
  box.querySelectorAll('input[placeholder]').forEach((input) => {
    const key = SHIM_LABELS[input.getAttribute('placeholder')];
    if (key) {
      input.setAttribute('aria-label', t(key));
      input.setAttribute('inputmode', 'numeric');
      input.setAttribute('autocomplete', 'off');
    }
  });
}

/**
 * createTopup({onSuccess(topup), title}) → {el, destroy}
 */
export function createTopup({ onSuccess, title } = {}) {
  const abort = new AbortController();
  const packs = (state.config && state.config.topup_packs_cents) || [100, 200, 500];
  const price = priceCents();
  const currency = state.currency;
  const ids = { title: uid('topup-title'), card: uid('card-label'), hint: uid('card-hint') };

  let selected = packs[0];
  let card = null;
  let busy = false;

  const payButton = h('button', { type: 'submit', class: 'btn btn-primary', disabled: true, 'data-testid': 'pay' });
  const status = h('p', { role: 'status', 'aria-live': 'polite', class: 'topup-status', 'data-testid': 'topup-status' });
  const cardBox = h('div', {
    id: 'card-element', class: 'card-element', role: 'group',
    'aria-labelledby': ids.card, 'aria-describedby': ids.hint,
  });

  function updatePayLabel() {
    payButton.textContent = t('wallet.pay', { amount: money(selected, currency) });
  }

  const groupName = uid('packs');
  const radios = packs.map((cents, index) => {
    const id = uid('pack');
    const input = h('input', {
      type: 'radio', name: groupName, id, value: String(cents), checked: index === 0,
      'data-testid': `pack-${cents}`,
      onchange: () => { if (input.checked) { selected = cents; updatePayLabel(); } },
    });
    const label = h('label', { for: id, class: 'pack' },
      input,
      h('span', { class: 'pack-amount', text: moneyShort(cents, currency) }),
      h('span', { class: 'pack-count', text: t('wallet.pack', { amount: moneyShort(cents, currency), count: Math.floor(cents / price) }) }));
    return label;
  });
  const form = h('form', { class: 'topup', 'aria-labelledby': ids.title, novalidate: true },
    h('h2', { id: ids.title, text: title || t('wallet.topup_title') }),
    h('p', { class: 'explain', text: t('wallet.explain', { price: money(price, currency) }) }),
    h('fieldset', { class: 'packs' },
      h('legend', { text: t('wallet.packs') }),
      radios),
    h('div', { class: 'field' },
      h('span', { id: ids.card, class: 'label', text: t('wallet.card_label') }),
      cardBox,
      h('p', { id: ids.hint, class: 'hint', text: t('wallet.card_hint') })),
    h('div', { class: 'actions' }, payButton),
    // Checkout links to the terms it is under, and to the 14 days a top-up may be withdrawn in.
    h('p', { class: 'hint', 'data-testid': 'topup-terms' },
      t('wallet.terms_before'), ' ',
      h('a', { href: '#/legal/terms', text: t('legal.terms') }), ' · ',
      h('a', { href: '#/legal/withdrawal', text: t('wallet.withdrawal_link') })),
    status);

  updatePayLabel();
  setMessage(status, t('wallet.step.loading'));

  getStripe().then((stripe) => {
    if (abort.signal.aborted) return;
    const elements = stripe.elements({ locale: document.documentElement.lang || 'fr' });
    card = elements.create('card', {
      hidePostalCode: false,
      style: { base: { fontSize: '16px', color: '#1d1b2e', '::placeholder': { color: '#6b6880' } }, invalid: { color: '#b3261e' } },
    });
    card.mount(cardBox);
    labelShimInputs(cardBox);
    card.on('change', (event) => {
      if (busy) return;
      if (event && event.error) setMessage(status, event.error.message, 'error');
      else setMessage(status, t('wallet.step.ready'));
    });
    payButton.disabled = false;
    setMessage(status, t('wallet.step.ready'));
  }).catch(() => {
    if (abort.signal.aborted) return;
    setMessage(status, t('wallet.stripe_unavailable'), 'error');
  });

  async function pay() {
    const stripe = await getStripe();
    const amount = selected;

    setMessage(status, t('wallet.step.setup'));
    const { client_secret: clientSecret } = await post('/api/wallet/setup-intents', {});

    setMessage(status, t('wallet.step.confirming'));
    let result;
    try {
      result = await stripe.confirmCardSetup(clientSecret, { payment_method: { card } });
    } catch (err) {
      result = { error: err };
    }
    if (!result || result.error || !result.setupIntent) {
      setMessage(status, t('wallet.step.failed', { message: stripeErrorText(result && result.error) }), 'error');
      return;
    }
    const pm = result.setupIntent.payment_method;
    const paymentMethodId = typeof pm === 'string' ? pm : pm && pm.id;

    setMessage(status, t('wallet.step.charging'));
    let topup = await post('/api/wallet/topups', { amount_cents: amount, payment_method_id: paymentMethodId });
    const started = Date.now();
    while (topup.status === 'pending') {
      if (Date.now() - started > POLL_LIMIT_MS) {
        setMessage(status, t('wallet.step.pending_long'), 'info');
        return;
      }
      await sleep(POLL_MS, abort.signal);
      topup = await get(`/api/wallet/topups/${encodeURIComponent(topup.id)}`, { signal: abort.signal });
    }
    if (topup.status === 'succeeded') {
      await refreshWallet();
      if (card && typeof card.clear === 'function') card.clear();
      setMessage(status, t('wallet.step.succeeded', { amount: money(topup.amount_cents ?? amount, currency) }), 'success');
      if (onSuccess) onSuccess(topup);
    } else {
      setMessage(status, t('wallet.step.failed', { message: topupFailureText(topup) }), 'error');
    }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (busy || !card) return;
    busy = true;
    payButton.disabled = true;
    form.setAttribute('aria-busy', 'true');
    try {
      await pay();
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      const message = err instanceof ApiError ? errorText(err) : t('err.server');
      setMessage(status, message, 'error');
    } finally {
      busy = false;
      if (!abort.signal.aborted) {
        payButton.disabled = false;
        form.removeAttribute('aria-busy');
      }
    }
  });

  return {
    el: form,
    destroy() {
      abort.abort();
      if (card) {
        try { card.destroy(); } catch (_) { /* already gone */ }
        card = null;
      }
    },
  };
}
