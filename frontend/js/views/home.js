// #/ — large fresh avatars of every theme (the first thing a visitor sees, desktop and phone),
// the pitch, the founder's sentence about GANs, and the theme cards.
import { get } from '../api.js';
import { h, clear } from '../dom.js';
import { t, getLocale, money } from '../i18n.js';
import { state, priceCents } from '../store.js';
import { errorText } from '../errors.js';

export function themeName(theme) {
  return (getLocale() === 'fr' && theme.name_fr) ? theme.name_fr : theme.name;
}

export function themeDescription(theme) {
  return (getLocale() === 'fr' && theme.description_fr) ? theme.description_fr : theme.description;
}

export function statusBadge(theme) {
  const key = 'theme.status.' + theme.status;
  const label = ['published', 'draft', 'training', 'ready', 'retired'].includes(theme.status) ? t(key) : theme.status;
  return h('span', { class: `badge badge-${theme.status === 'published' ? 'ok' : 'muted'}`, text: label });
}

function themeCard(theme) {
  const name = themeName(theme);
  const href = '#/themes/' + encodeURIComponent(theme.slug);
  const published = theme.status === 'published';
  return h('li', { class: 'theme-card', 'data-testid': 'theme-card', 'data-slug': theme.slug },
    h('img', {
      class: theme.pixel_art ? 'sample pixelated' : 'sample',
      src: theme.sample_url, alt: t('home.sample_alt', { name }),
      width: 320, height: 320, loading: 'lazy', decoding: 'async',
    }),
    h('div', { class: 'theme-card-body' },
      h('h3', {}, h('a', { href, class: 'stretched', text: name })),
      statusBadge(theme),
      h('p', { text: themeDescription(theme) }),
      h('p', { class: 'hint', 'data-testid': 'sold-count', text: t('home.sold', { count: theme.sold_count || 0 }) }),
      published ? h('span', { class: 'cta', 'aria-hidden': 'true', text: t('home.open_theme', { name }) + ' →' }) : null));
}

/** One of a theme's fresh avatars, at random (the set is redrawn every hour: effigies.generation.showcase). */
function pick(images, previous) {
  const others = images.filter((url) => url !== previous);
  const pool = others.length ? others : images;
  return pool[Math.floor(Math.random() * pool.length)];
}

function showcaseTile(entry) {
  const name = themeName(entry);
  const href = '#/themes/' + encodeURIComponent(entry.slug);
  const fallback = '/api/themes/' + encodeURIComponent(entry.slug) + '/sample.png';
  const src = entry.images.length ? pick(entry.images) : fallback;
  const img = h('img', {
    class: entry.pixel_art ? 'pixelated' : 'smooth', src, alt: t('home.showcase_alt', { name }),
    width: 256, height: 256, decoding: 'async', fetchpriority: 'high', 'data-testid': 'showcase-image',
  });
  const tile = h('li', { class: 'showcase-tile', 'data-testid': 'showcase-tile', 'data-slug': entry.slug },
    h('a', { href, class: 'showcase-link' }, img, h('span', { class: 'showcase-name', text: name })));
  tile.reshuffle = () => { if (entry.images.length > 1) img.src = pick(entry.images, img.getAttribute('src')); };
  return tile;
}

export function mount(main, _params, ctx) {
  ctx.setTitle('');
  const price = money(priceCents(), state.currency);
  const list = h('ul', { class: 'theme-grid', 'aria-busy': 'true', 'data-testid': 'theme-list' });
  const notice = h('div', { role: 'alert', class: 'notice notice-error', hidden: true });
  const controller = new AbortController();

  const showcase = h('ul', { class: 'showcase', 'aria-busy': 'true', 'data-testid': 'showcase' });
  const shuffle = h('button', {
    type: 'button', class: 'btn', hidden: true, 'data-testid': 'showcase-shuffle', text: t('home.showcase_shuffle'),
    onclick: () => showcase.querySelectorAll('.showcase-tile').forEach((tile) => tile.reshuffle()),
  });

  main.append(
    h('section', { class: 'hero' },
      h('h1', { text: t('home.title') }),
      h('div', { class: 'showcase-wrap', role: 'group', 'aria-label': t('home.showcase_label') }, showcase,
        h('p', { class: 'showcase-bar' }, h('span', { class: 'hint', text: t('home.showcase_hint') }), ' ', shuffle)),
      h('p', { class: 'lead', text: t('home.lead', { price }) }),
      h('p', { class: 'pedagogy', 'data-testid': 'pedagogy', text: t('home.pedagogy') })),
    h('section', { class: 'steps', 'aria-labelledby': 'steps-title' },
      h('h2', { id: 'steps-title', text: t('home.steps_title') }),
      h('ol', {},
        h('li', { text: t('home.step1') }),
        h('li', { text: t('home.step2') }),
        h('li', { text: t('home.step3', { price }) }))),
    h('section', { 'aria-labelledby': 'themes-title' },
      h('h2', { id: 'themes-title', text: t('home.themes_title') }),
      notice,
      list));

  get('/api/showcase', { signal: controller.signal }).then((body) => {
    clear(showcase);
    showcase.removeAttribute('aria-busy');
    const entries = (body && body.themes) || [];
    entries.forEach((entry) => showcase.append(showcaseTile(entry)));
    shuffle.hidden = !entries.some((entry) => entry.images.length > 1);
  }).catch((err) => {
    // The theme cards below say what went wrong; the first screen just has no avatars then.
    if (err && err.name === 'AbortError') return;
    showcase.removeAttribute('aria-busy');
  });

  get('/api/themes', { signal: controller.signal }).then((themes) => {
    clear(list);
    list.removeAttribute('aria-busy');
    const visible = (themes || []).filter((th) => th.status !== 'draft');
    if (!visible.length) {
      list.append(h('li', { class: 'empty', text: t('home.no_themes') }));
      return;
    }
    // Available themes first.
    visible.sort((a, b) => (a.status === 'published' ? 0 : 1) - (b.status === 'published' ? 0 : 1));
    visible.forEach((theme) => list.append(themeCard(theme)));
  }).catch((err) => {
    if (err && err.name === 'AbortError') return;
    list.removeAttribute('aria-busy');
    notice.textContent = errorText(err);
    notice.hidden = false;
  });

  return () => controller.abort();
}
