// #/avatars — the avatars I own: their public URL (with how to use it), sizes and downloads; my
// e-mail addresses for Gravatar/Libravatar (the account's and extra ones) and the avatar each shows.
import { api, get, post } from '../api.js';
import { h, clear, uid, setMessage } from '../dom.js';
import { t, dateOnly } from '../i18n.js';
import { errorText } from '../errors.js';
import { state } from '../store.js';
import { themeName } from './home.js';
import { downloads, variantUrl } from './avatar-downloads.js';

const SIZES = [64, 128, 256, 512, 1024];
const MAX_ADDRESSES = 5; // extra addresses an account may add (effigies.accounts.addresses)

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

// "Use for my e-mail": a verified address of the account's (its own, or an extra one picked in
// the list beside the button) answers with this avatar at /avatar/{hash} (Gravatar, Libravatar);
// one avatar per address, so every card's control follows `links.shown`.
function emailLink(avatar, links) {
  const status = h('span', { role: 'status', 'aria-live': 'polite', class: 'copy-feedback', 'data-testid': 'email-link-status' });
  const button = h('button', { type: 'button', class: 'btn', 'data-testid': 'email-link' });
  const pickId = uid('email-address');
  const pick = h('select', { id: pickId, 'data-testid': 'email-link-address' });
  const pickRow = h('span', { class: 'address-pick' }, h('label', { for: pickId, text: t('avatars.address_for') + ' ' }), pick, ' ');
  const key = () => pick.value || '';
  const render = () => {
    const chosen = key();
    clear(pick);
    links.addresses.filter((a) => a.verified || a.own).forEach((a) => pick.append(h('option', {
      value: a.key, text: a.own ? t('avatars.address_option_own', { email: a.email }) : a.email,
    })));
    pick.value = links.addresses.some((a) => a.key === chosen && (a.verified || a.own)) ? chosen : '';
    pickRow.hidden = pick.options.length < 2; // the account's address alone: nothing to pick
    const mine = links.shown.get(key()) === avatar.public_id;
    button.textContent = mine ? t('avatars.email_unlink') : t('avatars.email_link');
    button.setAttribute('aria-pressed', mine ? 'true' : 'false');
    status.textContent = mine ? t('avatars.email_linked') : '';
  };
  pick.onchange = render;
  button.onclick = async () => {
    const address = key();
    const mine = links.shown.get(address) === avatar.public_id;
    button.disabled = true;
    try {
      const query = address ? `?address_id=${encodeURIComponent(address)}` : '';
      if (mine) await api('DELETE', '/api/me/avatar-links' + query);
      else await api('PUT', '/api/me/avatar-links', { avatar_public_id: avatar.public_id, ...(address ? { address_id: address } : {}) });
      if (mine) links.shown.delete(address); else links.shown.set(address, avatar.public_id);
      links.refresh();
    } catch (err) {
      status.textContent = err && err.code === 'email_not_verified' && !address ? t('avatars.email_unverified') : errorText(err);
    } finally {
      button.disabled = false;
    }
  };
  links.renders.push(render);
  render();
  return h('div', { class: 'email-link-row' }, h('div', { class: 'email-link-controls' }, pickRow, button), status);
}

