// #/verify/<public_id> — is this avatar genuine, and whose is it? #/verify — check a certificate file.
// The server verifies the Ed25519 signature, and says whether the owner still owns the avatar
// (ownership ended on <date> once they deleted their account); this page only shows its answer.
import { get, post } from '../api.js';
import { h, clear, uid, liveRegion, setMessage } from '../dom.js';
import { t, dateTime, dateOnly } from '../i18n.js';
import { errorText } from '../errors.js';
import { themeName } from './home.js';

/** The owner row: the name the certificate states, and whether they still own the avatar. */
function ownerText(certificate, ended) {
  if (certificate.owner == null) return t('verify.owner_deleted');
  return ended ? t('verify.owner_former', { name: certificate.owner }) : certificate.owner;
}

/** A signature is forever, ownership is not: the server says when the owner deleted their account. */
function ownershipNotice(ownership) {
  if (!ownership || ownership.status !== 'ended') return null;
  const date = ownership.ended_at ? dateOnly(ownership.ended_at) : '';
  return h('p', { class: 'notice notice-warning', 'data-testid': 'ownership-ended', 'data-ended-at': ownership.ended_at || '' },
    h('strong', { text: date ? t('verify.ownership_ended', { date }) : t('verify.ownership_ended_undated') }), ' ',
    t('verify.ownership_ended_detail'));
}

function facts(certificate, themes, ended) {
  const theme = themes.get(certificate.theme);
  const rows = [
    ['verify.avatar', certificate.avatar_public_id],
    ['verify.theme', theme ? themeName(theme) : certificate.theme],
    ['verify.model_version', String(certificate.model_version)],
    ['verify.owner', ownerText(certificate, ended)],
    ['verify.purchased_at', dateTime(certificate.purchased_at) || certificate.purchased_at],
    ['verify.phash', certificate.phash, true],
    ['verify.sha256', certificate.image_sha256, true],
    ['verify.key', certificate.key_id, true],
  ];
  return h('dl', { class: 'facts', 'data-testid': 'certificate-facts' },
    rows.map(([key, value, code]) => [h('dt', { text: t(key) }), h('dd', { class: code ? 'mono' : null, text: value })]));
}

/** The verdict, and for a genuine certificate the avatar and what the certificate states. */
function verdict(result, themes) {
  const genuine = result.genuine === true;
  const certificate = genuine ? result.certificate : null;
  const ended = genuine && result.ownership && result.ownership.status === 'ended';
  const theme = certificate && themes.get(certificate.theme);
  const image = certificate && result.image_url ? new URL(result.image_url, location.origin) : null;
  if (image) image.searchParams.set('s', '256');
  return h('div', { class: 'verify-result', 'data-testid': 'verdict', 'data-genuine': String(genuine) },
    h('p', { class: genuine ? 'notice notice-success verdict' : 'notice notice-error verdict' },
      h('strong', { text: genuine ? t('verify.genuine') : t('verify.not_genuine') }), ' ',
      t('verify.reason.' + result.reason)),
    genuine ? ownershipNotice(result.ownership) : null,
    image ? h('img', {
      src: image.href, width: 256, height: 256, class: theme && theme.pixel_art ? 'pixelated' : 'smooth',
      alt: t('avatars.alt', { id: certificate.avatar_public_id }),
    }) : null,
    certificate ? facts(certificate, themes, ended) : null);
}

function fileForm(themes, signal) {
  const inputId = uid('certificate-file');
  const hintId = uid('certificate-hint');
  const input = h('input', { id: inputId, type: 'file', accept: '.json,application/json', required: true, 'aria-describedby': hintId, 'data-testid': 'certificate-file' });
  const status = liveRegion({ hidden: true });
  const result = h('div', { 'aria-live': 'polite' });
  const form = h('form', {
    class: 'verify-form', novalidate: true,
    onsubmit: async (event) => {
      event.preventDefault();
      clear(result);
      setMessage(status, '');
      const file = input.files && input.files[0];
      if (!file) { setMessage(status, t('verify.choose_file'), 'error'); return; }
      let certificate;
      try { certificate = JSON.parse(await file.text()); } catch (_) { setMessage(status, t('verify.unreadable'), 'error'); return; }
      try {
        result.append(verdict(await post('/api/verify', certificate, { signal }), themes));
      } catch (err) {
        if (err && err.name === 'AbortError') return;
        setMessage(status, errorText(err), 'error');
      }
    },
  },
  h('div', { class: 'field' },
    h('label', { for: inputId, text: t('verify.file_label') }),
    input,
    h('p', { id: hintId, class: 'hint', text: t('verify.file_hint') })),
  h('button', { type: 'submit', class: 'btn btn-primary', text: t('verify.check') }));
  return h('section', { class: 'panel verify-file', 'aria-labelledby': inputId + '-title' },
    h('h2', { id: inputId + '-title', text: t('verify.file_title') }), form, status, result);
}

export function mount(main, params, ctx) {
  ctx.setTitle(t('verify.title'));
  const controller = new AbortController();
  const signal = controller.signal;
  const avatar = h('div', { 'aria-live': 'polite', 'aria-busy': params.public_id ? 'true' : null });
  const form = h('div');
  main.append(h('h1', { text: t('verify.title') }), h('p', { text: t('verify.lead') }), avatar, form);

  const themes = get('/api/themes', { signal }).catch(() => []).then((list) => new Map((list || []).map((th) => [th.slug, th])));
  themes.then((bySlug) => form.append(fileForm(bySlug, signal)));
  if (params.public_id) {
    avatar.append(h('p', { class: 'loading', text: t('app.loading') }));
    Promise.all([get('/api/verify/' + encodeURIComponent(params.public_id), { signal }), themes])
      .then(([result, bySlug]) => { clear(avatar); avatar.append(verdict(result, bySlug)); })
      .catch((err) => {
        if (err && err.name === 'AbortError') return;
        clear(avatar);
        avatar.append(h('p', { class: 'notice notice-error', role: 'alert', 'data-testid': 'verdict', 'data-genuine': 'false', text: errorText(err) }));
      })
      .finally(() => avatar.removeAttribute('aria-busy'));
  }
  return () => controller.abort();
}
