// #/admin — themes: the table (status, version, sales…), publish / retire / un-retire, the catalogue's
// order (move up / down: the whole new order goes to PUT /api/admin/themes/order), and a new
// theme from a zip of example images or a dataset built by `effigies dataset build`, with the
// server's validation report. The server refuses everyone but admins; this page only saves them
// a useless trip.
import { api, get, post, readCookie, ApiError } from '../api.js';
import { h, clear, setMessage, uid } from '../dom.js';
import { t, money, number, hasKey } from '../i18n.js';
import { state } from '../store.js';
import { errorText } from '../errors.js';
import { themeName, statusBadge } from './home.js';

const REASONS = ['unsafe_path', 'link', 'nested_archive', 'too_large', 'too_many_pixels', 'too_small', 'not_an_image',
  'corrupt', 'encrypted', 'unsupported_compression', 'duplicate', 'system_file', 'archive_too_large',
  'too_many_entries', 'not_a_zip', 'dataset_metadata', 'off_grid', 'lossy_format'];
// Cells per side a pixel-art theme may declare (effigies/themes/pixel_grid.py GRIDS).
const GRIDS = [8, 16, 32];

// The server's `message` is English; it is shown only for a reason this page does not know.
// A built dataset is a folder: reasons worded for an archive have a folder's wording too.
function reasonText(problem, source = 'archive') {
  if (problem.reason === 'duplicate' && problem.related) return t('admin.reason.duplicate_of', { name: problem.related });
  if (source === 'dataset' && hasKey(`admin.reason.${problem.reason}_dataset`)) return t(`admin.reason.${problem.reason}_dataset`);
  return REASONS.includes(problem.reason) ? t('admin.reason.' + problem.reason) : (problem.message || problem.reason);
}

/** multipart POST: api.js speaks JSON only. Resolves to {ok, status, body}. */
async function upload(form) {
  const headers = { Accept: 'application/json', 'X-CSRF-Token': readCookie('csrftoken') || '' };
  let response;
  const data = new FormData(form);
  data.delete('source'); // the radio choosing between the two; the server reads which field is set
  try {
    response = await fetch('/api/admin/themes', { method: 'POST', body: data, headers, credentials: 'same-origin' });
  } catch (_) {
    throw new ApiError(0, 'network', 'network error');
  }
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  return { ok: response.ok, status: response.status, body };
}

function problemList(problems, testid, source = 'archive') {
  const whole = t(source === 'dataset' ? 'admin.report.folder' : 'admin.report.archive');
  return h('ul', { class: 'report-list', 'data-testid': testid },
    problems.map((p) => h('li', { 'data-reason': p.reason },
      h('code', { text: p.name || whole }), ' — ', reasonText(p, source))));
}

function reportPanel(error, source) {
  const refused = error.refused || [];
  const skipped = error.skipped || [];
  const ofDataset = source === 'dataset' ? '_dataset' : '';
  const headline = {
    upload_refused: t('admin.report.refused' + ofDataset, { count: refused.length }),
    too_few_images: t('admin.report.too_few', { usable: number(error.usable_images ?? 0), min: number(error.min_images ?? 0) }),
  }[error.code] || (REASONS.includes(error.code) ? reasonText({ reason: error.code }, source) : error.message);
  return h('section', { class: 'notice notice-error report', role: 'alert', 'data-testid': 'upload-report', 'aria-labelledby': 'report-title' },
    h('h3', { id: 'report-title', text: t('admin.report.title') }),
    h('p', { text: headline }),
    h('p', { text: t('admin.report.nothing_stored' + ofDataset, { min: number(error.min_images ?? 200) }) }),
    refused.length ? problemList(refused, 'report-refused', source) : null,
    skipped.length ? h('details', {}, h('summary', { text: t('admin.report.skipped', { count: skipped.length }) }),
      problemList(skipped, 'report-skipped', source)) : null);
}

function datasetLabel(d) {
  const count = d.capped ? t('admin.new.dataset_images_capped', { count: number(d.images) }) : t('admin.new.dataset_images', { count: d.images, n: number(d.images) });
  return d.used_by.length ? `${d.name} — ${count} ${t('admin.new.dataset_used', { themes: d.used_by.join(', ') })}` : `${d.name} — ${count}`;
}