// The account's addresses for Gravatar/Libravatar: its own, and up to 5 extra ones, each
// confirmed by the link mailed to it; which avatar each shows; add, send the link again, remove.
function addressPanel(links, reload) {
  const status = h('p', { role: 'status', 'aria-live': 'polite', hidden: true, 'data-testid': 'address-status' });
  const list = h('ul', { class: 'address-list', 'data-testid': 'address-list' });
  const inputId = uid('new-address');
  const input = h('input', {
    id: inputId, name: 'email', type: 'email', autocomplete: 'email', required: true, spellcheck: 'false',
    autocapitalize: 'none', 'data-testid': 'address-input',
  });
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'address-add', text: t('avatars.address_add') });
  const form = h('form', { class: 'address-form', novalidate: true },
    h('div', { class: 'field' }, h('label', { for: inputId, text: t('avatars.address_add_label') }), input),
    h('div', { class: 'actions' }, submit));
  const say = (text, kind) => setMessage(status, text, kind);
  const failed = (err) => say(errorText(err, { email_taken: t('avatars.address_taken') }), 'error');

  const act = (label, testid, fn) => h('button', {
    type: 'button', class: 'btn btn-small', 'data-testid': testid, 'aria-label': label.aria, text: label.text,
    onclick: async (event) => {
      event.target.disabled = true;
      try { await fn(); } catch (err) { failed(err); event.target.disabled = false; }
    },
  });

  const render = () => {
    clear(list);
    links.addresses.forEach((a) => {
      const shows = links.shown.get(a.key);
      list.append(h('li', { 'data-testid': 'address', 'data-address': a.email, 'data-verified': String(a.verified) },
        h('span', { class: 'address-email', text: a.own ? t('avatars.address_own', { email: a.email }) : a.email }), ' ',
        h('span', { class: a.verified ? 'badge badge-ok' : 'badge badge-muted', 'data-testid': 'address-state',
                    text: a.verified ? t('avatars.address_verified') : t('avatars.address_pending') }), ' ',
        h('span', { class: 'meta', 'data-testid': 'address-shows',
                    text: shows ? t('avatars.address_shows', { id: shows }) : t('avatars.address_shows_none') }), ' ',
        !a.own && !a.verified ? act({ text: t('avatars.address_resend'), aria: t('avatars.address_resend_label', { email: a.email }) },
          'address-resend', async () => {
            await post(`/api/me/addresses/${encodeURIComponent(a.key)}/verification`, {});
            say(t('avatars.address_resent', { email: a.email }), 'success');
          }) : null, ' ',
        !a.own ? act({ text: t('avatars.address_remove'), aria: t('avatars.address_remove_label', { email: a.email }) },
          'address-remove', async () => {
            await api('DELETE', `/api/me/addresses/${encodeURIComponent(a.key)}`);
            await reload();
            say(t('avatars.address_removed', { email: a.email }), 'success');
          }) : null));
    });
    const full = links.addresses.filter((a) => !a.own).length >= MAX_ADDRESSES;
    form.hidden = full;
  };

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const email = input.value.trim();
    input.removeAttribute('aria-invalid');
    if (!email || !input.checkValidity()) {
      input.setAttribute('aria-invalid', 'true');
      say(t('err.invalid_email'), 'error');
      input.focus();
      return;
    }
    submit.disabled = true;
    try {
      const added = await post('/api/me/addresses', { email });
      form.reset();
      await reload();
      say(t('avatars.address_added', { email: added.email }), 'success');
    } catch (err) {
      failed(err);
    } finally {
      submit.disabled = false;
    }
  });
  links.renders.push(render);
  render();
  return h('section', { class: 'panel addresses', 'aria-labelledby': 'addresses-title', 'data-testid': 'addresses' },
    h('h2', { id: 'addresses-title', text: t('avatars.addresses_title') }),
    h('p', { text: t('avatars.addresses_lead', { max: MAX_ADDRESSES }) }),
    list, status, form);
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

// What the page knows of the account's addresses and links: `addresses` [{key ('' for the
// account's own, else the extra address's id), email, verified, own}], `shown` key -> public id.
async function loadLinks(links, signal) {
  const [extra, emailLinks] = await Promise.all([
    get('/api/me/addresses', { signal }).catch(() => []),
    get('/api/me/avatar-links', { signal }).catch(() => []),
  ]);
  const me = state.me || {};
  links.addresses = [{ key: '', email: me.email || '', verified: !!me.email_verified, own: true },
    ...(extra || []).map((a) => ({ key: a.id, email: a.email, verified: a.verified, own: false }))];
  links.shown = new Map((emailLinks || []).map((l) => [l.address_id || '', l.avatar_public_id]));
}

export function mount(main, _params, ctx) {
  ctx.setTitle(t('avatars.title'));
  const controller = new AbortController();
  const list = h('ul', { class: 'avatar-grid', 'aria-busy': 'true', 'data-testid': 'avatar-list' });
  const notice = h('div', { role: 'alert', class: 'notice notice-error', hidden: true });
  const panel = h('div', {});
  main.append(h('h1', { text: t('avatars.title') }), notice, panel, list);
  const links = { addresses: [], shown: new Map(), renders: [] };
  links.refresh = () => links.renders.forEach((r) => r());
  const reload = async () => { await loadLinks(links, controller.signal); links.refresh(); };

  Promise.all([
    get('/api/me/avatars', { signal: controller.signal }),
    get('/api/themes', { signal: controller.signal }).catch(() => []),
    loadLinks(links, controller.signal),
  ]).then(([avatars, themes]) => {
    const bySlug = new Map((themes || []).map((th) => [th.slug, th]));
    clear(list);
    list.removeAttribute('aria-busy');
    panel.append(addressPanel(links, reload));
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
