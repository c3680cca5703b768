// #/themes/{slug} — generate, regenerate, buy. The person's proposals still on sale come back
// after a reload or on another device (GET /api/themes/{slug}/proposals): the newest batch in the
// main grid, the older ones below it until they expire. A visitor (not logged in) tries first:
// they generate too (the server knows them by a cookie), and each card's button leads to sign-up,
// after which the same proposals are the new account's and this page shows them again.
import { get, post, ApiError, randomKey } from '../api.js';
import { h, append, clear, setMessage } from '../dom.js';
import { t, money, timeOnly } from '../i18n.js';
import { state, subscribe, priceCents, refreshWallet, rememberTheme } from '../store.js';
import { errorText } from '../errors.js';
import { createTopup } from '../topup.js';
import { waitForGeneration } from '../generation-wait.js';
import { themeName, themeDescription, statusBadge } from './home.js';
import { boardSection } from './board.js';
import { openCandidatePreview } from './candidate-preview.js';

const COUNT = 4;
const WAIT_LIMIT_MS = 180000;
const PRUNE_EVERY_MS = 30000;
// A job started before a reload is waited for again by the reloaded page (sessionStorage: this tab only).
const JOB_KEY = 'ee.job.';
const JOB_RESUME_MS = 10 * 60 * 1000;

// Kept across re-renders (language switch, coming back to the page) for the session, per person.
// user:slug → { jobId, status, candidates: [{id, preview_url, expires_at, state}], earlier: [same],
//               generated, message, waiver }
// candidates: the latest batch; earlier: older proposals still on sale, newest first.
// message: the page's one message (see say() below); each card's own state is on the card.
// waiver: the box "deliver it now, I lose my right of withdrawal" is ticked (sent with each
// purchase, recorded with it; never ticked in advance: the person ticks it, once per visit).
const sessions = new Map();

/** Whose page this is: the person's id, or 'visitor' (their proposals become the account's at sign-up). */
function who() {
  return state.me ? state.me.id : 'visitor';
}

function sessionFor(slug) {
  const key = who() + ':' + slug;
  if (!sessions.has(key)) {
    sessions.set(key, { jobId: null, status: null, candidates: [], earlier: [], generated: false, message: null, statusKey: null, waiver: false });
  }
  return sessions.get(key);
}

function rememberJob(slug, jobId) {
  try {
    if (jobId) sessionStorage.setItem(JOB_KEY + slug, JSON.stringify({ id: jobId, user: who(), at: Date.now() }));
    else sessionStorage.removeItem(JOB_KEY + slug);
  } catch (_) { /* storage disabled: a reload then shows the proposals once the job is done */ }
}

function rememberedJob(slug) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(JOB_KEY + slug) || 'null');
    if (saved && typeof saved.id === 'string' && saved.user === who() && Date.now() - saved.at < JOB_RESUME_MS) return saved.id;
    sessionStorage.removeItem(JOB_KEY + slug);
  } catch (_) { /* garbled or disabled */ }
  return null;
}

function expired(cand) {
  const at = cand.expires_at ? Date.parse(cand.expires_at) : NaN;
  return Number.isFinite(at) && at <= Date.now();
}

/** Still buyable from this page: on offer and not past its expiry. */
function live(cand) {
  return cand.state === 'offered' && !expired(cand);
}

/** The first batch of a newest-first list: the proposals of one generation share created_at. */
function newestBatch(list) {
  if (!list.length) return [];
  const first = list[0].created_at;
  const end = list.findIndex((p) => p.created_at !== first);
  return end === -1 ? list : list.slice(0, end);
}

