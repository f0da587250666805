"""Server-rendered SVG charts (no JavaScript, nothing from the internet)."""
from __future__ import annotations

from html import escape

PALETTE = ("#2f6fb3", "#e07b39", "#4f9d69", "#c8483d", "#8a62b8", "#b3893b", "#3ba3a8", "#7d7d7d")
W, H, LEFT, BOTTOM, TOP = 720, 260, 48, 40, 16


def _svg(body: list[str], height: int = H, title: str = "") -> str:
    return (f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {W} {height}" '
            f'xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="sans-serif">'
            f'<title>{escape(title)}</title>' + "".join(body) + "</svg>")


def _axis(max_value: float, height: int, fmt) -> list[str]:
    parts = []
    plot = height - BOTTOM - TOP
    for i in range(5):
        value = max_value * i / 4
        y = height - BOTTOM - plot * i / 4
        parts.append(f'<line x1="{LEFT}" x2="{W - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{escape(fmt(value))}</text>')
    return parts


def stacked_bars(months: list[str], series: dict[str, list[int]], title: str) -> str:
    """One bar per month, stacked by series (e.g. the top categories and 其他)."""
    if not months:
        return _svg(['<text x="20" y="40">暂无数据</text>'], 60, title)
    totals = [sum(values[i] for values in series.values()) for i in range(len(months))]
    top = max(max(totals), 1)
    plot_h = H - BOTTOM - TOP
    slot = (W - LEFT - 8) / len(months)
    bar = min(slot * 0.7, 48)
    parts = _axis(top, H, lambda v: f"{v:.0f}")
    for i, month in enumerate(months):
        x = LEFT + slot * i + (slot - bar) / 2
        y = H - BOTTOM
        for j, (label, values) in enumerate(series.items()):
            h = plot_h * values[i] / top
            if h > 0:
                y -= h
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                             f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(month)} {escape(label)}: '
                             f'{values[i]}</title></rect>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{H - BOTTOM + 14}" text-anchor="middle">{escape(month)}</text>')
        parts.append(f'<text x="{x + bar / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" fill="#333">{totals[i]}</text>')
    legend_x = LEFT
    for j, label in enumerate(series):
        parts.append(f'<rect x="{legend_x}" y="{H - 14}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>')
        parts.append(f'<text x="{legend_x + 13}" y="{H - 5}">{escape(label)}</text>')
        legend_x += 20 + 12 * len(label)
    return _svg(parts, H, title)


def rate_lines(months: list[str], series: dict[str, list[float | None]], title: str) -> str:
    """Rates (0..1) per month as lines, one per series; gaps where a month has no value."""
    if not months:
        return _svg(['<text x="20" y="40">暂无数据</text>'], 60, title)
    plot_h = H - BOTTOM - TOP
    step = (W - LEFT - 56) / max(len(months) - 1, 1)  # room for the last month label
    parts = _axis(1.0, H, lambda v: f"{v:.0%}")
    for i, month in enumerate(months):
        parts.append(f'<text x="{LEFT + 24 + step * i:.1f}" y="{H - BOTTOM + 14}" text-anchor="middle">{escape(month)}</text>')
    for j, (label, values) in enumerate(series.items()):
        colour = PALETTE[j % len(PALETTE)]
        points = [(LEFT + 24 + step * i, H - BOTTOM - plot_h * v, v) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for x, y, v in points:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(label)}: '
                         f'{v:.1%}</title></circle>')
        parts.append(f'<rect x="{LEFT + 140 * j}" y="{H - 14}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{LEFT + 140 * j + 13}" y="{H - 5}">{escape(label)}</text>')
    return _svg(parts, H, title)
