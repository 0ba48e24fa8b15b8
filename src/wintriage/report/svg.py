"""Server-side charts as inline SVG (no JavaScript, no CDN). Every label is escaped."""

from __future__ import annotations

from html import escape

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]


def bar_chart(
    bins: list[tuple[str, dict[str, int]]],
    series: list[str],
    *,
    width: int = 960,
    height: int = 260,
    markers: list[tuple[int, str, str]] | None = None,
    title: str = "",
    shade: tuple[int, int] | None = None,
) -> str:
    """Stacked bars. ``bins`` = [(label, {series: count})]; ``markers`` = [(bin index, label, colour)];
    ``shade`` = (first bin, last bin) highlighted (e.g. the encryption burst)."""
    n = max(len(bins), 1)
    left, right, top, bottom = 48, 12, 24, 42
    pw, ph = width - left - right, height - top - bottom
    peak: float = max((sum(v.values()) for _, v in bins), default=1) or 1
    bw = pw / n
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
           f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="10">']
    if title:
        out.append(f'<text x="{left}" y="14" font-size="12" font-weight="bold">{escape(title)}</text>')
    if shade:
        x0 = left + shade[0] * bw
        out.append(f'<rect x="{x0:.1f}" y="{top}" width="{max((shade[1] - shade[0] + 1) * bw, 2):.1f}" height="{ph}" '
                   'fill="#e15759" opacity="0.15"><title>encryption burst</title></rect>')
    for i, (label, vals) in enumerate(bins):
        y: float = top + ph
        for s_i, s in enumerate(series):
            v = vals.get(s, 0)
            if not v:
                continue
            h = ph * v / peak
            y -= h
            out.append(f'<rect x="{left + i * bw:.1f}" y="{y:.1f}" width="{max(bw - 1, 0.8):.1f}" height="{h:.1f}" '
                       f'fill="{PALETTE[s_i % len(PALETTE)]}"><title>{escape(label)} {escape(s)}: {v}</title></rect>')
    for frac in (0, 0.5, 1):
        y = top + ph - ph * frac
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ccc" stroke-width="0.5"/>')
        out.append(f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end">{int(peak * frac)}</text>')
    step = max(1, n // 8)
    for i in range(0, n, step):
        out.append(f'<text x="{left + i * bw:.1f}" y="{top + ph + 14}" >{escape(bins[i][0])}</text>')
    for idx, label, colour in markers or []:
        x = left + (idx + 0.5) * bw
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + ph}" stroke="{colour}" stroke-width="1.5" '
                   f'stroke-dasharray="4 2"><title>{escape(label)}</title></line>')
        out.append(f'<text x="{x + 2:.1f}" y="{top + 10}" fill="{colour}">{escape(label[:40])}</text>')
    lx = left
    for s_i, s in enumerate(series):
        out.append(f'<rect x="{lx}" y="{height - 14}" width="8" height="8" fill="{PALETTE[s_i % len(PALETTE)]}"/>')
        out.append(f'<text x="{lx + 11}" y="{height - 6}">{escape(s)}</text>')
        lx += 14 + 7 * len(s)
    out.append("</svg>")
    return "".join(out)


def hbar_chart(items: list[tuple[str, int]], *, width: int = 480, title: str = "") -> str:
    rows = len(items)
    height = 24 + rows * 18
    peak: float = max((v for _, v in items), default=1) or 1
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
           f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">']
    if title:
        out.append(f'<text x="4" y="14" font-size="12" font-weight="bold">{escape(title)}</text>')
    for i, (label, v) in enumerate(items):
        y = 22 + i * 18
        w = (width - 200) * v / peak
        out.append(f'<text x="110" y="{y + 11}" text-anchor="end">{escape(label)}</text>')
        out.append(f'<rect x="114" y="{y}" width="{max(w, 1):.1f}" height="13" fill="{PALETTE[i % len(PALETTE)]}"/>')
        out.append(f'<text x="{118 + w:.1f}" y="{y + 11}">{v}</text>')
    out.append("</svg>")
    return "".join(out)
