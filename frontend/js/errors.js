// A friendly, translated sentence for each API error code.
import { t, hasKey } from './i18n.js';

const ALIASES = {
  csrf_missing: 'csrf_failed',
  csrf_invalid: 'csrf_failed',
  csrf_token_invalid: 'csrf_failed',
  invalid_csrf_token: 'csrf_failed',
  unauthenticated: 'not_authenticated',
  too_many_requests: 'rate_limited',
  invalid_request: 'validation_error',
  bad_request: 'validation_error',
  server_error: 'server',
  internal_error: 'server',
  unavailable: 'unavailable',
  service_unavailable: 'unavailable',
  database_unavailable: 'unavailable',
  queue_unavailable: 'unavailable',
  unhealthy: 'unavailable',
};

/** For a 422 invalid_request: the first field the server complained about ("email", "password"…). */
export function invalidField(err) {
  const details = err && Array.isArray(err.details) ? err.details : [];
  for (const d of details) {
    if (d && typeof d.field === 'string' && d.field) return d.field;
    if (d && Array.isArray(d.loc)) return d.loc.filter((p) => p !== 'body').join('.');
  }
  return '';
}

export function errorText(err, overrides = {}) {
  if (!err) return t('err.server');
  let code = err.code || '';
  if (code in overrides) return overrides[code];
  code = ALIASES[code] || code;
  if (code === 'rate_limited' && err.retryAfter > 0) return t('err.rate_limited_wait', { seconds: err.retryAfter });
  if (hasKey('err.' + code)) return t('err.' + code);
  if (err.status >= 500) return t('err.server');
  if (err.status === 404) return t('err.not_found');
  return err.message ? t('err.unknown', { message: err.message }) : t('err.server');
}
