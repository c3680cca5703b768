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

/** Round tick values from 0 up to at least `max` (1, 2 or 5 times a power of ten apart), `count` or so of them. */
export function niceTicks(max, count = 4) {
  if (!(max > 0)) return [0];
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((v) => v >= raw) || raw;
  const steps = Math.ceil(max / step - 1e-9); // the last tick is at or above max
  return Array.from({ length: steps + 1 }, (_, i) => Number((i * step).toPrecision(12)));
}

/**
 * losses: [[images, loss_d, loss_g], ...]. total: the x axis's end (a live run's length, so the
 * curves grow towards the right); defaults to the last point. Both axes are named (images seen,
 * loss) and carry a few round tick values.
 */
export function lossChart(losses, { total = 0, testid = 'loss-chart', emptyText = t('learn.no_losses') } = {}) {
  if (!losses.length) return h('p', { class: 'hint', text: emptyText });
  const W = 640, H = 280, LEFT = 64, RIGHT = 24, TOP = 16, BOTTOM = 56;
  const last = losses[losses.length - 1];
  const maxX = Math.max(total || 0, last[0]) || 1;
  const yTicks = niceTicks(Math.max(...losses.map(([, d, g]) => Math.max(d, g))) * 1.05 || 1);
  const maxY = Math.max(yTicks[yTicks.length - 1], 1e-9);
  const xTicks = niceTicks(maxX, 4).filter((v) => v <= maxX);
  const x = (v) => LEFT + (W - LEFT - RIGHT) * v / maxX;
  const y = (v) => H - BOTTOM - (H - TOP - BOTTOM) * v / maxY;
  const line = (k) => losses.map((p, i) => (i ? 'L' : 'M') + x(p[0]).toFixed(1) + ' ' + y(p[k]).toFixed(1)).join(' ');
  const decimals = maxY < 2 ? 2 : maxY < 20 ? 1 : 0;
  const chart = svg('svg', {
    viewBox: `0 0 ${W} ${H}`, role: 'img', class: 'loss-chart', 'data-testid': testid,
    'aria-label': t('learn.chart_label', { d: last[1].toFixed(2), g: last[2].toFixed(2), images: number(last[0]) }),
  });
  yTicks.forEach((v) => {
    chart.append(
      svg('line', { x1: LEFT, y1: y(v).toFixed(1), x2: W - RIGHT, y2: y(v).toFixed(1), class: 'grid' }),
      svg('text', { x: LEFT - 8, y: (y(v) + 4).toFixed(1), 'text-anchor': 'end', class: 'tick tick-y' }, number(Number(v.toFixed(decimals)))));
  });
  xTicks.forEach((v, i) => {
    const anchor = i === 0 ? 'start' : x(v) > W - RIGHT - 30 ? 'end' : 'middle';
    chart.append(
      svg('line', { x1: x(v).toFixed(1), y1: H - BOTTOM, x2: x(v).toFixed(1), y2: H - BOTTOM + 5, class: 'axis' }),
      svg('text', { x: x(v).toFixed(1), y: H - BOTTOM + 20, 'text-anchor': anchor, class: 'tick tick-x' }, number(v)));
  });
  chart.append(
    svg('line', { x1: LEFT, y1: H - BOTTOM, x2: W - RIGHT, y2: H - BOTTOM, class: 'axis' }),
    svg('line', { x1: LEFT, y1: TOP, x2: LEFT, y2: H - BOTTOM, class: 'axis' }),
    svg('text', { x: LEFT + (W - LEFT - RIGHT) / 2, y: H - 10, 'text-anchor': 'middle', class: 'axis-title', 'data-axis': 'x' }, t('learn.axis_x')),
    svg('text', {
      x: 16, y: TOP + (H - TOP - BOTTOM) / 2, 'text-anchor': 'middle', class: 'axis-title', 'data-axis': 'y',
      transform: `rotate(-90 16 ${TOP + (H - TOP - BOTTOM) / 2})`,
    }, t('learn.axis_y')),
    svg('path', { d: line(1), class: 'loss-d' }),
    svg('path', { d: line(2), class: 'loss-g' }),
    svg('text', { x: W - RIGHT, y: TOP + 14, 'text-anchor': 'end', class: 'legend legend-d' }, t('learn.legend_d')),
    svg('text', { x: W - RIGHT, y: TOP + 32, 'text-anchor': 'end', class: 'legend legend-g' }, t('learn.legend_g')),
    // The latest values as dots: a single point draws no line.
    svg('circle', { cx: x(last[0]).toFixed(1), cy: y(last[1]).toFixed(1), r: 3, class: 'legend-d' }),
    svg('circle', { cx: x(last[0]).toFixed(1), cy: y(last[2]).toFixed(1), r: 3, class: 'legend-g' }));
  return chart;
}

/**
 * One bar per point (points: [{ label, value }], e.g. one per day), for the admin stats page.
 * The SVG sums itself up in its aria-label (`label`); each bar has a tooltip. The caller shows
 * the figures as a table too: that is the text alternative with every value.
 */
export function barChart(points, { label = '', testid = 'bar-chart', valueText = number, tone = 'brand' } = {}) {
  const W = 640, H = 220, LEFT = 84, RIGHT = 12, TOP = 18, BOTTOM = 34;
  const max = Math.max(0, ...points.map((p) => p.value));
  const top = max || 1;
  const step = (W - LEFT - RIGHT) / Math.max(points.length, 1);
  const width = Math.max(1, step * (points.length > 60 ? 1 : 0.75));
  const y = (v) => H - BOTTOM - (H - TOP - BOTTOM) * v / top;
  const chart = svg('svg', {
    viewBox: `0 0 ${W} ${H}`, role: 'img', class: `bar-chart bar-${tone}`, 'data-testid': testid, 'aria-label': label,
  });
  chart.append(
    svg('line', { x1: LEFT, y1: H - BOTTOM, x2: W - RIGHT, y2: H - BOTTOM, class: 'axis' }),
    svg('line', { x1: LEFT, y1: TOP, x2: LEFT, y2: H - BOTTOM, class: 'axis' }),
    svg('text', { x: LEFT - 6, y: H - BOTTOM + 5, 'text-anchor': 'end', class: 'tick' }, valueText(0)));
  if (max > 0) chart.append(svg('text', { x: LEFT - 6, y: TOP + 5, 'text-anchor': 'end', class: 'tick' }, valueText(max)));
  if (points.length) {
    chart.append(
      svg('text', { x: LEFT, y: H - 8, class: 'tick' }, points[0].label),
      svg('text', { x: W - RIGHT, y: H - 8, 'text-anchor': 'end', class: 'tick' }, points[points.length - 1].label));
  }
  points.forEach((p, i) => {
    const x = LEFT + i * step + (step - width) / 2;
    const bar = svg('rect', {
      x: x.toFixed(1), y: y(p.value).toFixed(1), width: width.toFixed(1),
      height: (H - BOTTOM - y(p.value)).toFixed(1), class: 'bar', 'data-value': String(p.value),
    });
    bar.append(svg('title', {}, `${p.label}: ${valueText(p.value)}`));
    chart.append(bar);
  });
  return chart;
}
