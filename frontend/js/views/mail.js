// #/mail — the local mail outbox (what `effigies up`'s SMTP sink received), newest first.
// Message text is shown as text nodes; only http(s) addresses become links.
import { get, ApiError } from '../api.js';
import { h, clear, setMessage } from '../dom.js';
import { t, dateTime } from '../i18n.js';
import { errorText } from '../errors.js';

const URL_RE = /https?:\/\/[^\s<>"']+/g;
const TRAILING = /[.,;:!?)\]»]+$/; // punctuation after an address in a sentence is not part of it

/** "Open https://x/#/a?token=b." → [text, <a>, text] nodes. */
export function linkify(text) {
  const nodes = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    let url = match[0];
    const tail = url.match(TRAILING);
    if (tail) url = url.slice(0, -tail[0].length);
    if (!url.replace(/^https?:\/\//, '')) continue;
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    nodes.push(h('a', { href: url, 'data-testid': 'outbox-link', text: url }));
    last = match.index + url.length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

function messageCard(message, n) {
  const titleId = `mail-${n}-title`;
  const date = message.date ? dateTime(message.date) || message.date : '';
  return h('li', {},
    h('article', { class: 'panel mail-message', 'data-testid': 'outbox-message', 'data-id': message.id, 'aria-labelledby': titleId },
      h('h2', { id: titleId, text: message.subject || t('mail.no_subject') }),
      h('dl', { class: 'facts' },
        h('dt', { text: t('mail.date') }), h('dd', { text: date }),
        h('dt', { text: t('mail.to') }), h('dd', { class: 'mono', 'data-testid': 'outbox-to', text: message.to || '' })),
      h('pre', { class: 'mail-text', 'data-testid': 'outbox-text' }, linkify(message.text || ''))));
}

export function mount(main, _params, ctx) {
  ctx.setTitle(t('mail.title'));
  const status = h('p', { role: 'status', 'aria-live': 'polite', 'data-testid': 'outbox-status', class: 'loading', text: t('app.loading') });
  const error = h('div', { role: 'alert', class: 'notice notice-error', hidden: true, 'data-testid': 'outbox-error' });
  const list = h('ol', { class: 'mail-list', 'data-testid': 'outbox-list' });
  const refresh = h('button', { type: 'button', class: 'btn', 'data-testid': 'outbox-refresh', text: t('mail.refresh') });
  main.append(
    h('h1', { text: t('mail.title') }),
    h('p', { class: 'explain', text: t('mail.lead') }),
    h('div', { class: 'actions mail-actions' }, refresh),
    status, error, list);

  let controller = null;
  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    const { signal } = controller;
    setMessage(error, '');
    list.setAttribute('aria-busy', 'true');
    try {
      const data = await get('/api/mail/outbox', { signal });
      const messages = (data && data.messages) || [];
      clear(list);
      messages.forEach((message, i) => list.append(messageCard(message, i + 1)));
      status.className = messages.length ? '' : 'empty';
      status.textContent = messages.length ? t('mail.count', { count: messages.length }) : t('mail.empty');
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      clear(list);
      const none = err instanceof ApiError && err.status === 404;
      status.className = none ? 'notice' : '';
      status.textContent = none ? t('mail.none') : '';
      if (!none) setMessage(error, errorText(err), 'error');
    } finally {
      if (!signal.aborted) list.removeAttribute('aria-busy');
    }
  }
  refresh.addEventListener('click', load);
  load();
  return () => { if (controller) controller.abort(); };
}