/** The two ways to give example images: a zip upload, or a folder built on the server. Only the
 * chosen control is enabled, so the form sends one of `archive` and `dataset`. */
function sourceFields() {
  const name = uid('admin-source');
  const fileId = uid('admin-archive');
  const selectId = uid('admin-dataset');
  const radio = (value, label, checked) => {
    const id = uid('admin-source-' + value);
    return h('div', { class: 'check' },
      h('input', { type: 'radio', id, name: 'source', value, checked, 'data-testid': 'source-' + value }),
      h('label', { for: id, text: label }));
  };
  const zipRadio = radio('archive', t('admin.new.source_archive'), true);
  const datasetRadio = radio('dataset', t('admin.new.source_dataset'), false);
  const file = h('input', { type: 'file', id: fileId, name: 'archive', accept: '.zip,application/zip', required: true, 'aria-describedby': fileId + '-hint' });
  const archiveField = h('div', { class: 'field' },
    h('label', { for: fileId, text: t('admin.new.archive') + ' *' }), file,
    h('p', { id: fileId + '-hint', class: 'hint', text: t('admin.new.archive_hint') }));
  const select = h('select', { id: selectId, name: 'dataset', required: true, 'aria-describedby': `${selectId}-hint ${selectId}-state`, 'data-testid': 'dataset-select' });
  const hint = h('p', { id: selectId + '-hint', class: 'hint' });
  const state = h('p', { id: selectId + '-state', class: 'hint', role: 'status', 'aria-live': 'polite', 'data-testid': 'dataset-state' });
  const datasetField = h('div', { class: 'field', hidden: true },
    h('label', { for: selectId, text: t('admin.new.dataset') + ' *' }), select, hint, state);
  const group = h('fieldset', { class: 'field' }, h('legend', { text: t('admin.new.source') }), zipRadio, datasetRadio);

  function sync() {
    const useDataset = datasetRadio.querySelector('input').checked;
    archiveField.hidden = useDataset;
    file.disabled = useDataset;
    datasetField.hidden = !useDataset;
    select.disabled = !useDataset;
  }
  group.addEventListener('change', sync);
  sync();

  async function load() {
    try {
      const { folder, datasets } = await get('/api/admin/datasets');
      const chosen = select.value;
      clear(select);
      select.append(h('option', { value: '', text: t(datasets.length ? 'admin.new.dataset_choose' : 'admin.new.dataset_none') }));
      datasets.forEach((d) => select.append(h('option', { value: d.name, text: datasetLabel(d) })));
      if (datasets.some((d) => d.name === chosen)) select.value = chosen;
      hint.textContent = t('admin.new.dataset_hint', { folder });
      setMessage(state, datasets.length ? '' : t('admin.new.dataset_empty', { folder }));
    } catch (err) {
      setMessage(state, errorText(err), 'error');
    }
  }

  return { nodes: [group, archiveField, datasetField], sync, load, source: () => (file.disabled ? 'dataset' : 'archive') };
}

/** "Pixel art" and, once it is ticked, the grid its examples are drawn on (none, 8, 16 or 32 cells). */
function pixelFields() {
  const pixelId = uid('admin-pixel');
  const gridId = uid('admin-grid');
  const checkbox = h('input', { type: 'checkbox', id: pixelId, name: 'pixel_art', value: 'true' });
  const grid = h('select', { id: gridId, name: 'pixel_grid', 'aria-describedby': gridId + '-hint', 'data-testid': 'pixel-grid' },
    h('option', { value: '', text: t('admin.new.grid_none') }),
    GRIDS.map((n) => h('option', { value: String(n), text: t('admin.new.grid_n', { n, cell: 64 / n }) })));
  const gridField = h('div', { class: 'field' },
    h('label', { for: gridId, text: t('admin.new.grid') }), grid,
    h('p', { id: gridId + '-hint', class: 'hint', text: t('admin.new.grid_hint') }));
  function sync() {
    // A disabled select is not sent: no grid unless the theme is pixel art.
    grid.disabled = !checkbox.checked;
    gridField.hidden = !checkbox.checked;
    if (!checkbox.checked) grid.value = '';
  }
  checkbox.addEventListener('change', sync);
  sync();
  return {
    nodes: [h('div', { class: 'field check' }, checkbox, h('label', { for: pixelId, text: t('admin.new.pixel_art') })), gridField],
    sync,
  };
}

