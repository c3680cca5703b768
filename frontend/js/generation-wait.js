// Waits for a generation to finish: the server's event stream while it works, polling when not
// (no EventSource, a proxy that cuts the stream, the server giving up after a minute, Redis down).
import { get } from './api.js';
import { sleep } from './topup.js';

const FINAL = new Set(['done', 'failed']);
// Polling is only the fallback: start quick, since the job may be about to finish, then back off.
const POLL_FIRST_MS = 300;
const POLL_MAX_MS = 2000;

/**
 * Resolves with the job's final body (status done | failed), or null once `limitMs` has passed.
 * onUpdate(job) hears each state that is not final yet. Throws ApiError / AbortError like get().
 */
export async function waitForGeneration(jobId, { signal, onUpdate = () => {}, limitMs }) {
  const url = `/api/generations/${encodeURIComponent(jobId)}`;
  const deadline = Date.now() + limitMs;
  if (typeof EventSource === 'function') {
    const job = await streamUntilFinal(url + '/events', { signal, onUpdate, deadline });
    if (job) return job;
  }
  return pollUntilFinal(url, { signal, onUpdate, deadline });
}

// Resolves with the final job, or null whenever polling should take over.
function streamUntilFinal(url, { signal, onUpdate, deadline }) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) { reject(new DOMException('aborted', 'AbortError')); return; }
    const source = new EventSource(url);
    const onAbort = () => finish(null, new DOMException('aborted', 'AbortError'));
    const timer = setTimeout(() => finish(null), Math.max(0, deadline - Date.now()));
    function finish(job, error) {
      clearTimeout(timer);
      // Closed by hand: EventSource would otherwise reconnect on its own, forever.
      source.close();
      if (signal) signal.removeEventListener('abort', onAbort);
      if (error) reject(error); else resolve(job);
    }
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
    source.addEventListener('status', (event) => {
      let job;
      try { job = JSON.parse(event.data); } catch (_) { return; }
      if (FINAL.has(job.status)) finish(job);
      else onUpdate(job);
    });
    // Also a 401/404, which EventSource cannot tell apart: the first poll reports it properly.
    source.onerror = () => finish(null);
  });
}

async function pollUntilFinal(url, { signal, onUpdate, deadline }) {
  let delay = POLL_FIRST_MS;
  for (;;) {
    const job = await get(url, { signal });
    if (FINAL.has(job.status)) return job;
    onUpdate(job);
    if (Date.now() > deadline) return null;
    await sleep(delay, signal);
    delay = Math.min(POLL_MAX_MS, delay * 2);
  }
}
