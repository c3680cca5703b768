// #/admin/stats — the service at a glance: queues, live workers, registry, training runs now; and
// per UTC day, generations, images offered, sales and revenue, as charts and as a table. Refreshed
// every 15 s while the tab is visible. The server refuses everyone but admins (GET /api/admin/stats).
import { get } from '../api.js';
import { barChart } from '../charts.js';
import { h, clear, setMessage, uid } from '../dom.js';
import { t, number, money, getLocale } from '../i18n.js';
import { state } from '../store.js';
import { errorText } from '../errors.js';

const REFRESH_MS = 15000;
const PERIODS = [7, 30, 90, 365];
const SERIES = ['jobs', 'candidates', 'sales', 'revenue_cents'];
const INTL = { fr: 'fr-FR', en: 'en-IE' };
// Kept across a language switch, which mounts the page again.
let chosenDays = 30;

/** "2026-11-25" (a UTC day) → "25 nov." / "25 Nov". */
function dayLabel(day, style = 'short') {
  const options = style === 'long'
    ? { dateStyle: 'medium', timeZone: 'UTC' }
    : { day: 'numeric', month: 'short', timeZone: 'UTC' };
  return new Intl.DateTimeFormat(INTL[getLocale()] || 'fr-FR', options).format(new Date(day + 'T00:00:00Z'));
}

/** With seconds: the page refreshes every 15 s. */
function clockTime(iso) {
  return new Intl.DateTimeFormat(INTL[getLocale()] || 'fr-FR', { timeStyle: 'medium' }).format(new Date(iso));
}

function unknown(v, fmt = number) {
  return v === null || v === undefined ? t('stats.unknown') : fmt(v);
}

function card(testid, label, value, hint) {
  return h('li', { class: 'stat-card', 'data-testid': testid },
    h('span', { class: 'stat-label', text: label }),
    h('strong', { class: 'stat-value', text: value }),
    hint ? h('span', { class: 'stat-hint', text: hint }) : null);
}

function nowCards(now) {
  const cards = [];
  if (now.queues === null) {
    cards.push(card('stat-queues', t('stats.queues'), t('stats.unknown'), t('stats.redis_down')));
  } else {
    now.queues.forEach((q) => cards.push(card('stat-queue-' + q.name, t('stats.queue', { name: q.name }), number(q.depth),
      t('stats.queue_hint'))));
    cards.push(card('stat-unacked', t('stats.unacked'), number(now.unacked), t('stats.unacked_hint')));
  }
  cards.push(card('stat-workers', t('stats.workers'), unknown(now.live_workers),
    now.workers && now.workers.length ? now.workers.join(', ') : t('stats.workers_hint')));
  cards.push(card('stat-registry-sold', t('stats.registry_sold'),
    (now.registry_estimated ? '≈ ' : '') + number(now.registry_sold), t('stats.registry_sold_hint')));
  cards.push(card('stat-registry-training', t('stats.registry_training'), number(now.registry_training),
    t('stats.registry_training_hint')));
  cards.push(card('stat-training', t('stats.training'), number(now.training_running),
    t('stats.training_queued', { count: now.training_queued })));
  return h('ul', { class: 'stat-cards', 'data-testid': 'stats-now' }, cards);
}

function totalCards(totals, days) {
  return h('ul', { class: 'stat-cards', 'data-testid': 'stats-totals' },
    card('total-jobs', t('stats.series.jobs'), number(totals.jobs), t('stats.over_days', { days })),
    card('total-candidates', t('stats.series.candidates'), number(totals.candidates), t('stats.over_days', { days })),
    card('total-sales', t('stats.series.sales'), number(totals.sales), t('stats.over_days', { days })),
    card('total-revenue', t('stats.series.revenue_cents'), money(totals.revenue_cents, state.currency),
      t('stats.over_days', { days })));
}

function format(key) {
  return key === 'revenue_cents' ? (v) => money(v, state.currency) : number;
}

function charts(stats) {
  return h('div', { class: 'stat-charts' }, SERIES.map((key) => {
    const id = uid('stats-chart');
    const points = stats.series.map((d) => ({ label: dayLabel(d.day), value: d[key] }));
    const total = stats.totals[key];
    return h('figure', { class: 'stat-chart', 'aria-labelledby': id },
      h('figcaption', { id, text: t('stats.series.' + key) }),
      barChart(points, {
        testid: 'chart-' + key, valueText: format(key), tone: key === 'revenue_cents' || key === 'sales' ? 'ok' : 'brand',
        label: t('stats.chart_label', {
          series: t('stats.series.' + key), days: stats.days, total: format(key)(total),
          first: dayLabel(stats.first_day, 'long'), last: dayLabel(stats.last_day, 'long'),
        }),
      }));
  }));
}