function textField(label, name, { required = false, multiline = false, hint, pattern } = {}) {
  const id = uid('admin-' + name);
  const hintId = hint ? id + '-hint' : null;
  const input = multiline
    ? h('textarea', { id, name, rows: 3, required, 'aria-describedby': hintId })
    : h('input', { id, name, type: 'text', required, pattern, 'aria-describedby': hintId, autocomplete: 'off' });
  return h('div', { class: 'field' }, h('label', { for: id, text: label + (required ? ' *' : '') }), input,
    hint ? h('p', { id: hintId, class: 'hint', text: hint }) : null);
}

function newThemeForm(onCreated) {
  const status = h('p', { role: 'status', 'aria-live': 'polite', hidden: true, 'data-testid': 'upload-status' });
  const report = h('div', { 'data-testid': 'upload-result' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'upload-submit', text: t('admin.new.submit') });
  const pixel = pixelFields();
  const source = sourceFields();
  const form = h('form', { class: 'panel admin-form', novalidate: true, 'aria-labelledby': 'new-theme-title', 'data-testid': 'new-theme-form' },
    h('h2', { id: 'new-theme-title', text: t('admin.new.title') }),
    h('p', { class: 'hint', text: t('admin.new.explain', { min: number(200) }) }),
    textField(t('admin.new.name_fr'), 'name_fr', { required: true }),
    textField(t('admin.new.name'), 'name', { required: true }),
    textField(t('admin.new.slug'), 'slug', { required: true, hint: t('admin.new.slug_hint'), pattern: '[a-z0-9][a-z0-9-]{1,62}[a-z0-9]' }),
    textField(t('admin.new.description_fr'), 'description_fr', { multiline: true }),
    textField(t('admin.new.description'), 'description', { multiline: true }),
    textField(t('admin.new.attribution'), 'attribution', { required: true, multiline: true, hint: t('admin.new.attribution_hint') }),
    pixel.nodes,
    source.nodes,
    status,
    h('div', { class: 'actions' }, submit),
    report);
  source.load();

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clear(report);
    const missing = [...form.querySelectorAll('[required]')]
      .find((el) => !el.disabled && (el.type === 'file' ? !el.files.length : !el.value.trim()));
    form.querySelectorAll('[aria-invalid]').forEach((el) => el.removeAttribute('aria-invalid'));
    if (missing) {
      missing.setAttribute('aria-invalid', 'true');
      setMessage(status, t('admin.new.missing'), 'error');
      missing.focus();
      return;
    }
    submit.disabled = true;
    form.setAttribute('aria-busy', 'true');
    const from = source.source();
    setMessage(status, t(from === 'dataset' ? 'admin.new.checking_dataset' : 'admin.new.checking'));
    try {
      const { ok, body } = await upload(form);
      const error = body && body.error;
      if (ok) {
        const created = t('admin.new.created', { name: themeName(body.theme), count: number(body.images) });
        setMessage(status, body.transparent ? `${created} ${t('admin.new.created_transparent')}` : created, 'success');
        if (body.skipped && body.skipped.length) {
          report.append(h('details', {}, h('summary', { text: t('admin.report.skipped', { count: body.skipped.length }) }),
            problemList(body.skipped, 'report-skipped', from)));
        }
        form.reset();
        pixel.sync();
        source.sync();
        source.load();
        onCreated();
      } else if (error && (error.refused || error.code === 'too_few_images')) {
        setMessage(status, '');
        report.append(reportPanel(error, from));
        report.querySelector('h3').setAttribute('tabindex', '-1');
        report.querySelector('h3').focus();
      } else {
        const field = error && Array.isArray(error.details) && error.details[0] && error.details[0].field;
        const input = field && form.elements[field];
        if (input) input.setAttribute('aria-invalid', 'true');
        setMessage(status, error ? errorText(new ApiError(0, error.code, error.message)) : t('err.server'), 'error');
      }
    } catch (err) {
      setMessage(status, errorText(err), 'error');
    } finally {
      submit.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });
  return form;
}

function versionLabel(version) {
  return version ? t('admin.version', { n: version.version }) : '—';
}

