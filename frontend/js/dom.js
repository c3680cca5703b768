// h('p', {class: 'x'}, 'text', child) — builds elements with textContent only
// (API data never goes through innerHTML).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'hidden' || key === 'disabled' || key === 'readOnly' || key === 'required' || key === 'checked') el[key] = Boolean(value);
    else if (key === 'value') el.value = value;
    // Through the CSSOM: a style attribute would be refused by the Content-Security-Policy (style-src 'self').
    else if (key === 'style') el.style.cssText = String(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** A status line read out by screen readers when it changes. */
export function liveRegion(attrs = {}) {
  return h('p', { role: 'status', 'aria-live': 'polite', ...attrs });
}

export function setMessage(el, text, kind = 'info') {
  el.textContent = text || '';
  el.dataset.kind = kind;
  el.hidden = !text;
}

/** An error box (role=alert) that can be shown/hidden. */
export function alertBox(attrs = {}) {
  return h('div', { role: 'alert', class: 'notice notice-error', hidden: true, ...attrs });
}

let idCounter = 0;
export function uid(prefix = 'ee') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}