function table(stats) {
  // Newest first: the day one usually looks for is today.
  const rows = stats.series.slice().reverse();
  return h('div', { class: 'table-scroll' }, h('table', { 'data-testid': 'stats-table' },
    h('caption', { class: 'visually-hidden', text: t('stats.table_caption') }),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', text: t('stats.col.day') }),
      SERIES.map((key) => h('th', { scope: 'col', class: 'amount', text: t('stats.series.' + key) })))),
    h('tbody', {}, rows.map((d) => h('tr', { 'data-day': d.day },
      h('th', { scope: 'row', text: dayLabel(d.day, 'long') }),
      SERIES.map((key) => h('td', { class: 'amount', text: format(key)(d[key]) })))))));
}

export function mount(main, _params, ctx) {
  ctx.setTitle(t('stats.title'));
  main.append(
    h('p', { class: 'back' }, h('a', { href: '#/admin', text: t('stats.back') })),
    h('h1', { text: t('stats.title') }));
  if (!state.me || state.me.role !== 'admin') {
    main.append(h('p', { class: 'notice notice-error', role: 'alert', text: t('admin.forbidden') }));
    return null;
  }

  let days = chosenDays;
  let timer = null;
  let abort = null;
  let alive = true;

  const periodId = uid('stats-period');
  const period = h('select', { id: periodId, 'data-testid': 'stats-period' },
    PERIODS.map((n) => h('option', {
      value: String(n), selected: n === days ? 'selected' : null, text: t('stats.period_days', { days: n }),
    })));
  const status = h('p', { role: 'status', 'aria-live': 'polite', hidden: true, 'data-testid': 'stats-status' });
  // Not a live region: a line read out every 15 s would drown the page for a screen reader.
  const updated = h('p', { class: 'hint', 'data-testid': 'stats-updated' });
  const nowBox = h('div', { 'aria-busy': 'true' });
  const totalsBox = h('div');
  const chartsBox = h('div');
  const tableBox = h('div');
  const details = h('details', { class: 'stat-details' }, h('summary', { text: t('stats.table_toggle') }), tableBox);

  main.append(
    h('p', { class: 'hint', text: t('stats.intro') }),
    status,
    h('section', { 'aria-labelledby': 'stats-now-title' },
      h('h2', { id: 'stats-now-title', text: t('stats.now_title') }), nowBox, updated),
    h('section', { 'aria-labelledby': 'stats-days-title' },
      h('h2', { id: 'stats-days-title', text: t('stats.days_title') }),
      h('div', { class: 'field stat-period' }, h('label', { for: periodId, text: t('stats.period') }), period),
      totalsBox, chartsBox, details));

  function schedule() {
    clearTimeout(timer);
    timer = document.visibilityState === 'visible' ? setTimeout(load, REFRESH_MS) : null;
  }

  async function load() {
    clearTimeout(timer);
    if (abort) abort.abort();
    abort = new AbortController();
    try {
      const stats = await get('/api/admin/stats?days=' + days, { signal: abort.signal });
      if (!alive) return;
      clear(nowBox).append(nowCards(stats.now));
      nowBox.removeAttribute('aria-busy');
      clear(totalsBox).append(totalCards(stats.totals, stats.days));
      clear(chartsBox).append(charts(stats));
      clear(tableBox).append(table(stats));
      updated.textContent = t('stats.updated', { time: clockTime(stats.generated_at) });
      setMessage(status, '');
    } catch (err) {
      if (!alive || (err && err.name === 'AbortError')) return;
      if (ctx.handleAuthError(err)) return;
      setMessage(status, errorText(err), 'error');
    }
    if (alive) schedule();
  }

  function onVisibility() {
    if (document.visibilityState === 'visible') load();
    else clearTimeout(timer);
  }

  period.addEventListener('change', () => {
    days = Number(period.value);
    chosenDays = days;
    load();
  });
  document.addEventListener('visibilitychange', onVisibility);
  load();
  return () => {
    alive = false;
    clearTimeout(timer);
    if (abort) abort.abort();
    document.removeEventListener('visibilitychange', onVisibility);
  };
}
