// #/themes/{slug} — generate, regenerate, buy.
import { get, post, ApiError, randomKey } from '../api.js';
import { h, clear, setMessage } from '../dom.js';
import { t, money, timeOnly } from '../i18n.js';
import { state, subscribe, priceCents, refreshWallet } from '../store.js';
import { errorText } from '../errors.js';
import { createTopup } from '../topup.js';
import { waitForGeneration } from '../generation-wait.js';
import { themeName, themeDescription, statusBadge } from './home.js';
import { boardSection } from './board.js';
import { openCandidatePreview } from './candidate-preview.js';

const COUNT = 4;
const WAIT_LIMIT_MS = 180000;

// Kept across re-renders (language switch, coming back to the page) for the session.
// slug → { jobId, status, candidates: [{id, preview_url, expires_at, state}], generated, bought, notice }
const sessions = new Map();

function sessionFor(slug) {
  if (!sessions.has(slug)) {
    sessions.set(slug, { jobId: null, status: null, candidates: [], generated: false, bought: null, notice: null, statusKey: null });
  }
  return sessions.get(slug);
}

export function mount(main, params, ctx) {
  const slug = params.slug;
  const session = sessionFor(slug);
  const abort = new AbortController();
  const cleanups = [() => abort.abort()];
  let theme = null;
  let topup = null;
  let pollingJob = null;
  let closePreview = () => {};
  cleanups.push(() => closePreview());

  const heading = h('h1', { text: t('app.loading') });
  const header = h('div', { class: 'theme-header' });
  const body = h('div', { class: 'theme-body' });
  const notice = h('div', { role: 'alert', class: 'notice notice-error', hidden: true, 'data-testid': 'theme-error' });

  main.append(
    h('p', { class: 'back' }, h('a', { href: '#/', text: t('theme.back') })),
    heading, header, notice, body);

  function showError(text) {
    setMessage(notice, text, 'error');
    notice.className = 'notice notice-error';
    session.notice = text ? { text, kind: 'error' } : null;
  }

  function showInfo(text) {
    setMessage(notice, text, 'success');
    notice.className = 'notice notice-success';
    session.notice = text ? { text, kind: 'success' } : null;
  }

  // ----- theme loading -----
  get('/api/themes/' + encodeURIComponent(slug), { signal: abort.signal }).then((data) => {
    theme = data;
    draw();
  }).catch((err) => {
    if (err && err.name === 'AbortError') return;
    heading.textContent = t('notfound.title');
    showError(err instanceof ApiError && err.status === 404 ? t('err.theme_not_found') : errorText(err));
  });

  // ----- drawing -----
  let generateButton, statusLine, candidatesGrid, balanceLine, boughtBox, topupBox;

  function draw() {
    const name = themeName(theme);
    ctx.setTitle(name);
    heading.textContent = name;
    clear(header);
    clear(body);
    header.append(
      h('div', { class: 'theme-intro' },
        statusBadge(theme),
        h('p', { class: 'lead', text: themeDescription(theme) }),
        theme.attribution ? h('p', { class: 'attribution', text: t('home.attribution', { text: theme.attribution }) }) : null,
        h('p', {}, h('a', { href: '#/themes/' + encodeURIComponent(slug) + '/learn', 'data-testid': 'learn-link', text: t('learn.link') }))),
      h('img', {
        class: theme.pixel_art ? 'sample sample-small pixelated' : 'sample sample-small',
        src: theme.sample_url, alt: t('home.sample_alt', { name }), width: 200, height: 200,
      }));

    if (session.notice) {
      if (session.notice.kind === 'error') showError(session.notice.text);
      else showInfo(session.notice.text);
    }

    if (theme.status !== 'published') {
      body.append(h('p', { class: 'notice', text: theme.status === 'retired' ? t('err.theme_retired') : t('theme.not_available') }));
      return;
    }
    if (!state.me) {
      body.append(h('p', { class: 'notice' },
        t('theme.login_to_generate') + ' ',
        h('a', { href: '#/login?next=' + encodeURIComponent('/themes/' + slug), text: t('nav.login') }),
        ' · ',
        h('a', { href: '#/signup?next=' + encodeURIComponent('/themes/' + slug), text: t('nav.signup') })));
      return;
    }

    balanceLine = h('p', { class: 'balance-line', 'data-testid': 'theme-balance' });
    generateButton = h('button', { type: 'button', class: 'btn btn-primary btn-large', 'data-testid': 'generate', onclick: generate });
    statusLine = h('p', { role: 'status', 'aria-live': 'polite', class: 'gen-status', 'data-testid': 'generation-status' });
    candidatesGrid = h('ul', { class: 'candidate-grid', 'data-testid': 'candidates' });
    boughtBox = h('div', { class: 'bought', hidden: true, 'data-testid': 'bought' });
    topupBox = h('div', { class: 'inline-topup', hidden: true });

    body.append(
      h('div', { class: 'generate-bar' },
        generateButton,
        h('div', {},
          balanceLine,
          h('p', { class: 'hint', text: t('theme.generate_hint', { count: COUNT }) }))),
      statusLine,
      boughtBox,
      topupBox,
      h('section', { 'aria-labelledby': 'candidates-title', class: 'candidates' },
        h('h2', { id: 'candidates-title', class: 'visually-hidden', text: t('theme.candidates_title') }),
        candidatesGrid),
      boardSection(slug, abort.signal));

    drawBalance();
    drawGenerateButton();
    drawStatus();
    drawCandidates();
    drawBought();
    if (session.topupOpen) openTopup();

    // Resume polling a job started before a re-render.
    if (busy() && !pollingJob) {
      if (session.jobId) poll(session.jobId);
      else { session.status = null; session.statusKey = null; drawStatus(); drawGenerateButton(); }
    }
  }

  function drawBalance() {
    if (!balanceLine) return;
    clear(balanceLine);
    const price = money(priceCents(), state.currency);
    if (typeof state.balanceCents === 'number') {
      balanceLine.append(
        t('theme.price_and_balance', { price, balance: money(state.balanceCents, state.currency) }), ' ',
        h('a', { href: '#/wallet', text: t('theme.topup_link') }));
    } else {
      balanceLine.append(t('theme.price', { price }));
    }
  }

  function busy() {
    return session.status === 'queued' || session.status === 'running';
  }

  function drawGenerateButton() {
    if (!generateButton) return;
    generateButton.textContent = session.generated ? t('theme.regenerate') : t('theme.generate');
    generateButton.disabled = busy();
    generateButton.setAttribute('aria-disabled', busy() ? 'true' : 'false');
  }

  function drawStatus() {
    if (!statusLine) return;
    const key = session.statusKey;
    statusLine.dataset.status = session.status || '';
    if (!key) { statusLine.textContent = ''; return; }
    statusLine.textContent = key === 'theme.status.done' ? t(key, { count: session.candidates.length }) : t(key);
  }

  function drawCandidates() {
    if (!candidatesGrid) return;
    clear(candidatesGrid);
    candidatesGrid.setAttribute('aria-busy', busy() ? 'true' : 'false');
    const total = session.candidates.length;
    session.candidates.forEach((cand, index) => {
      candidatesGrid.append(candidateCard(cand, index + 1, total));
    });
  }

  function candidateCard(cand, n, total) {
    const price = money(priceCents(), state.currency);
    const button = h('button', {
      type: 'button', class: 'btn btn-buy', 'data-testid': 'buy',
      onclick: () => buy(cand),
    });
    const note = h('p', { class: 'candidate-note' });
    if (cand.state === 'offered') {
      button.textContent = t('theme.buy', { price });
      if (cand.expires_at) note.textContent = t('theme.expires', { time: timeOnly(cand.expires_at) });
    } else if (cand.state === 'buying') {
      button.textContent = t('theme.buying');
      button.disabled = true;
    } else if (cand.state === 'sold') {
      button.textContent = t('theme.bought_link');
      button.onclick = () => ctx.navigate('/avatars');
    } else {
      button.textContent = cand.state === 'expired' ? t('theme.expired') : t('theme.unavailable');
      button.disabled = true;
    }
    const alt = t('theme.candidate_alt', { n, total });
    button.setAttribute('aria-label', `${button.textContent} — ${alt}`);
    const pixelArt = Boolean(theme && theme.pixel_art);
    const look = (mode) => (event) => {
      closePreview();
      closePreview = openCandidatePreview({ src: cand.preview_url, alt, pixelArt, mode, opener: event.currentTarget });
    };
    return h('li', { class: `candidate candidate-${cand.state}`, 'data-testid': 'candidate', 'data-candidate-id': cand.id, 'data-state': cand.state },
      h('button', { type: 'button', class: 'candidate-zoom', 'data-testid': 'zoom', 'aria-label': t('theme.zoom', { alt }), onclick: look('zoom') },
        h('img', { src: cand.preview_url, alt, width: 160, height: 160, class: pixelArt ? 'pixelated' : 'smooth' })),
      button,
      h('button', {
        type: 'button', class: 'link-button candidate-profile', 'data-testid': 'profile-preview',
        'aria-label': t('theme.profile_view_label', { alt }), onclick: look('profile'), text: t('theme.profile_view'),
      }),
      note);
  }

  function drawBought() {
    if (!boughtBox) return;
    clear(boughtBox);
    if (!session.bought) { boughtBox.hidden = true; return; }
    const src = withSize(session.bought.url, 128);
    boughtBox.append(
      h('img', { src, alt: t('theme.bought_alt'), width: 96, height: 96, class: theme && theme.pixel_art ? 'pixelated' : 'smooth' }),
      h('div', {},
        h('p', { text: t('theme.bought') }),
        h('a', { href: '#/avatars', class: 'btn', 'data-testid': 'go-avatars', text: t('theme.bought_link') })));
    boughtBox.hidden = false;
  }

  function openTopup() {
    session.topupOpen = true;
    if (topup || !topupBox) return;
    topup = createTopup({
      title: t('theme.topup_title'),
      onSuccess: () => {
        showInfo(t('theme.topup_done'));
        session.topupOpen = false;
        // Leave the form (and its success message) in place; the person buys next.
      },
    });
    topupBox.append(topup.el);
    topupBox.hidden = false;
    const title = topup.el.querySelector('h2');
    if (title) {
      title.setAttribute('tabindex', '-1');
      title.focus();
    }
  }

  // ----- actions -----
  async function generate() {
    if (busy()) return;
    showError('');
    session.bought = null;
    drawBought();
    session.jobId = null;
    session.status = 'queued';
    session.statusKey = 'theme.status.queued';
    drawGenerateButton();
    drawStatus();
    try {
      const job = await post(`/api/themes/${encodeURIComponent(slug)}/generations`, { count: COUNT }, { signal: abort.signal });
      session.jobId = job.id;
      session.generated = true;
      await poll(job.id);
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      session.status = 'failed';
      session.statusKey = null;
      if (ctx.handleAuthError(err)) return;
      showError(errorText(err));
      drawGenerateButton();
      drawStatus();
    }
  }

  async function poll(jobId) {
    pollingJob = jobId;
    try {
      const job = await waitForGeneration(jobId, {
        signal: abort.signal,
        limitMs: WAIT_LIMIT_MS,
        onUpdate: (update) => {
          if (session.jobId !== jobId) return;
          session.status = update.status;
          session.statusKey = update.status === 'running' ? 'theme.status.running' : 'theme.status.queued';
          drawStatus();
          drawGenerateButton();
        },
      });
      if (session.jobId !== jobId) return;
      if (!job) {
        session.status = 'failed';
        session.statusKey = 'theme.status.timeout';
      } else if (job.status === 'done') {
        session.status = 'done';
        session.candidates = (job.candidates || []).map((c) => ({ ...c, state: candidateState(c) }));
        session.statusKey = 'theme.status.done';
        drawCandidates();
      } else {
        session.status = 'failed';
        session.statusKey = 'theme.status.failed';
      }
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      session.status = 'failed';
      session.statusKey = null;
      if (ctx.handleAuthError(err)) return;
      showError(errorText(err));
    } finally {
      if (pollingJob === jobId) pollingJob = null;
    }
    drawStatus();
    drawGenerateButton();
  }

  async function buy(cand) {
    if (cand.state !== 'offered') return;
    showError('');
    cand.state = 'buying';
    drawCandidates();
    try {
      // One key per candidate on this page: a retry after a lost answer returns the same avatar, never a second debit.
      cand.purchaseKey = cand.purchaseKey || randomKey();
      const result = await post(`/api/candidates/${encodeURIComponent(cand.id)}/purchase`, {},
        { signal: abort.signal, headers: { 'Idempotency-Key': cand.purchaseKey } });
      cand.state = 'sold';
      session.bought = result.avatar;
      drawCandidates();
      drawBought();
      refreshWallet().catch(() => {});
      const link = boughtBox.querySelector('a');
      if (link) link.focus();
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      if (ctx.handleAuthError(err)) return;
      const code = err instanceof ApiError ? err.code : '';
      if (code === 'insufficient_funds') {
        cand.state = 'offered';
        showError(t('err.insufficient_funds'));
        openTopup();
      } else if (code === 'near_duplicate_sold') {
        cand.state = 'unavailable';
        showError(t('err.near_duplicate_sold'));
      } else if (code === 'candidate_expired') {
        cand.state = 'expired';
        showError(t('err.candidate_expired'));
      } else if (err instanceof ApiError && err.status === 404) {
        cand.state = 'unavailable';
        showError(t('err.candidate_not_found'));
      } else {
        cand.state = 'offered';
        showError(errorText(err));
      }
      drawCandidates();
    }
  }

  cleanups.push(subscribe(() => drawBalance()));
  if (state.me && typeof state.balanceCents !== 'number') refreshWallet().catch(() => {});

  return () => {
    cleanups.forEach((fn) => fn());
    if (topup) topup.destroy();
  };
}

// The API may say a candidate is no longer on offer (status: offered | sold | expired …).
function candidateState(c) {
  if (!c.status || c.status === 'offered') return 'offered';
  return c.status === 'expired' ? 'expired' : 'unavailable';
}

export function withSize(url, size) {
  try {
    const u = new URL(url, location.origin);
    u.searchParams.set('s', String(size));
    return u.pathname.startsWith('/') && u.origin === location.origin ? u.pathname + u.search : u.href;
  } catch (_) {
    return url;
  }
}
