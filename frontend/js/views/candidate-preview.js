// A candidate seen up close before buying: enlarged, or as a profile picture (circle and square,
// 40, 128 and 256 px, on a light and a dark page). A modal <dialog>: Escape or the close button
// closes it and focus goes back to the button that opened it.
import { h, uid } from '../dom.js';
import { t } from '../i18n.js';

export const PROFILE_SIZES = [40, 128, 256];
const SHAPES = ['circle', 'square'];
const SCENES = ['light', 'dark'];

function zoomPanel(src, alt, pixelArt) {
  return h('div', { class: 'preview-zoom', 'data-testid': 'preview-zoom' },
    // 256 px drawn at up to 512: pixel art stays in blocks, drawings are smoothed as a browser would.
    h('img', { src, alt, width: 512, height: 512, class: pixelArt ? 'pixelated' : 'smooth', 'data-testid': 'zoom-image' }),
    h('p', { class: 'hint', text: t('preview.mark_note') }));
}

function profilePanel(src, alt) {
  return h('div', { class: 'profile-scenes', 'data-testid': 'profile-view' },
    SCENES.map((scene) => h('figure', { class: `profile-scene profile-${scene}`, 'data-testid': 'profile-scene', 'data-scene': scene },
      h('figcaption', { text: t(`preview.scene_${scene}`) }),
      SHAPES.map((shape) => h('div', { class: 'profile-row', 'data-shape': shape },
        h('span', { class: 'profile-shape', text: t(`preview.shape_${shape}`) }),
        PROFILE_SIZES.map((size) => h('img', {
          src, alt: t('preview.profile_alt', { alt, size, shape: t(`preview.shape_${shape}`) }),
          width: size, height: size, class: `profile-pic profile-${shape}`,
          'data-testid': 'profile-pic', 'data-size': String(size), 'data-shape': shape,
        })))))));
}

/**
 * Opens the dialog; returns a function closing it (a no-op once closed).
 * mode: 'zoom' | 'profile' (the first view shown; the person may switch).
 */
export function openCandidatePreview({ src, alt, pixelArt, mode = 'zoom', opener = null }) {
  const titleId = uid('preview-title');
  const panels = { zoom: zoomPanel(src, alt, pixelArt), profile: profilePanel(src, alt) };
  const tabs = {};
  const dialog = h('dialog', { class: 'preview-dialog', 'aria-labelledby': titleId, 'data-testid': 'preview-dialog' });

  function show(which) {
    for (const [name, panel] of Object.entries(panels)) {
      panel.hidden = name !== which;
      tabs[name].setAttribute('aria-pressed', name === which ? 'true' : 'false');
    }
    dialog.dataset.mode = which;
  }

  for (const name of Object.keys(panels)) {
    tabs[name] = h('button', {
      type: 'button', class: 'btn', 'data-testid': `preview-${name}`, onclick: () => show(name), text: t(`preview.show_${name}`),
    });
  }
  const close = h('button', { type: 'button', class: 'btn preview-close', 'data-testid': 'preview-close', 'aria-label': t('preview.close'), text: '×' });
  // The dialog's own box has no padding: a click whose target is the dialog itself is on the backdrop.
  dialog.append(h('div', { class: 'preview-body' },
    h('div', { class: 'preview-head' },
      h('h2', { id: titleId, text: alt }),
      close),
    h('div', { class: 'preview-tabs', role: 'group', 'aria-label': t('preview.views') }, tabs.zoom, tabs.profile),
    panels.zoom, panels.profile));

  let open = true;
  function finish() {
    if (!open) return;
    open = false;
    if (dialog.open) dialog.close();
    dialog.remove();
    if (opener && opener.isConnected) opener.focus();
  }
  close.addEventListener('click', finish);
  dialog.addEventListener('close', finish);
  // A click on the backdrop (outside the dialog's box) closes it too.
  dialog.addEventListener('click', (event) => { if (event.target === dialog) finish(); });

  show(mode);
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
  return finish;
}