/** Move up / down: the catalogue lists themes in the table's order. Disabled at the ends. */
function orderButtons(theme, index, count, move) {
  const name = themeName(theme);
  const button = (delta, key, testid) => h('button', {
    type: 'button', class: 'btn', 'data-testid': testid, 'data-move': delta,
    disabled: delta < 0 ? index === 0 : index === count - 1,
    'aria-label': t(key + '_label', { name }), onclick: () => move(theme, delta), text: t(key),
  });
  return [button(-1, 'admin.move_up', 'move-up'), button(1, 'admin.move_down', 'move-down')];
}

function actionsFor(theme, act, order) {
  const name = themeName(theme);
  const cell = h('div', { class: 'admin-actions' }, order);
  if (theme.status !== 'retired') {
    cell.append(h('a', {
      class: 'btn', href: '#/admin/themes/' + encodeURIComponent(theme.slug) + '/training', 'data-testid': 'train',
      'aria-label': t('admin.train_label', { name }), text: t('admin.train'),
    }));
  }
  const ready = theme.versions.filter((v) => v.ready && (!theme.model_version || v.id !== theme.model_version.id));
  if (ready.length && theme.status !== 'retired') {
    const id = uid('admin-version');
    const select = h('select', { id, 'aria-label': t('admin.publish_choose', { name }) },
      ready.slice().reverse().map((v) => h('option', { value: v.id, text: versionLabel(v) })));
    cell.append(select, h('button', {
      type: 'button', class: 'btn', 'data-testid': 'publish',
      'aria-label': t('admin.publish_label', { name }),
      onclick: () => act(theme, 'publish', { model_version_id: select.value }),
      text: t('admin.publish'),
    }));
  }
  if (theme.status === 'published') {
    cell.append(h('button', {
      type: 'button', class: 'btn btn-danger', 'data-testid': 'retire', 'aria-label': t('admin.retire_label', { name }),
      onclick: () => { if (window.confirm(t('admin.retire_confirm', { name }))) act(theme, 'retire'); },
      text: t('admin.retire'),
    }));
  }
  if (theme.status === 'retired') {
    cell.append(h('button', {
      type: 'button', class: 'btn', 'data-testid': 'unretire', 'aria-label': t('admin.unretire_label', { name }),
      onclick: () => act(theme, 'unretire'), text: t('admin.unretire'),
    }));
  }
  return cell;
}

/** Measured capacities are estimates ("≈"), or lower bounds ("≥") when no refusal was seen. */
function capacityText(theme) {
  if (theme.capacity === null || theme.capacity === undefined) return t('admin.capacity.not_measured');
  const n = number(Math.round(theme.capacity));
  return t(theme.capacity_is_lower_bound ? 'admin.capacity.at_least' : 'admin.capacity.about', { n });
}

function themesTable(themes, act, move) {
  if (!themes.length) return h('p', { class: 'empty', text: t('admin.no_themes') });
  const cols = ['theme', 'status', 'version', 'images', 'sales', 'revenue', 'rejected', 'capacity', 'actions'];
  const numeric = new Set(['images', 'sales', 'revenue', 'rejected', 'capacity']);
  const dash = (v, fmt = number) => (v === null || v === undefined ? '—' : fmt(v));
  return h('div', {}, h('div', { class: 'table-scroll' }, h('table', { 'data-testid': 'admin-themes' },
    h('caption', { class: 'visually-hidden', text: t('admin.table_caption') }),
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', class: numeric.has(c) ? 'amount' : null, text: t('admin.col.' + c) })))),
    h('tbody', {}, themes.map((theme, index) => h('tr', { 'data-slug': theme.slug, 'data-status': theme.status },
      h('th', { scope: 'row' }, themeName(theme), h('br'), h('code', { class: 'hint', text: theme.slug }),
        theme.pixel_grid ? [h('br'), h('span', { class: 'hint', 'data-testid': 'pixel-grid-badge', text: t('admin.grid_badge', { n: theme.pixel_grid }) })] : null),
      h('td', {}, statusBadge(theme)),
      h('td', {}, versionLabel(theme.model_version)),
      h('td', { class: 'amount', text: dash(theme.training_images) }),
      h('td', { class: 'amount', text: number(theme.sales) }),
      h('td', { class: 'amount', text: money(theme.revenue_cents, state.currency) }),
      h('td', { class: 'amount', text: number(theme.rejected_near_duplicates) }),
      h('td', { class: 'amount', 'data-testid': 'capacity', text: capacityText(theme) }),
      h('td', {}, actionsFor(theme, act, orderButtons(theme, index, themes.length, move)))))))),
    h('p', { class: 'hint', 'data-testid': 'order-hint', text: t('admin.order_hint') }),
    h('p', { class: 'hint', 'data-testid': 'capacity-hint', text: t('admin.capacity.hint') }));
}

