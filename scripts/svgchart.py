"""Small dependency-free SVG charts for the benchmarks' README figures (no matplotlib in the stack)."""
from __future__ import annotations

from html import escape

COLOURS = ("#2b6cb0", "#c05621", "#2f855a", "#9b2c2c", "#6b46c1", "#4a5568")
_W, _H, _L, _R, _T, _B = 640, 300, 56, 16, 34, 46


def _frame(title: str, x_label: str, y_label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{_W}" height="{_H}" fill="white"/>',
        f'<text x="{_W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<text x="{_W / 2}" y="{_H - 8}" text-anchor="middle">{escape(x_label)}</text>',
        f'<text x="14" y="{_H / 2}" text-anchor="middle" transform="rotate(-90 14 {_H / 2})">{escape(y_label)}</text>',
        f'<line x1="{_L}" y1="{_H - _B}" x2="{_W - _R}" y2="{_H - _B}" stroke="#333"/>',
        f'<line x1="{_L}" y1="{_T}" x2="{_L}" y2="{_H - _B}" stroke="#333"/>',
    ]


def _ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    step = (hi - lo) / n
    return [lo + i * step for i in range(n + 1)]


def _legend(names: list[str]) -> list[str]:
    out = []
    for i, name in enumerate(names):
        y = _T + 6 + 15 * i
        colour = COLOURS[i % len(COLOURS)]
        if i < len(COLOURS):
            out.append(f'<rect x="{_W - _R - 190}" y="{y - 8}" width="10" height="10" fill="{colour}"/>')
        else:  # the dashed lines of line_svg
            out.append(f'<line x1="{_W - _R - 192}" y1="{y - 3}" x2="{_W - _R - 178}" y2="{y - 3}" stroke="{colour}" '
                       'stroke-width="2" stroke-dasharray="4 2"/>')
        out.append(f'<text x="{_W - _R - 175}" y="{y + 1}">{escape(name)}</text>')
    return out


def histogram_svg(series: dict[str, list[int]], *, title: str, x_label: str, marker: tuple[float, str] | None = None,
                  bin_width: int = 1, y_max: float | None = None, y_format: str = "{:.0%}") -> str:
    """Step histograms, each normalised to its own total, on one shared x axis (count i = value i).

    `bin_width` merges neighbouring values; bars above `y_max` are clipped at the top."""
    merged = {}
    for name, counts in series.items():
        merged[name] = [sum(counts[i : i + bin_width]) for i in range(0, len(counts), bin_width)]
    last = max((max((i for i, c in enumerate(counts) if c), default=0) for counts in merged.values()), default=1)
    x_max = max(8, (last + 2) * bin_width)
    fractions = {name: [c / max(1, sum(counts)) for c in counts[: x_max // bin_width + 1]] for name, counts in merged.items()}
    y_max = y_max or max((max(f, default=0) for f in fractions.values()), default=1) or 1
    pw, ph = _W - _L - _R, _H - _T - _B

    def x(v: float) -> float:
        return _L + pw * v / x_max

    def y(v: float) -> float:
        return _H - _B - ph * min(v, y_max) / y_max

    out = _frame(title, x_label, "share of pairs")
    for t in _ticks(0, x_max):
        out.append(f'<text x="{x(t):.1f}" y="{_H - _B + 14}" text-anchor="middle">{t:.0f}</text>')
    for t in _ticks(0, y_max, 4):
        out.append(f'<text x="{_L - 4}" y="{y(t) + 4:.1f}" text-anchor="end">{y_format.format(t)}</text>')
    for i, (name, fr) in enumerate(fractions.items()):
        points = []
        for b, v in enumerate(fr):
            points += [f"{x(b * bin_width):.1f},{y(v):.1f}", f"{x((b + 1) * bin_width):.1f},{y(v):.1f}"]
        colour = COLOURS[i % len(COLOURS)]
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{" ".join(points)}"/>')
    if marker is not None:
        value, label = marker
        out.append(f'<line x1="{x(value):.1f}" y1="{_T}" x2="{x(value):.1f}" y2="{_H - _B}" stroke="#000" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{x(value) + 4:.1f}" y="{_T + 10}">{escape(label)}</text>')
    out += _legend(list(series))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def line_svg(series: dict[str, list[tuple[float, float]]], *, title: str, x_label: str, y_label: str,
             y_max: float = 1.0, hline: tuple[float, str] | None = None, y_format: str = "{:.0%}",
             x_format: str = "{:,.0f}") -> str:
    """Lines through (x, y) points; y from 0 to y_max, labelled with ``y_format`` (percentages by default).
    Past six series the colours repeat with dashed lines."""
    x_max = max((p[0] for pts in series.values() for p in pts), default=1) or 1
    pw, ph = _W - _L - _R, _H - _T - _B

    def x(v: float) -> float:
        return _L + pw * v / x_max

    def y(v: float) -> float:
        return _H - _B - ph * min(v, y_max) / y_max

    out = _frame(title, x_label, y_label)
    for t in _ticks(0, x_max, 5):
        out.append(f'<text x="{x(t):.1f}" y="{_H - _B + 14}" text-anchor="middle">{x_format.format(t)}</text>')
    for t in _ticks(0, y_max, 4):
        out.append(f'<text x="{_L - 4}" y="{y(t) + 4:.1f}" text-anchor="end">{y_format.format(t)}</text>')
    if hline is not None:
        value, label = hline
        out.append(f'<line x1="{_L}" y1="{y(value):.1f}" x2="{_W - _R}" y2="{y(value):.1f}" stroke="#000" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{_L + 4}" y="{y(value) - 4:.1f}">{escape(label)}</text>')
    for i, (name, pts) in enumerate(series.items()):
        path = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in pts)
        dash = ' stroke-dasharray="6 3"' if i >= len(COLOURS) else ""
        out.append(f'<polyline fill="none" stroke="{COLOURS[i % len(COLOURS)]}" stroke-width="1.8"{dash} points="{path}"/>')
    out += _legend(list(series))
    out.append("</svg>")
    return "\n".join(out) + "\n"