export function mount(main, params, ctx) {
  const slug = params.slug;
  const session = sessionFor(slug);
  rememberTheme(slug); // the wallet page links back here
  const abort = new AbortController();
  const cleanups = [() => abort.abort()];
  let theme = null;
  let topup = null;
  let pollingJob = null;
  let resumedJob = null; // a job this tab started before a reload: waited for quietly

  if (!session.jobId) {
    const jobId = rememberedJob(slug);
    if (jobId) {
      session.jobId = jobId;
      session.status = 'queued';
      session.statusKey = 'theme.status.queued';
      session.generated = true;
      resumedJob = jobId;
    }
  }
  let closePreview = () => {};
  cleanups.push(() => closePreview());

  const heading = h('h1', { text: t('app.loading') });
  const header = h('div', { class: 'theme-header' });
  const body = h('div', { class: 'theme-body' });
  const notice = h('div', { role: 'alert', class: 'notice notice-error', hidden: true, 'data-testid': 'theme-error' });

  main.append(
    h('p', { class: 'back' }, h('a', { href: '#/', text: t('theme.back') })),
    heading, header, notice, body);

  // ----- the page's message: one at a time, each new one replaces the last -----
  // { kind: 'error' | 'success', key, params } or { kind: 'error', err } (API error, worded on each
  // draw, so in the current language), or { kind: 'bought', avatar } (the box with the new avatar).
  // funds: true on the "insufficient balance" refusal: the top-up form goes with it, and both go
  // once the balance covers the price (topped up here, on the wallet page, in another tab).
  function say(message) {
    session.message = message || null;
    drawMessage();
  }

  function messageText(m) {
    if (!m || m.kind === 'bought') return '';
    if (m.key) return t(m.key, m.params || {});
    return errorText(m.err);
  }

  function drawMessage() {
    const m = session.message;
    const text = messageText(m);
    setMessage(notice, text, m ? m.kind : 'info');
    notice.className = m && m.kind === 'success' ? 'notice notice-success' : 'notice notice-error';
    drawBought();
    if (m && m.funds) openTopup();
    else closeTopup();
  }

  function covered() {
    return typeof state.balanceCents === 'number' && state.balanceCents >= priceCents();
  }

  /** On each balance change: a "not enough money" that is no longer true goes, with its form. */
  function reviewFunds() {
    const m = session.message;
    if (!m || !m.funds || !covered()) return;
    // Topped up in the form here: say so where the form was; otherwise nothing is left to say.
    const here = Boolean(topup);
    say(here ? { kind: 'success', key: 'theme.topup_done' } : null);
    if (here) {
      notice.setAttribute('tabindex', '-1');
      notice.focus();
    }
  }

  // ----- theme loading -----
  get('/api/themes/' + encodeURIComponent(slug), { signal: abort.signal }).then((data) => {
    theme = data;
    draw();
  }).catch((err) => {
    if (err && err.name === 'AbortError') return;
    heading.textContent = t('notfound.title');
    say(err instanceof ApiError && err.status === 404 ? { kind: 'error', key: 'err.theme_not_found' } : { kind: 'error', err });
  });

  // ----- the person's (or visitor's) proposals still on sale (after a reload, from another
  // device, or just after signing up: a visitor's proposals are the new account's) -----
  get('/api/themes/' + encodeURIComponent(slug) + '/proposals', { signal: abort.signal }).then((data) => {
    adoptProposals((data && data.proposals) || []);
    drawCandidates();
    drawGenerateButton();
  }).catch((err) => {
    // The page works without them (an unknown theme says so above); a lost session goes to log-in.
    if (err && err.name === 'AbortError') return;
    ctx.handleAuthError(err);
  });

  /** The server's list is the truth: what it no longer offers leaves, unless bought here (shown as bought). */
  function adoptProposals(list) {
    const known = new Map([...session.candidates, ...session.earlier].map((c) => [c.id, c]));
    const offered = new Set(list.map((p) => p.id));
    const fromServer = (p) => {
      const cand = known.get(p.id);
      if (cand) {
        if (p.expires_at) cand.expires_at = p.expires_at;
        return cand;
      }
      return { ...p, state: candidateState(p) };
    };
    session.candidates = session.candidates.filter((c) => c.state === 'sold' || offered.has(c.id));
    if (!session.candidates.length && !busy()) {
      session.candidates = newestBatch(list).map(fromServer);
      if (session.candidates.length) session.generated = true;
    }
    const shown = new Set(session.candidates.map((c) => c.id));
    session.earlier = list.filter((p) => !shown.has(p.id)).map(fromServer);
  }

  /** Once a generation is done: its candidates first, the previous batch's live ones join the earlier ones. */
  function showNewBatch(candidates) {
    // The same objects where the page already has them (a purchase under way keeps its state).
    const known = new Map([...session.candidates, ...session.earlier].map((c) => [c.id, c]));
    candidates = candidates.map((c) => known.get(c.id) || c);
    const fresh = new Set(candidates.map((c) => c.id));
    const seen = new Set();
    session.earlier = [...session.candidates, ...session.earlier].filter((c) => {
      if (fresh.has(c.id) || seen.has(c.id)) return false;
      seen.add(c.id);
      return live(c) || c.state === 'buying';
    });
    session.candidates = candidates;
  }

  // Past their expiry: greyed in the latest batch (as after a refused purchase), gone from the earlier ones.
  const pruner = setInterval(() => {
    let changed = false;
    session.candidates.forEach((c) => {
      if (c.state === 'offered' && expired(c)) { c.state = 'expired'; changed = true; }
    });
    const still = session.earlier.filter((c) => !(c.state === 'offered' && expired(c)));
    if (still.length !== session.earlier.length) { session.earlier = still; changed = true; }
    if (changed) drawCandidates();
  }, PRUNE_EVERY_MS);
  cleanups.push(() => clearInterval(pruner));

  // ----- drawing -----
  let generateButton, statusLine, candidatesGrid, earlierSection, earlierGrid, balanceLine, boughtBox, topupBox, waiverBox;

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

    drawMessage();

    if (theme.status !== 'published') {
      body.append(h('p', { class: 'notice', text: theme.status === 'retired' ? t('err.theme_retired') : t('theme.not_available') }));
      return;
    }

    balanceLine = h('p', { class: 'balance-line', 'data-testid': 'theme-balance' });
    generateButton = h('button', { type: 'button', class: 'btn btn-primary btn-large', 'data-testid': 'generate', onclick: generate });
    statusLine = h('p', { role: 'status', 'aria-live': 'polite', class: 'gen-status', 'data-testid': 'generation-status' });
    candidatesGrid = h('ul', { class: 'candidate-grid', 'data-testid': 'candidates' });
    earlierGrid = h('ul', { class: 'candidate-grid', 'data-testid': 'earlier-candidates' });
    earlierSection = h('section', { 'aria-labelledby': 'earlier-title', class: 'candidates earlier', hidden: true, 'data-testid': 'earlier' },
      h('h2', { id: 'earlier-title', text: t('theme.earlier_title') }),
      h('p', { class: 'hint', text: t('theme.earlier_hint') }),
      earlierGrid);
    boughtBox = h('div', { class: 'bought', hidden: true, 'data-testid': 'bought' });
    waiverBox = state.me ? waiverLine() : null;
    topupBox = h('div', { class: 'inline-topup', hidden: true });

    // dom.js append, not Element.append: that one writes a null child (a part this person does not get) as "null".
    append(body, [
      h('div', { class: 'generate-bar' },
        generateButton,
        h('div', {},
          balanceLine,
          h('p', { class: 'hint', text: t('theme.generate_hint', { count: COUNT }) }))),
      state.me ? null : h('p', { class: 'notice', 'data-testid': 'visitor-hint' },
        t('theme.visitor_hint') + ' ',
        h('a', { href: '#/signup' + backHere(), text: t('nav.signup') }),
        ' · ',
        h('a', { href: '#/login' + backHere(), text: t('nav.login') })),
      statusLine,
      boughtBox,
      topupBox,
      h('section', { 'aria-labelledby': 'candidates-title', class: 'candidates' },
        h('h2', { id: 'candidates-title', class: 'visually-hidden', text: t('theme.candidates_title') }),
        waiverBox,
        candidatesGrid),
      earlierSection,
      state.me ? boardSection(slug, abort.signal) : null, // boards need an account
    ]);

    drawBalance();
    drawGenerateButton();
    drawStatus();
    drawCandidates();
    reviewFunds(); // back from the wallet page: a refusal for lack of money may be stale now
    drawMessage();

    // Resume polling a job started before a re-render.
    if (busy() && !pollingJob) {
      if (session.jobId) poll(session.jobId);
      else { session.status = null; session.statusKey = null; drawStatus(); drawGenerateButton(); }
    }
  }

  function waiverLine() {
    const box = h('input', {
      type: 'checkbox', id: 'waiver', 'data-testid': 'waiver', checked: session.waiver,
      onchange: () => {
        session.waiver = box.checked;
        const m = session.message;
        if (box.checked && m && m.key === 'err.waiver_required') say(null);
      },
    });
    return h('p', { class: 'waiver', hidden: true },
      box, ' ',
      h('label', { for: 'waiver', text: t('theme.waiver') }), ' ',
      h('a', { href: '#/legal/withdrawal', text: t('theme.waiver_link') }));
  }

  function backHere() {
    return '?next=' + encodeURIComponent('/themes/' + slug);
  }

  function drawBalance() {
    if (!balanceLine) return;
    clear(balanceLine);
    const price = money(priceCents(), state.currency);
    if (typeof state.balanceCents === 'number') {
      balanceLine.append(
        t('theme.price_and_balance', { price, balance: money(state.balanceCents, state.currency) }), ' ',
        h('a', { href: '#/wallet?from=' + encodeURIComponent('/themes/' + slug), 'data-testid': 'theme-topup-link', text: t('theme.topup_link') }));
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
    clear(earlierGrid);
    const older = session.earlier.length;
    session.earlier.forEach((cand, index) => {
      earlierGrid.append(candidateCard(cand, index + 1, older, { testid: 'earlier-candidate', altKey: 'theme.earlier_alt' }));
    });
    earlierSection.hidden = older === 0;
    if (waiverBox) {
      waiverBox.hidden = !session.candidates.concat(session.earlier).some((c) => c.state === 'offered');
      waiverBox.querySelector('input').checked = session.waiver;
    }
  }

  function candidateCard(cand, n, total, { testid = 'candidate', altKey = 'theme.candidate_alt' } = {}) {
    const price = money(priceCents(), state.currency);
    const button = h('button', {
      type: 'button', class: 'btn btn-buy', 'data-testid': 'buy',
      onclick: () => buy(cand),
    });
    const note = h('p', { class: 'candidate-note' });
    if (cand.state === 'offered' && !state.me) {
      // A visitor buys nothing: an account first, then these very proposals are theirs to buy.
      button.textContent = t('theme.signup_to_buy', { price });
      button.onclick = () => ctx.navigate('/signup' + backHere());
      if (cand.expires_at) note.textContent = t('theme.expires', { time: timeOnly(cand.expires_at) });
    } else if (cand.state === 'offered') {
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
    const alt = t(altKey, { n, total });
    button.setAttribute('aria-label', `${button.textContent} — ${alt}`);
    const pixelArt = Boolean(theme && theme.pixel_art);
    const look = (mode) => (event) => {
      closePreview();
      closePreview = openCandidatePreview({ src: cand.preview_url, alt, pixelArt, mode, opener: event.currentTarget });
    };
    return h('li', { class: `candidate candidate-${cand.state}`, 'data-testid': testid, 'data-candidate-id': cand.id, 'data-state': cand.state },
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
    const m = session.message;
    if (!m || m.kind !== 'bought') { boughtBox.hidden = true; return; }
    const src = withSize(m.avatar.url, 128);
    boughtBox.append(
      h('img', { src, alt: t('theme.bought_alt'), width: 96, height: 96, class: theme && theme.pixel_art ? 'pixelated' : 'smooth' }),
      h('div', {},
        h('p', { text: t('theme.bought') }),
        h('a', { href: '#/avatars', class: 'btn', 'data-testid': 'go-avatars', text: t('theme.bought_link') })));
    boughtBox.hidden = false;
  }

  function openTopup() {
    if (topup || !topupBox) return;
    topup = createTopup({
      title: t('theme.topup_title'),
      // Its new balance has already been announced (refreshWallet → reviewFunds), which closed the form.
      onSuccess: () => reviewFunds(),
    });
    topupBox.append(topup.el);
    topupBox.hidden = false;
    const title = topup.el.querySelector('h2');
    if (title) {
      title.setAttribute('tabindex', '-1');
      title.focus();
    }
  }

  function closeTopup() {
    if (!topup) return;
    topup.destroy();
    topup.el.remove();
    topup = null;
    if (topupBox) topupBox.hidden = true;
  }

  // ----- actions -----
  async function generate() {
    if (busy()) return;
    say(null);
    session.jobId = null;
    session.status = 'queued';
    session.statusKey = 'theme.status.queued';
    drawGenerateButton();
    drawStatus();
    try {
      const job = await post(`/api/themes/${encodeURIComponent(slug)}/generations`, { count: COUNT }, { signal: abort.signal });
      session.jobId = job.id;
      session.generated = true;
      rememberJob(slug, job.id);
      await poll(job.id);
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      session.status = 'failed';
      session.statusKey = null;
      if (ctx.handleAuthError(err)) return;
      say({ kind: 'error', err });
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
      rememberJob(slug, null);
      if (!job) {
        session.status = 'failed';
        session.statusKey = 'theme.status.timeout';
      } else if (job.status === 'done') {
        session.status = 'done';
        // A job waited for again after a reload may be older: only what is still buyable.
        const offered = (job.candidates || []).map((c) => ({ ...c, state: candidateState(c) }));
        showNewBatch(jobId === resumedJob ? offered.filter(live) : offered);
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
      rememberJob(slug, null);
      if (ctx.handleAuthError(err)) return;
      // Not this person's job any more, or long gone: the proposals above say what is on sale.
      if (jobId !== resumedJob) say({ kind: 'error', err });
    } finally {
      if (pollingJob === jobId) pollingJob = null;
    }
    drawStatus();
    drawGenerateButton();
  }

  async function buy(cand) {
    if (cand.state !== 'offered' || !state.me) return;
    if (!session.waiver) {
      say({ kind: 'error', key: 'err.waiver_required' });
      const box = waiverBox && waiverBox.querySelector('input');
      if (box) box.focus();
      return;
    }
    cand.state = 'buying';
    drawCandidates();
    try {
      // One key per candidate on this page: a retry after a lost answer returns the same avatar, never a second debit.
      cand.purchaseKey = cand.purchaseKey || randomKey();
      const result = await post(`/api/candidates/${encodeURIComponent(cand.id)}/purchase`, { withdrawal_waiver: true },
        { signal: abort.signal, headers: { 'Idempotency-Key': cand.purchaseKey } });
      cand.state = 'sold';
      drawCandidates();
      say({ kind: 'bought', avatar: result.avatar }); // replaces any refusal, closes the top-up form
      refreshWallet().catch(() => {});
      const link = boughtBox.querySelector('a');
      if (link) link.focus();
    } catch (err) {
      if (err && err.name === 'AbortError') {
        // Left the page mid-purchase: the next visit asks the server (same key, never a second debit).
        cand.state = 'offered';
        return;
      }
      if (ctx.handleAuthError(err)) return;
      const code = err instanceof ApiError ? err.code : '';
      if (code === 'insufficient_funds') {
        cand.state = 'offered';
        say({ kind: 'error', key: 'err.insufficient_funds', funds: true });
        // The balance shown may be stale (spent in another tab): the server's says when it covers the price.
        refreshWallet().catch(() => {});
      } else if (code === 'near_duplicate_sold') {
        cand.state = 'unavailable';
        say({ kind: 'error', key: 'err.near_duplicate_sold' });
      } else if (code === 'candidate_expired') {
        cand.state = 'expired';
        say({ kind: 'error', key: 'err.candidate_expired' });
      } else if (code === 'withdrawal_consent_required') {
        cand.state = 'offered';
        session.waiver = false;
        say({ kind: 'error', key: 'err.waiver_required' });
      } else if (err instanceof ApiError && err.status === 404) {
        cand.state = 'unavailable';
        say({ kind: 'error', key: 'err.candidate_not_found' });
      } else {
        cand.state = 'offered';
        say({ kind: 'error', err });
      }
      drawCandidates();
    }
  }

  cleanups.push(subscribe(() => { drawBalance(); reviewFunds(); }));
  if (state.me && typeof state.balanceCents !== 'number') refreshWallet().catch(() => {});

  return () => {
    cleanups.forEach((fn) => fn());
    closeTopup();
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
