// #/themes/{slug}/learn — how the generator learned: the same latents along training, and the losses.
import { get, ApiError } from '../api.js';
import { h, append, clear, setMessage } from '../dom.js';
import { t, number } from '../i18n.js';
import { errorText } from '../errors.js';
import { themeName } from './home.js';
import { lossChart } from '../charts.js';

const PLAY_MS = 900;

export function mount(main, params, ctx) {
  const slug = params.slug;
  const abort = new AbortController();
  let timer = null;
  const heading = h('h1', { text: t('app.loading') });
  const notice = h('div', { role: 'alert', class: 'notice notice-error', hidden: true });
  const body = h('div', { class: 'learn' });
  main.append(
    h('p', { class: 'back' }, h('a', { href: '#/themes/' + encodeURIComponent(slug), text: t('learn.back') })),
    heading, notice, body);

  Promise.all([
    get('/api/themes/' + encodeURIComponent(slug), { signal: abort.signal }),
    get('/api/themes/' + encodeURIComponent(slug) + '/learning', { signal: abort.signal }),
  ]).then(([theme, learning]) => draw(theme, learning)).catch((err) => {
    if (err && err.name === 'AbortError') return;
    heading.textContent = t('learn.title_plain');
    const missing = err instanceof ApiError && err.status === 404;
    setMessage(notice, missing ? t('learn.missing') : errorText(err), 'error');
  });

  function draw(theme, learning) {
    const name = themeName(theme);
    heading.textContent = t('learn.title', { name });
    ctx.setTitle(t('learn.title', { name }));
    const frames = learning.frames;
    const image = h('img', {
      class: theme.pixel_art ? 'learn-frame pixelated' : 'learn-frame', width: 512, height: 512, alt: '',
      'data-testid': 'learn-frame',
    });
    const caption = h('p', { class: 'learn-caption', 'aria-live': 'polite', 'data-testid': 'learn-caption' });
    const last = frames.length - 1;
    // Opens on the end of training (what the generator learned); "play" replays it from the noise.
    const scrubber = h('input', {
      type: 'range', min: '0', max: String(last), step: '1', value: String(last), id: 'learn-scrubber',
      'data-testid': 'learn-scrubber',
    });
    const play = h('button', { type: 'button', class: 'btn', 'data-testid': 'learn-play' });
    /** Paused: "play from the start" on the last frame, "play" (from here) elsewhere. */
    function playLabel() {
      play.textContent = Number(scrubber.value) >= last ? t('learn.play_again') : t('learn.play');
    }

    function show(i) {
      const frame = frames[i];
      image.src = frame.url;
      image.alt = t('learn.frame_alt', { images: number(frame.images) });
      caption.textContent = t('learn.caption', { images: number(frame.images), n: i + 1, total: frames.length });
      scrubber.value = String(i);
      scrubber.setAttribute('aria-valuetext', caption.textContent);
      if (!timer) playLabel();
    }
    function stop() {
      clearInterval(timer);
      timer = null;
      playLabel();
    }
    scrubber.addEventListener('input', () => { stop(); show(Number(scrubber.value)); });
    play.addEventListener('click', () => {
      if (timer) { stop(); return; }
      let i = Number(scrubber.value) >= last ? 0 : Number(scrubber.value);
      show(i);
      play.textContent = t('learn.pause');
      timer = setInterval(() => {
        i += 1;
        if (i >= frames.length) { stop(); return; }
        show(i);
      }, PLAY_MS);
    });

    clear(body);
    // dom.js append: Element.append would write the null of a missing replay note as "null".
    append(body, [
      h('p', { class: 'lead', text: t('learn.intro') }),
      learning.replay ? h('p', { class: 'hint', 'data-testid': 'learn-replay',
        text: t('learn.replay', { images: number(frames[frames.length - 1].images) }) }) : null,
      h('div', { class: 'learn-player' },
        image,
        h('div', { class: 'learn-controls' },
          h('label', { for: 'learn-scrubber', text: t('learn.scrubber') }),
          scrubber, play, caption)),
      h('section', { 'aria-labelledby': 'losses-title' },
        h('h2', { id: 'losses-title', text: t('learn.losses_title') }),
        lossChart(learning.losses),
        h('p', { class: 'hint', text: t('learn.losses_explain') }))]);
    show(last);
  }

  return () => { abort.abort(); clearInterval(timer); };
}
