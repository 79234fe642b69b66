"""Bar charts as inline SVG, drawn on the server: no script, no library, CSP-safe.

Only presentation attributes (fill, x, y...) are used: the CSP forbids style attributes.
"""

from __future__ import annotations

from html import escape

from markupsafe import Markup

from helpline.reporting.tables import Table

SERIES_FILLS = ("#0b5394", "#c75000", "#1d5e2f")
TEXT = "#1b1b1b"


def _num(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


def _label(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def column_chart(table: Table, *, height: int = 180) -> Markup:
    """Vertical bars, one per row, for ordered labels (hours, weekdays)."""
    values = [_num(r[1]) for r in table.rows]
    top = max(values, default=0) or 1
    bar, gap, pad_bottom, pad_top = 22, 6, 34, 18
    width = len(values) * (bar + gap) + gap
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'viewBox="0 0 {width} {height}" width="100%" '
             f'aria-label="{escape(table.title)} (bar chart; the table gives the figures)">',
             f"<title>{escape(table.title)}</title>"]
    plot = height - pad_bottom - pad_top
    for i, (row, value) in enumerate(zip(table.rows, values, strict=True)):
        x = gap + i * (bar + gap)
        h = plot * value / top
        y = pad_top + plot - h
        label = escape(str(row[0]))
        parts.append(f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" '
                     f'fill="{SERIES_FILLS[0]}"><title>{label}: {_label(value)}</title></rect>')
        if value:
            parts.append(f'<text x="{x + bar / 2}" y="{y - 4:.1f}" font-size="10" '
                         f'text-anchor="middle" fill="{TEXT}">{_label(value)}</text>')
        short = label[:3] if not label[:1].isdigit() else label[:2]
        parts.append(f'<text x="{x + bar / 2}" y="{height - pad_bottom + 14}" font-size="10" '
                     f'text-anchor="middle" fill="{TEXT}">{short}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_chart(table: Table) -> Markup:
    """Horizontal bars, one group per row and one bar per value column (a legend if several)."""
    series = table.columns[1:]
    rows = table.rows
    values = [[_num(v) for v in r[1:]] for r in rows]
    top = max((v for vs in values for v in vs), default=0) or 1
    label_w, plot_w, bar_h, gap = 150, 360, 16, 8
    group_h = bar_h * len(series) + gap
    legend_h = 20 if len(series) > 1 else 0
    height = max(1, len(rows)) * group_h + gap + legend_h
    width = label_w + plot_w + 70
    parts = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'viewBox="0 0 {width} {height}" width="100%" '
             f'aria-label="{escape(table.title)} (bar chart; the table gives the figures)">',
             f"<title>{escape(table.title)}</title>"]
    if len(series) > 1:
        for j, name in enumerate(series):
            x = label_w + j * 140
            parts.append(f'<rect x="{x}" y="4" width="12" height="12" '
                         f'fill="{SERIES_FILLS[j % 3]}"/>'
                         f'<text x="{x + 16}" y="14" font-size="12" fill="{TEXT}">'
                         f"{escape(name)}</text>")
    if not rows:
        parts.append(f'<text x="0" y="{14 + legend_h}" font-size="12" fill="{TEXT}">'
                     "No data in this range</text>")
    for i, (row, vs) in enumerate(zip(rows, values, strict=True)):
        y0 = legend_h + gap + i * group_h
        label = escape(str(row[0]))
        parts.append(f'<text x="{label_w - 8}" y="{y0 + bar_h * len(series) / 2 + 4:.1f}" '
                     f'font-size="12" text-anchor="end" fill="{TEXT}">{label[:24]}</text>')
        for j, value in enumerate(vs):
            w = plot_w * value / top
            y = y0 + j * bar_h
            parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                         f'fill="{SERIES_FILLS[j % 3]}"><title>{label} · {escape(series[j])}: '
                         f"{_label(value)}</title></rect>"
                         f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 5}" font-size="11" '
                         f'fill="{TEXT}">{_label(value)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def chart_for(table: Table) -> Markup:
    """The chart that suits a table: columns for hours and weekdays, bars otherwise."""
    if table.key in ("hour", "weekday"):
        return column_chart(table)
    if table.key in ("screening", "admissions_care"):
        # The last column (a rate) is a share, not a count: the bars show the counts only.
        return bar_chart(Table(table.key, table.title, table.columns[:-1],
                               [row[:-1] for row in table.rows]))
    if table.key == "admissions_center":
        # Referrals, handoffs and admissions (three series, three colours); not the rate.
        keep = (0, 1, 2, 4)
        return bar_chart(Table(table.key, table.title, [table.columns[i] for i in keep],
                               [[row[i] for i in keep] for row in table.rows]))
    return bar_chart(table)
