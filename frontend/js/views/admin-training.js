// #/admin/themes/{slug}/training — train a theme's generator: pick a preset, start a run on the
// `train` queue, watch it (step, images/s, ETA, losses, latest samples, SWD), cancel it. The page
// polls the run every 2 s while it is queued or running; the server refuses everyone but admins.
import { get, post, ApiError } from '../api.js';
import { lossChart } from '../charts.js';
import { h, clear, setMessage, uid } from '../dom.js';
import { t, number, dateTime } from '../i18n.js';
import { state } from '../store.js';
import { errorText } from '../errors.js';
import { themeName } from './home.js';

const POLL_MS = 2000;
const ACTIVE = new Set(['queued', 'running']);
/** 3725 → "1 h 02 min", 95 → "1 min 35 s": an ETA reads better rounded. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return t('training.hours', { h: Math.floor(s / 3600), m: String(Math.floor((s % 3600) / 60)).padStart(2, '0') });
  if (s >= 60) return t('training.minutes', { m: Math.floor(s / 60), s: String(s % 60).padStart(2, '0') });
  return t('training.seconds', { s });
}

function presetPicker(presets) {
  const fieldset = h('fieldset', { class: 'field', 'data-testid': 'training-presets' },
    h('legend', { class: 'label', text: t('training.preset_legend') }));
  presets.forEach((preset, i) => {
    const id = uid('preset');
    fieldset.append(h('div', { class: 'field check', style: 'align-items:flex-start' },
      h('input', { type: 'radio', id, name: 'preset', value: preset.name, checked: i === 0 }),
      h('label', { for: id },
        h('strong', { text: t('training.preset.' + preset.name, { images: number(preset.total_images) }) }),
        h('span', { class: 'hint', style: 'display:block;font-weight:normal', text: t('training.preset_hint.' + preset.name) }))));
  });
  fieldset.append(h('p', { class: 'hint', text: t('training.diffaugment_hint') }));
  return fieldset;
}

function runPanel(run, onCancel) {
  const p = run.progress || {};
  const total = p.total || run.options.total_images || 0;
  const images = p.images || 0;
  const known = (v) => v !== null && v !== undefined;
  const swdText = (p.swd || []).slice(-4) // the latest few measures: enough to see the trend
    .map(([i, v]) => t('training.swd_at', { v: v.toFixed(1), images: number(i) })).join(' · ');
  const rows = [
    [t('training.step'), p.total_steps ? `${number(p.step || 0)} / ${number(p.total_steps)}` : '—'],
    [t('training.images'), `${number(images)} / ${number(total)}`],
    [t('training.speed'), p.images_per_s ? t('training.per_s', { n: p.images_per_s.toFixed(1) }) : '—'],
    [t('training.eta'), run.status === 'running' ? duration(p.eta_s) : '—'],
    [t('training.losses'), known(p.loss_d) ? `D ${p.loss_d.toFixed(3)} · G ${p.loss_g.toFixed(3)}` : '—'],
    [t('training.swd'), swdText || '—'],
    [t('training.device'), p.device ? `${p.device}${p.precision ? ' · ' + p.precision : ''}` : '—'],
  ];
  if (run.attempts > 1 || p.resumed_from_images) {
    rows.push([t('training.resumed'),
      t('training.resumed_value', { n: run.attempts, images: number(p.resumed_from_images || 0) })]);
  }
  if (p.upscaler_steps) {
    rows.push([t('training.upscaler'), t('training.upscaler_value', {
      step: number(p.upscaler_step || 0), steps: number(p.upscaler_steps),
      loss: known(p.upscaler_loss) ? p.upscaler_loss.toFixed(4) : '—',
    })]);
  }
  if (run.metrics && known(run.metrics.diversity)) {
    rows.push([t('training.diversity'), `${(100 * run.metrics.diversity).toFixed(1)} %`]);
  }
  const phase = run.status === 'running' && p.phase && p.phase !== 'training'
    ? t('training.phase.' + p.phase) : t('training.status.' + run.status);
  const title = t('training.run_title', { preset: t('training.preset_name.' + run.preset), date: dateTime(run.created_at) });
  const pct = total ? Math.floor(100 * images / total) : 0;
  const panel = h('section', {
    class: 'panel', style: 'margin:1.5rem 0', 'aria-labelledby': 'training-run-title',
    'data-testid': 'training-run', 'data-status': run.status,
  },
    h('h2', { id: 'training-run-title', text: title }),
    h('p', { role: 'status', 'aria-live': 'polite', 'data-testid': 'training-status', text: phase }),
    h('progress', { max: String(total || 1), value: String(images), 'aria-label': t('training.progress_label', { pct }), style: 'width:100%' }),
    // Inline layout: app.css belongs to the rest of the admin pages.
    h('dl', { class: 'training-figures', style: 'display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem;margin:1rem 0' },
      rows.map(([k, v]) => [h('dt', { text: k }), h('dd', { text: v })])));
  if (run.error) panel.append(h('p', { class: 'notice notice-error', role: 'alert', text: run.error }));
  if (run.status === 'done') {
    panel.append(h('p', { class: 'notice notice-success', text: t('training.done', { n: run.model_version }) }));
  }
  if (ACTIVE.has(run.status)) {
    panel.append(h('div', { class: 'actions' }, h('button', {
      type: 'button', class: 'btn btn-danger', 'data-testid': 'training-cancel', disabled: run.cancel_requested,
      onclick: onCancel, text: run.cancel_requested ? t('training.cancelling') : t('training.cancel'),
    })));
  }
  panel.append(h('h3', { text: t('training.chart_title') }), lossChart(p.losses || [], { total, testid: 'training-loss-chart', emptyText: t('training.no_losses') }));
  if (run.sample_url) {
    panel.append(h('h3', { text: t('training.samples_title') }), h('img', {
      src: run.sample_url, width: 512, height: 512, class: 'learn-frame', 'data-testid': 'training-samples',
      alt: t('training.samples_alt', { images: number(p.sample_images || 0) }),
    }));
  }
  return panel;
}

function historyTable(runs) {
  if (!runs.length) return h('p', { class: 'empty', text: t('training.no_runs') });
  return h('div', { class: 'table-scroll' }, h('table', { 'data-testid': 'training-history' },
    h('thead', {}, h('tr', {}, ['date', 'preset', 'status', 'images', 'version']
      .map((c) => h('th', { scope: 'col', text: t('training.col.' + c) })))),
    h('tbody', {}, runs.map((run) => h('tr', { 'data-status': run.status },
      h('td', {}, h('a', {
        href: `#/admin/themes/${encodeURIComponent(run.theme_slug)}/training?run=${run.id}`, text: dateTime(run.created_at),
      })),
      h('td', { text: t('training.preset_name.' + run.preset) }),
      h('td', { text: t('training.status.' + run.status) }),
      h('td', { class: 'amount', text: number((run.progress && run.progress.images) || 0) }),
      h('td', { text: run.model_version ? t('admin.version', { n: run.model_version }) : '—' }))))));
}

export function mount(main, params, ctx) {
  const slug = params.slug;
  // The slug until the theme's name is known (GET /api/admin/themes: drafts too).
  const heading = h('h1', { text: t('training.title', { name: slug }) });
  ctx.setTitle(t('training.title', { name: slug }));
  main.append(h('p', { class: 'back' }, h('a', { href: '#/admin', text: t('training.back') })), heading);
  if (!state.me || state.me.role !== 'admin') {
    main.append(h('p', { class: 'notice notice-error', role: 'alert', text: t('admin.forbidden') }));
    return null;
  }
  get('/api/admin/themes').then((themes) => {
    const theme = (themes || []).find((th) => th.slug === slug);
    if (!theme || !alive) return;
    heading.textContent = t('training.title', { name: themeName(theme) });
    ctx.setTitle(heading.textContent);
  }).catch(() => { /* the slug stays: the page works without the name */ });
  const base = '/api/admin/themes/' + encodeURIComponent(slug) + '/training-runs';
  const status = h('p', { role: 'status', 'aria-live': 'polite', hidden: true, 'data-testid': 'training-message' });
  const current = h('div', { 'data-testid': 'training-current' });
  const history = h('section', { 'aria-labelledby': 'training-history-title' },
    h('h2', { id: 'training-history-title', text: t('training.history_title') }));
  const historyBody = h('div', {});
  history.append(historyBody);
  const start = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'training-start', text: t('training.start') });
  const form = h('form', { class: 'panel admin-form', 'aria-labelledby': 'training-new-title', 'aria-busy': 'true' },
    h('h2', { id: 'training-new-title', text: t('training.new_title') }));
  main.append(status, form, current, history);

  let alive = true;
  let timer = null;
  let runId = params.query && params.query.get('run');
  let lastStatus = null;
  let runs = []; // the history as last loaded; the polled run replaces its row (images seen, status)
  let announced = false; // the status line speaks for the run this page started, as its state changes

  function fail(err) {
    if (ctx.handleAuthError(err)) return;
    setMessage(status, errorText(err), 'error');
  }

  async function poll() {
    clearTimeout(timer);
    if (!alive || !runId) return;
    try {
      const run = await get('/api/admin/training-runs/' + encodeURIComponent(runId));
      if (!alive) return;
      clear(current);
      current.append(runPanel(run, () => cancel(run.id)));
      start.disabled = ACTIVE.has(run.status);
      if (run.status !== lastStatus && lastStatus !== null) loadHistory();
      else drawHistory(run);
      if (announced && run.status !== lastStatus) {
        // The run's real state, not the "queued" of the moment it was started.
        if (run.status === 'queued') setMessage(status, t('training.started'), 'success');
        else if (run.status === 'running') setMessage(status, t('training.now_running'), 'info');
        else { setMessage(status, ''); announced = false; }
      } else if (!ACTIVE.has(run.status) && lastStatus !== run.status) setMessage(status, '');
      lastStatus = run.status;
      if (ACTIVE.has(run.status)) timer = setTimeout(poll, POLL_MS);
    } catch (err) {
      fail(err);
      if (!(err instanceof ApiError) || err.status >= 500 || err.status === 0) timer = setTimeout(poll, POLL_MS * 2);
    }
  }

  async function loadHistory() {
    try {
      runs = await get(base);
      if (!alive) return;
      drawHistory();
      if (!runId && runs.length) {
        runId = runs[0].id;
        poll();
      }
    } catch (err) { fail(err); }
  }

  /** The list, with the run polled just now in place of its (older) row. */
  function drawHistory(live) {
    if (live) runs = runs.map((r) => (r.id === live.id ? live : r));
    clear(historyBody);
    historyBody.append(historyTable(runs));
  }

  async function cancel(id) {
    try {
      await post('/api/admin/training-runs/' + encodeURIComponent(id) + '/cancel');
      setMessage(status, t('training.cancel_sent'), 'info');
      poll();
    } catch (err) { fail(err); }
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const choice = form.querySelector('input[name=preset]:checked');
    if (!choice) return;
    start.disabled = true;
    try {
      const run = await post(base, { preset: choice.value });
      setMessage(status, t('training.started'), 'success');
      announced = true;
      runId = run.id;
      lastStatus = null;
      poll();
      loadHistory();
    } catch (err) {
      start.disabled = false;
      fail(err);
    }
  });

  get('/api/admin/training-presets').then((presets) => {
    if (!alive) return;
    form.removeAttribute('aria-busy');
    form.append(presetPicker(presets), h('div', { class: 'actions' }, start));
  }).catch(fail);
  loadHistory();
  if (runId) poll();

  return () => { alive = false; clearTimeout(timer); };
}
