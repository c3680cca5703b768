// The strength of a new password, while it is typed: the server's own verdict (zxcvbn, the rule
// sign-up, a change and a reset apply: effigies/accounts/passwords.py), asked 250 ms after the
// last key, so the meter never says "strong" about a password the form will then refuse.
import { post } from './api.js';
import { h } from './dom.js';
import { t } from './i18n.js';

const WAIT_MS = 250;

/**
 * meter(input, { email, name }) -> an element to put under the password field. `email` and
 * `name` (functions) give what is typed beside it at sign-up; logged in, the server uses the
 * person's own.
 */
export function passwordMeter(input, { email = () => '', name = () => '' } = {}) {
  const bar = h('meter', { min: '0', max: '4', low: '2.5', high: '3.5', optimum: '4', value: '0', 'aria-hidden': 'true' });
  const text = h('span', { 'data-testid': 'password-strength-text' });
  const box = h('p', { class: 'password-meter', hidden: true, 'aria-live': 'polite', 'data-testid': 'password-strength' }, bar, ' ', text);
  let timer = null;
  let asked = 0;

  async function ask() {
    const password = input.value;
    const mine = ++asked;
    if (!password) { box.hidden = true; return; }
    try {
      const body = { password };
      if (email()) body.email = email();
      if (name()) body.display_name = name();
      const verdict = await post('/api/auth/password-strength', body);
      if (mine !== asked) return; // typed on meanwhile
      bar.value = verdict.score;
      box.dataset.score = String(verdict.score);
      box.dataset.ok = verdict.ok ? 'true' : 'false';
      text.textContent = t('password.strength.' + verdict.score) + ' — '
        + (verdict.ok ? t('password.strength_ok') : t('err.' + verdict.code));
      box.hidden = false;
    } catch (_) {
      box.hidden = true; // the meter is a help: the form's own answer still says what is wrong
    }
  }

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(ask, WAIT_MS);
  });
  return box;
}
