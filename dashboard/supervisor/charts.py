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


# Sizes in the SVG's own units, which are drawn as CSS pixels: a chart is never stretched
# (a seven-bar chart at full width had letters 4 times too big) and shrinks only where the
# page is narrower than it, down to the stylesheet's min-width, below which its box scrolls.
AXIS_FONT, VALUE_FONT, LABEL_FONT = 14, 13, 13
CHAR_WIDTH = 0.6  # of the font size: a fair average for the sans-serif faces used
LABEL_MAX_CHARS, LABEL_LINES = 34, 2


def column_chart(table: Table, *, height: int = 240) -> Markup:
    """Vertical bars, one per row, for ordered labels (hours, weekdays)."""
    values = [_num(r[1]) for r in table.rows]
    top = max(values, default=0) or 1
    bar = 30 if len(values) > 12 else 56
    gap, pad_bottom, pad_top = 8, 30, 22
    width = len(values) * (bar + gap) + gap
    parts = [f'<svg class="chart chart-columns" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'aria-label="{escape(table.title)} (bar chart; the table gives the figures)">',
             f"<title>{escape(table.title)}</title>"]
    plot = height - pad_bottom - pad_top
    parts.append(f'<line x1="0" y1="{pad_top + plot}" x2="{width}" y2="{pad_top + plot}" '
                 f'stroke="#767676" stroke-width="1"/>')
    for i, (row, value) in enumerate(zip(table.rows, values, strict=True)):
        x = gap + i * (bar + gap)
        h = plot * value / top
        y = pad_top + plot - h
        label = escape(str(row[0]))
        parts.append(f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" '
                     f'fill="{SERIES_FILLS[0]}"><title>{label}: {_label(value)}</title></rect>')
        if value:
            parts.append(f'<text x="{x + bar / 2}" y="{y - 5:.1f}" font-size="{VALUE_FONT}" '
                         f'text-anchor="middle" fill="{TEXT}">{_label(value)}</text>')
        short = label[:3] if not label[:1].isdigit() else label[:2]
        parts.append(f'<text x="{x + bar / 2}" y="{height - pad_bottom + AXIS_FONT + 4}" '
                     f'font-size="{AXIS_FONT}" text-anchor="middle" fill="{TEXT}">{short}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _wrapped(text: str) -> list[str]:
    """A row's name in at most LABEL_LINES lines of LABEL_MAX_CHARS, cut with an ellipsis.

    The whole name is in the bar's tooltip and in the table; the chart never clips it.
    """
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if len(candidate) <= LABEL_MAX_CHARS:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word
    lines.append(current)
    lines = [line if len(line) <= LABEL_MAX_CHARS else line[:LABEL_MAX_CHARS - 1] + "…"
             for line in lines]
    if len(lines) > LABEL_LINES:
        last = lines[LABEL_LINES - 1]
        lines = [*lines[:LABEL_LINES - 1], last[:LABEL_MAX_CHARS - 1].rstrip() + "…"]
    return lines or [""]


def bar_chart(table: Table, *, width: int = 500) -> Markup:
    """Horizontal bars, one group per row and one bar per value column (a legend if several),
    about ``width`` pixels wide (half the report's width unless it gives the chart a row).

    The names column is as wide as the longest name needs (long names wrap onto a second
    line), so no name is cut off at the chart's edge; the bars take the rest.
    """
    series = table.columns[1:]
    rows = table.rows
    values = [[_num(v) for v in r[1:]] for r in rows]
    top = max((v for vs in values for v in vs), default=0) or 1
    labels = [_wrapped(str(r[0])) for r in rows]
    longest = max((len(line) for lines in labels for line in lines), default=8)
    label_w = int(max(8, longest) * LABEL_FONT * CHAR_WIDTH) + 16
    bar_h, gap, line_h = 18, 10, LABEL_FONT + 3
    plot_w = max(160, width - label_w - 60)
    legend_h = 24 if len(series) > 1 else 0
    heights = [max(bar_h * len(series), line_h * len(lines)) + gap for lines in labels]
    height = sum(heights) + gap + legend_h if rows else 24 + legend_h
    width = label_w + plot_w + 60
    parts = [f'<svg class="chart chart-bars" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'aria-label="{escape(table.title)} (bar chart; the table gives the figures)">',
             f"<title>{escape(table.title)}</title>"]
    if len(series) > 1:
        x = label_w
        for j, name in enumerate(series):
            parts.append(f'<rect x="{x}" y="5" width="13" height="13" '
                         f'fill="{SERIES_FILLS[j % 3]}"/>'
                         f'<text x="{x + 18}" y="16" font-size="{LABEL_FONT}" fill="{TEXT}">'
                         f"{escape(name)}</text>")
            x += 18 + int(len(name) * LABEL_FONT * CHAR_WIDTH) + 22
    if not rows:
        parts.append(f'<text x="0" y="{16 + legend_h}" font-size="{LABEL_FONT}" fill="{TEXT}">'
                     "No data in this range</text>")
    y0 = legend_h + gap
    for row, vs, lines, group_h in zip(rows, values, labels, heights, strict=True):
        name = escape(str(row[0]))
        middle = y0 + (group_h - gap) / 2
        first = middle - line_h * (len(lines) - 1) / 2 + LABEL_FONT / 3
        spans = "".join(f'<tspan x="{label_w - 8}" y="{first + k * line_h:.1f}">'
                        f"{escape(line)}</tspan>" for k, line in enumerate(lines))
        parts.append(f'<text font-size="{LABEL_FONT}" text-anchor="end" fill="{TEXT}">'
                     f"<title>{name}</title>{spans}</text>")
        bars_top = middle - bar_h * len(vs) / 2
        for j, value in enumerate(vs):
            w = plot_w * value / top
            y = bars_top + j * bar_h
            parts.append(f'<rect x="{label_w}" y="{y:.1f}" width="{w:.1f}" height="{bar_h - 2}" '
                         f'fill="{SERIES_FILLS[j % 3]}"><title>{name} · {escape(series[j])}: '
                         f"{_label(value)}</title></rect>"
                         f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 5:.1f}" '
                         f'font-size="{VALUE_FONT}" fill="{TEXT}">{_label(value)}</text>')
        y0 += group_h
    parts.append("</svg>")
    return Markup("".join(parts))


WIDE_TABLES = frozenset({"hour", "admissions_center", "counselor_offers"})
WIDE_WIDTH = 1000


def is_wide(table: Table) -> bool:
    """Whether a table's chart and figures take the report's full width (many columns or rows
    of long names): the page gives it a whole row."""
    return table.key in WIDE_TABLES


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
                               [[row[i] for i in keep] for row in table.rows]),
                         width=WIDE_WIDTH)
    if table.key == "counselor_offers":
        # Accepted, declined and missed per counselor: counts, not the share or the seconds.
        keep = (0, 2, 3, 4)
        return bar_chart(Table(table.key, table.title, [table.columns[i] for i in keep],
                               [[row[i] for i in keep] for row in table.rows]),
                         width=WIDE_WIDTH)
    return bar_chart(table)
