// The discriminator's and generator's losses as an inline SVG with a text alternative; shared by
// "how it learns" (a finished run) and the admin training view (a run as it trains).
import { h } from './dom.js';
import { t, number } from './i18n.js';

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  Object.entries(attrs).forEach(([k, v]) => el.setAttribute(k, v));
  if (text) el.textContent = text;
  return el;
}

/**
 * losses: [[images, loss_d, loss_g], ...]. total: the x axis's end (a live run's length, so the
 * curves grow towards the right); defaults to the last point.
 */
export function lossChart(losses, { total = 0, testid = 'loss-chart', emptyText = t('learn.no_losses') } = {}) {
  if (!losses.length) return h('p', { class: 'hint', text: emptyText });
  const W = 640, H = 240, PAD = 36;
  const last = losses[losses.length - 1];
  const maxX = Math.max(total || 0, last[0]) || 1;
  const maxY = Math.max(...losses.map(([, d, g]) => Math.max(d, g))) * 1.1 || 1;
  const x = (v) => PAD + (W - 2 * PAD) * v / maxX;
  const y = (v) => H - PAD - (H - 2 * PAD) * v / maxY;
  const line = (k) => losses.map((p, i) => (i ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(p[k]).toFixed(1)).join(' ');
  const chart = svg('svg', {
    viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'loss-chart', 'data-testid': testid,
    'aria-label': t('learn.chart_label', { d: last[1].toFixed(2), g: last[2].toFixed(2), images: number(last[0]) }),
  });
  chart.append(
    svg('line', { x1: PAD, y1: H - PAD, x2: W - PAD, y2: H - PAD, class: 'axis' }),
    svg('line', { x1: PAD, y1: PAD, x2: PAD, y2: H - PAD, class: 'axis' }),
    svg('text', { x: W - PAD, y: H - 8, 'text-anchor': 'end', class: 'tick' }, t('learn.axis_images', { images: number(maxX) })),
    svg('text', { x: 4, y: PAD - 10, class: 'tick' }, maxY.toFixed(1)),
    svg('path', { d: line(1), class: 'loss-d' }),
    svg('path', { d: line(2), class: 'loss-g' }),
    svg('text', { x: W - PAD, y: PAD, 'text-anchor': 'end', class: 'legend legend-d' }, t('learn.legend_d')),
    svg('text', { x: W - PAD, y: PAD + 18, 'text-anchor': 'end', class: 'legend legend-g' }, t('learn.legend_g')),
    // The latest values as dots: a single point draws no line.
    svg('circle', { cx: x(last[0]).toFixed(1), cy: y(last[1]).toFixed(1), r: 3, class: 'legend-d' }),
    svg('circle', { cx: x(last[0]).toFixed(1), cy: y(last[2]).toFixed(1), r: 3, class: 'legend-g' }));
  return chart;
}
