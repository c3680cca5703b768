// #/legal/<page> — terms of sale, withdrawal, privacy, legal notice, contact (effigies/legal).
// The API sends the text as blocks of plain spans; they become DOM nodes here, never HTML. The
// page is fetched in the interface's language: a language switch redraws the view, so re-fetches.
import { get, ApiError } from '../api.js';
import { h, clear } from '../dom.js';
import { t, getLocale } from '../i18n.js';
import { errorText } from '../errors.js';

// Where a link in a legal text may lead (the server already drops anything else).
const SAFE_HREF = /^(https?:\/\/|mailto:|#\/)/i;

function spans(list) {
  return (list || []).map((span) => {
    let node = document.createTextNode(span.text);
    if (span.href && SAFE_HREF.test(span.href)) {
      const external = /^https?:/i.test(span.href);
      node = h('a', { href: span.href, rel: external ? 'noopener noreferrer' : null, target: external ? '_blank' : null }, node);
    }
    return span.strong ? h('strong', {}, node) : node;
  });
}

export function block(item) {
  if (item.type === 'heading') return h(item.level === 3 ? 'h3' : 'h2', {}, spans(item.spans));
  if (item.type === 'list') return h('ul', {}, (item.items || []).map((entry) => h('li', {}, spans(entry))));
  return h('p', {}, spans(item.spans));
}

export function mount(main, params, ctx) {
  const page = params.page;
  const article = h('article', { class: 'legal-page', 'data-testid': 'legal-page', 'data-page': page, 'aria-busy': 'true' },
    h('p', { role: 'status', class: 'loading', text: t('app.loading') }));
  // Long addresses (e-mail, URLs) wrap rather than widen a phone's page; lines stay readable on a desktop.
  article.style.maxWidth = '48rem';
  article.style.overflowWrap = 'anywhere';
  main.append(article);
  const controller = new AbortController();
  (async () => {
    try {
      const data = await get(`/api/legal/${encodeURIComponent(page)}?locale=${getLocale()}`, { signal: controller.signal });
      clear(article);
      ctx.setTitle(data.title);
      article.lang = data.locale;
      article.dataset.locale = data.locale;
      article.append(
        h('h1', { text: data.title }),
        h('p', { class: 'explain legal-updated', 'data-testid': 'legal-updated', text: t('legal.updated', { date: data.updated }) }),
        ...data.blocks.map(block));
      const heading = article.querySelector('h1');
      if (heading && document.activeElement === document.body) {
        heading.setAttribute('tabindex', '-1');
        heading.focus({ preventScroll: true });
      }
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      clear(article);
      if (err instanceof ApiError && err.status === 404) {
        ctx.setTitle(t('notfound.title'));
        article.append(h('h1', { text: t('notfound.title') }), h('p', {}, h('a', { href: '#/', text: t('notfound.back') })));
      } else {
        article.append(h('h1', { text: t('legal.title') }),
          h('p', { class: 'notice notice-error', role: 'alert', text: errorText(err) }));
      }
    } finally {
      if (!controller.signal.aborted) article.removeAttribute('aria-busy');
    }
  })();
  return () => controller.abort();
}
