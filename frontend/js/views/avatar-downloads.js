// "My avatars": downloads at the sizes platforms ask for, PNG and WebP, and any size from 16 to 1024.
import { h, uid } from '../dom.js';
import { t } from '../i18n.js';

export const MIN_SIZE = 16;
export const MAX_SIZE = 1024;
// What each platform shows (or asks to upload) for a profile picture. The server keeps these
// sizes on disk (effigies/avatars/delivery.py DISK_SIZES); any other size is drawn on demand.
export const PLATFORM_SIZES = [
  { key: 'discord', size: 128 },
  { key: 'steam', size: 184 },
  { key: 'google', size: 250 },
  { key: 'standard', size: 256 },
  { key: 'x', size: 400 },
  { key: 'github', size: 460 },
  { key: 'slack', size: 512 },
  { key: 'original', size: 1024 },
];
const FORMATS = [
  { ext: 'png', label: 'PNG' },
  { ext: 'webp', label: 'WebP' },
];
const CUSTOM_FORMATS = [...FORMATS, { ext: 'jpg', label: 'JPEG' }];

/** The avatar's public address for one variant: .png → .webp or .jpg, ?s=, ?download=1. */
export function variantUrl(url, { size, ext = 'png', download = false } = {}) {
  const u = new URL(url, location.origin);
  u.pathname = u.pathname.replace(/\.png$/, `.${ext}`);
  if (size) u.searchParams.set('s', String(size));
  // The server then says "attachment" too: browsers that ignore the download attribute
  // (a public URL on another origin, such as a CDN) still save the file instead of showing it.
  if (download) u.searchParams.set('download', '1');
  return u.href;
}

/** A whole number of pixels from 16 to 1024, or null: the server's own rule (422 otherwise). */
export function parseSize(text) {
  const value = String(text).trim();
  if (!/^[0-9]{1,4}$/.test(value)) return null;
  const size = Number(value);
  return size >= MIN_SIZE && size <= MAX_SIZE ? size : null;
}

function downloadLink(avatar, size, format, platform) {
  return h('a', {
    href: variantUrl(avatar.url, { size, ext: format.ext, download: true }),
    download: `effigies-${avatar.public_id}-${size}.${format.ext}`,
    'aria-label': t('avatars.download_label', { id: avatar.public_id, size, format: format.label, platform }),
    'data-testid': 'download', 'data-size': String(size), 'data-format': format.ext,
    text: format.label,
  });
}

function platformTable(avatar) {
  return h('table', { class: 'downloads', 'data-testid': 'downloads' },
    h('caption', { text: t('avatars.downloads') }),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col', text: t('avatars.platform') }),
      h('th', { scope: 'col', text: t('avatars.size') }),
      h('th', { scope: 'col', colspan: String(FORMATS.length), text: t('avatars.file') }))),
    h('tbody', {}, PLATFORM_SIZES.map(({ key, size }) => {
      const platform = t(`avatars.platform.${key}`);
      return h('tr', { 'data-platform': key },
        h('th', { scope: 'row', text: platform }),
        h('td', { text: t('avatars.size_link', { size }) }),
        FORMATS.map((format) => h('td', {}, downloadLink(avatar, size, format, platform))));
    })));
}

function customSize(avatar) {
  const inputId = uid('custom-size');
  const errorId = uid('custom-size-error');
  const input = h('input', {
    id: inputId, type: 'number', min: String(MIN_SIZE), max: String(MAX_SIZE), step: '1', inputmode: 'numeric',
    required: true, class: 'size-input', 'data-testid': 'custom-size', 'aria-describedby': errorId,
  });
  const select = h('select', { 'aria-label': t('avatars.custom_format'), 'data-testid': 'custom-format' },
    CUSTOM_FORMATS.map((f) => h('option', { value: f.ext, text: f.ext === 'jpg' ? t('avatars.jpeg_label') : f.label })));
  const error = h('p', { id: errorId, class: 'field-error', 'data-testid': 'custom-size-error', hidden: true });
  // Validated here first (no request for a size the server would refuse), then downloaded.
  const form = h('form', {
    class: 'custom-size', novalidate: true, 'data-testid': 'custom-size-form',
    onsubmit: (event) => {
      event.preventDefault();
      const size = parseSize(input.value);
      if (size === null) {
        error.textContent = t('avatars.custom_invalid', { min: MIN_SIZE, max: MAX_SIZE });
        error.hidden = false;
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      error.hidden = true;
      input.removeAttribute('aria-invalid');
      const format = CUSTOM_FORMATS.find((f) => f.ext === select.value) || CUSTOM_FORMATS[0];
      const link = downloadLink(avatar, size, format, t('avatars.custom_platform'));
      link.hidden = true;
      form.append(link);
      link.click();
      link.remove();
    },
  },
  h('label', { for: inputId, text: t('avatars.custom_label', { min: MIN_SIZE, max: MAX_SIZE }) }),
  h('div', { class: 'custom-row' }, input, select,
    h('button', { type: 'submit', class: 'btn', 'data-testid': 'custom-download', text: t('avatars.custom_download') })),
  error);
  return form;
}

export function downloads(avatar) {
  return h('div', { class: 'avatar-downloads' }, platformTable(avatar), customSize(avatar));
}
