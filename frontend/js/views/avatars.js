// #/avatars — the avatars I own: their public URL (with how to use it), sizes and downloads.
import { api, get } from '../api.js';
import { h, clear, uid } from '../dom.js';
import { t, dateOnly } from '../i18n.js';
import { errorText } from '../errors.js';
import { themeName } from './home.js';
import { downloads, variantUrl } from './avatar-downloads.js';

const SIZES = [64, 128, 256, 512, 1024];

function absolute(url, size) {
  return variantUrl(url, { size });
}

// Where the public URL goes, per kind of profile: a person should not have to search for it.
function howTo() {
  return h('details', { class: 'howto', 'data-testid': 'avatar-howto' },
    h('summary', { text: t('avatars.howto_title') }),
    h('ul', {},
      h('li', { text: t('avatars.howto_game') }),
      h('li', { text: t('avatars.howto_email') }),
      h('li', { text: t('avatars.howto_sizes') })));
}

async function copyText(input) {
  const text = input.value;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch (_) { /* fall back below */ }
  input.focus();
  input.select();
  try { return document.execCommand('copy'); } catch (_) { return false; }
}

// "Use for my e-mail": the account's verified address answers with this avatar at /avatar/{hash}
// (Gravatar, Libravatar); one avatar at a time, so every card's control follows `links.linked`.
function emailLink(avatar, links) {
  const status = h('span', { role: 'status', 'aria-live': 'polite', class: 'copy-feedback', 'data-testid': 'email-link-status' });
  const button = h('button', { type: 'button', class: 'btn', 'data-testid': 'email-link' });
  const render = () => {
    const mine = links.linked === avatar.public_id;
    button.textContent = mine ? t('avatars.email_unlink') : t('avatars.email_link');
    button.setAttribute('aria-pressed', mine ? 'true' : 'false');
    status.textContent = mine ? t('avatars.email_linked') : '';
  };
  button.onclick = async () => {
    const mine = links.linked === avatar.public_id;
    button.disabled = true;
    try {
      if (mine) await api('DELETE', '/api/me/avatar-links');
      else await api('PUT', '/api/me/avatar-links', { avatar_public_id: avatar.public_id });
      links.linked = mine ? null : avatar.public_id;
      links.renders.forEach((r) => r());
    } catch (err) {
      status.textContent = err && err.code === 'email_not_verified' ? t('avatars.email_unverified') : errorText(err);
    } finally {
      button.disabled = false;
    }
  };
  links.renders.push(render);
  render();
  return h('p', { class: 'sizes' }, button, ' ', status);
}

function avatarCard(avatar, themes, links) {
  const inputId = uid('avatar-url');
  const publicUrl = absolute(avatar.url);
  const theme = themes.get(avatar.theme_slug);
  const input = h('input', { id: inputId, type: 'text', readOnly: true, value: publicUrl, class: 'url-input', 'data-testid': 'avatar-url', onfocus: (e) => e.target.select() });
  const feedback = h('span', { role: 'status', 'aria-live': 'polite', class: 'copy-feedback', 'data-testid': 'copy-feedback' });
  const copy = h('button', {
    type: 'button', class: 'btn', 'data-testid': 'copy-url',
    onclick: async () => {
      const ok = await copyText(input);
      feedback.textContent = ok ? t('avatars.copied') : t('avatars.copy_failed');
      setTimeout(() => { feedback.textContent = ''; }, 4000);
    },
    text: t('avatars.copy'),
  });
  const name = theme ? themeName(theme) : avatar.theme_name;
  return h('li', { class: 'avatar-card', 'data-testid': 'avatar', 'data-public-id': avatar.public_id },
    h('img', { src: absolute(avatar.url, 256), alt: t('avatars.alt', { id: avatar.public_id }), width: 128, height: 128, class: theme && theme.pixel_art ? 'pixelated' : 'smooth' }),
    h('div', { class: 'avatar-top' },
      h('p', { class: 'meta' },
        name ? h('span', { text: t('avatars.theme', { name }) }) : null,
        avatar.created_at ? h('span', { text: t('avatars.bought_on', { date: dateOnly(avatar.created_at) }) }) : null),
      h('p', { class: 'sizes' },
        h('span', { text: t('avatars.sizes') }), ' ',
        SIZES.map((size) => h('a', {
          href: absolute(avatar.url, size), target: '_blank', rel: 'noopener',
          'aria-label': t('avatars.size_label', { id: avatar.public_id, size }),
          'data-size': String(size),
          text: t('avatars.size_link', { size }),
        }))),
      h('p', { class: 'sizes' },
        h('a', {
          href: `/api/avatars/${encodeURIComponent(avatar.public_id)}/certificate`, download: `effigies-${avatar.public_id}.json`,
          'aria-label': t('avatars.certificate_label', { id: avatar.public_id }), 'data-testid': 'certificate',
          text: t('avatars.certificate'),
        }), ' · ',
        h('a', {
          href: `#/verify/${encodeURIComponent(avatar.public_id)}`, 'data-testid': 'verify-link',
          'aria-label': t('avatars.verify_label', { id: avatar.public_id }), text: t('avatars.verify_link'),
        }))),
    downloads(avatar),
    emailLink(avatar, links),
    h('div', { class: 'avatar-share' },
      h('label', { for: inputId, class: 'label', text: t('avatars.url_label', { id: avatar.public_id }) }),
      h('div', { class: 'copy-row' }, input, copy),
      feedback,
      howTo()));
}

export function mount(main, _params, ctx) {
  ctx.setTitle(t('avatars.title'));
  const controller = new AbortController();
  const list = h('ul', { class: 'avatar-grid', 'aria-busy': 'true', 'data-testid': 'avatar-list' });
  const notice = h('div', { role: 'alert', class: 'notice notice-error', hidden: true });
  main.append(h('h1', { text: t('avatars.title') }), notice, list);

  Promise.all([
    get('/api/me/avatars', { signal: controller.signal }),
    get('/api/themes', { signal: controller.signal }).catch(() => []),
    get('/api/me/avatar-links', { signal: controller.signal }).catch(() => []),
  ]).then(([avatars, themes, emailLinks]) => {
    const links = { linked: (emailLinks && emailLinks[0] && emailLinks[0].avatar_public_id) || null, renders: [] };
    const bySlug = new Map((themes || []).map((th) => [th.slug, th]));
    clear(list);
    list.removeAttribute('aria-busy');
    if (!avatars || !avatars.length) {
      list.append(h('li', { class: 'empty' }, t('avatars.empty') + ' ', h('a', { href: '#/', text: t('avatars.empty_link') })));
      return;
    }
    avatars.forEach((avatar) => list.append(avatarCard(avatar, bySlug, links)));
  }).catch((err) => {
    if (err && err.name === 'AbortError') return;
    if (ctx.handleAuthError(err)) return;
    list.removeAttribute('aria-busy');
    notice.textContent = errorText(err);
    notice.hidden = false;
  });

  return () => controller.abort();
}
