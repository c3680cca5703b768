// Loads stripe.js (js.stripe.com in production, localstripe's shim locally) once,
// from the URL the API gives in /api/config, with a dynamic <script> tag.
import { state } from './store.js';

let loading = null;
let instance = null;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.async = true;
    script.onload = () => resolve();
    script.onerror = () => reject(new Error('stripe.js failed to load'));
    document.head.append(script);
  });
}

/** Resolves to the Stripe instance (one per page, as Stripe recommends). */
export function getStripe() {
  if (instance) return Promise.resolve(instance);
  if (!loading) {
    const cfg = state.config || {};
    if (!cfg.stripe_js_url || !cfg.stripe_publishable_key) {
      return Promise.reject(new Error('stripe is not configured'));
    }
    loading = (typeof window.Stripe === 'function' ? Promise.resolve() : loadScript(cfg.stripe_js_url))
      .then(() => {
        if (typeof window.Stripe !== 'function') throw new Error('Stripe global missing');
        // Called without `new`: works with stripe.js and with localstripe's arrow-function shim.
        instance = window.Stripe(cfg.stripe_publishable_key);
        return instance;
      })
      .catch((err) => { loading = null; throw err; });
  }
  return loading;
}