export function mount(main, _params, ctx) {
  ctx.setTitle(t('admin.title'));
  main.append(h('h1', { text: t('admin.title') }));
  if (!state.me || state.me.role !== 'admin') {
    main.append(h('p', { class: 'notice notice-error', role: 'alert', text: t('admin.forbidden') }));
    return null;
  }
  const status = h('p', { role: 'status', 'aria-live': 'polite', hidden: true, 'data-testid': 'admin-status' });
  const table = h('div', { 'aria-busy': 'true' });
  let alive = true;
  let shown = [];  // the themes as the table lists them: the order a move rewrites
  let moving = false;  // one move at a time: a second press before the answer would reorder the old table

  function draw(themes) {
    shown = themes;
    clear(table);
    table.removeAttribute('aria-busy');
    table.append(themesTable(themes, act, move));
  }

  async function load() {
    try {
      const themes = await get('/api/admin/themes');
      if (!alive) return;
      draw(themes);
    } catch (err) {
      if (ctx.handleAuthError(err)) return;
      setMessage(status, errorText(err), 'error');
    }
  }

  async function act(theme, action, body) {
    const name = themeName(theme);
    try {
      const result = await post(`/api/admin/themes/${encodeURIComponent(theme.slug)}/${action}`, body);
      const expired = action === 'retire' ? result.expired_candidates : 0;
      setMessage(status, t('admin.done.' + action, { name, count: expired }), 'success');
      await load();
    } catch (err) {
      if (ctx.handleAuthError(err)) return;
      setMessage(status, errorText(err), 'error');
    }
  }

  async function move(theme, delta) {
    const slugs = shown.map((s) => s.slug);
    const from = slugs.indexOf(theme.slug);
    const to = from + delta;
    if (moving || from < 0 || to < 0 || to >= slugs.length) return;
    [slugs[from], slugs[to]] = [slugs[to], slugs[from]];
    moving = true;
    table.setAttribute('aria-busy', 'true');
    try {
      const themes = await api('PUT', '/api/admin/themes/order', { slugs });
      if (!alive) return;
      draw(themes);
      const at = themes.findIndex((s) => s.slug === theme.slug);
      setMessage(status, t('admin.done.move', { name: themeName(theme), n: at + 1, count: themes.length }), 'success');
      // The row was drawn again: the keyboard stays on the moved theme's button (the other one at an end).
      const row = [...table.querySelectorAll('tr[data-slug]')].find((tr) => tr.dataset.slug === theme.slug);
      const buttons = row ? [...row.querySelectorAll('button[data-move]')] : [];
      const same = buttons.find((b) => b.dataset.move === String(delta));
      (same && !same.disabled ? same : buttons.find((b) => !b.disabled))?.focus();
    } catch (err) {
      if (ctx.handleAuthError(err)) return;
      // The themes changed since the table was drawn (another admin, a new theme): show them as they are now.
      const stale = t('admin.order_stale');
      setMessage(status, errorText(err, { unknown_theme: stale, missing_theme: stale, duplicate_theme: stale }), 'error');
      if (err instanceof ApiError && err.status === 422) await load();
    } finally {
      moving = false;
      table.removeAttribute('aria-busy');
    }
  }

  main.append(
    h('p', {}, h('a', { href: '#/admin/stats', 'data-testid': 'admin-stats-link', text: t('admin.stats_link') })),
    h('p', {}, h('a', { href: '#/admin/support', 'data-testid': 'admin-support-link', text: t('admin.support_link') })),
    h('section', { 'aria-labelledby': 'admin-themes-title' },
      h('h2', { id: 'admin-themes-title', text: t('admin.themes_title') }),
      status, table),
    newThemeForm(load));
  load();
  return () => { alive = false; };
}
