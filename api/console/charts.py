"""Charts drawn on the server as SVG: no script, no chart library in the page."""
from __future__ import annotations

from markupsafe import Markup, escape

PALETTE = ("#b4232a", "#1d4ed8", "#1f7a4d", "#b7791f", "#6b21a8", "#0e7490", "#52606d")


def bars(items: list[tuple[str, int]], title: str, width: int = 560, bar_height: int = 26) -> Markup:
    """Horizontal bars, one per (label, value), the value written at the end."""
    top = max((v for _, v in items), default=0) or 1
    # Room for the longest label (a CJK character is about 13 px at this size).
    label_w = min(240, max(60, 10 + 13 * max((len(label) for label, _ in items), default=4)))
    height = 30 + bar_height * max(len(items), 1)
    rows = []
    for i, (label, value) in enumerate(items):
        y = 24 + i * bar_height
        w = round((width - label_w - 70) * value / top)
        rows.append(
            f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="{bar_height - 8}" '
            f'fill="{PALETTE[i % len(PALETTE)]}"><title>{escape(label)}：{value}</title></rect>'
            f'<text x="{label_w + w + 6}" y="{y + 15}">{value}</text>')
    if not items:
        rows.append(f'<text x="{label_w}" y="40">暂无数据</text>')
    return Markup(
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<text x="0" y="14" font-weight="bold">{escape(title)}</text>{"".join(rows)}</svg>')


def grouped_columns(categories: list[str], series: list[tuple[str, list[int]]], title: str,
                    width: int = 760, height: int = 260) -> Markup:
    """Columns per category (e.g. months), one colour per series (e.g. departments)."""
    top = max((v for _, values in series for v in values), default=0) or 1
    left, bottom, plot_h = 40, 40, height - 80
    slot = (width - left - 10) / max(len(categories), 1)
    col = max(4.0, (slot - 10) / max(len(series), 1))
    parts = [(f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
             f'stroke="#9aa5b1"/>'), f'<text x="0" y="14" font-weight="bold">{escape(title)}</text>',
             f'<text x="{left - 6}" y="{height - bottom - plot_h + 4}" text-anchor="end">{top}</text>']
    for ci, category in enumerate(categories):
        x0 = left + ci * slot + 5
        parts.append(f'<text x="{x0 + slot / 2 - 5:.1f}" y="{height - bottom + 16}" '
                     f'text-anchor="middle">{escape(category)}</text>')
        for si, (name, values) in enumerate(series):
            v = values[ci]
            h = plot_h * v / top
            parts.append(f'<rect x="{x0 + si * col:.1f}" y="{height - bottom - h:.1f}" '
                         f'width="{col - 1:.1f}" height="{h:.1f}" fill="{PALETTE[si % len(PALETTE)]}">'
                         f'<title>{escape(name)} {escape(category)}：{v}</title></rect>')
    for si, (name, _) in enumerate(series):
        x = left + si * 150
        parts.append(f'<rect x="{x}" y="{height - 16}" width="12" height="12" '
                     f'fill="{PALETTE[si % len(PALETTE)]}"/><text x="{x + 16}" y="{height - 6}">'
                     f'{escape(name)}</text>')
    return Markup(
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>')
