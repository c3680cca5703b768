// The theme page's "design board" section: a sheet of 16 or 64 watermarked samples to download.
import { get, post } from '../api.js';
import { h, setMessage, uid } from '../dom.js';
import { t } from '../i18n.js';
import { errorText } from '../errors.js';

const POLL_MS = 700;
const WAIT_LIMIT_MS = 120000;

export function boardSection(slug, signal) {
  const titleId = uid('board');
  const status = h('p', { role: 'status', 'aria-live': 'polite', class: 'gen-status', 'data-testid': 'board-status' });
  const links = h('p', { class: 'board-links', hidden: true, 'data-testid': 'board-links' });
  const sizes = [16, 64].map((count, i) => h('label', { class: 'check' },
    h('input', { type: 'radio', name: titleId + '-count', value: String(count), checked: i === 0 }),
    ' ' + t('board.count', { count })));
  const button = h('button', { type: 'button', class: 'btn', 'data-testid': 'make-board', text: t('board.make') });

  async function make() {
    const count = Number(sizes.map((l) => l.querySelector('input')).find((i) => i.checked).value);
    button.disabled = true;
    links.hidden = true;
    setMessage(status, t('board.drawing'));
    try {
      const created = await post('/api/themes/' + encodeURIComponent(slug) + '/boards', { count }, { signal });
      const deadline = Date.now() + WAIT_LIMIT_MS;
      let board = created;
      while (board.status !== 'done') {
        if (Date.now() > deadline) throw new Error(t('board.too_long'));
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        board = await get('/api/boards/' + created.id, { signal });
      }
      links.replaceChildren(
        h('a', { class: 'btn btn-primary', href: board.png_url, download: '', text: t('board.download_png') }), ' ',
        h('a', { class: 'btn', href: board.pdf_url, download: '', text: t('board.download_pdf') }));
      links.hidden = false;
      setMessage(status, t('board.ready'));
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      setMessage(status, errorText(err), 'error');
    } finally {
      button.disabled = false;
    }
  }
  button.addEventListener('click', make);

  return h('section', { class: 'board', 'aria-labelledby': titleId },
    h('h2', { id: titleId, text: t('board.title') }),
    h('p', { class: 'hint', text: t('board.explain') }),
    h('fieldset', { class: 'board-sizes' }, h('legend', { text: t('board.size') }), ...sizes),
    button, status, links);
}
