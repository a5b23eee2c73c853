"""Bar charts as inline SVG: no script, no external file, readable at any width."""

from __future__ import annotations

from markupsafe import Markup, escape

from gatekeeper.dashboard.activity import Series

_WIDTH = 600
_HEIGHT = 120
_GAP = 2


def bar_chart(series: Series) -> Markup:
    """One bar per day, scaled to the busiest day, each with its date and count as a tooltip."""
    count = max(len(series.counts), 1)
    peak = max(series.peak, 1)
    slot = _WIDTH / count
    bars = []
    for day, value in zip(series.days, series.counts, strict=True):
        height = 0 if value == 0 else max(2.0, (_HEIGHT - 14) * value / peak)
        x = (day - series.days[0]).days * slot
        bars.append(
            f'<rect x="{x + _GAP / 2:.1f}" y="{_HEIGHT - height:.1f}" '
            f'width="{max(slot - _GAP, 1):.1f}" height="{height:.1f}">'
            f"<title>{escape(day.isoformat())}: {value}</title></rect>"
        )
    label = f"{series.title}: {series.total} in {count} days, at most {series.peak} a day"
    # Every value above is a number or passed through `escape`.
    return Markup(  # noqa: S704
        f'<svg class="chart chart-{escape(series.key)}" viewBox="0 0 {_WIDTH} {_HEIGHT}" '
        f'preserveAspectRatio="none" role="img" aria-label="{escape(label)}">'
        + "".join(bars)
        + "</svg>"
    )
