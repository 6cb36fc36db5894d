"""Server-side SVG bar charts: no JavaScript library, nothing loaded from the internet."""

BAR_HEIGHT = 18
LABEL_WIDTH = 170
CHART_WIDTH = 640


def bar_chart(items, limit=20):
    """[(label, value)] -> geometry for templates/partials/bar_chart.html."""
    items = list(items)[:limit]
    top = max((v for _, v in items), default=0) or 1
    span = CHART_WIDTH - LABEL_WIDTH - 80
    bars = [
        {
            "label": label,
            "value": value,
            "y": i * (BAR_HEIGHT + 4),
            "width": max(1, int(span * value / top)),
            "text_y": i * (BAR_HEIGHT + 4) + 13,
            "value_x": LABEL_WIDTH + max(1, int(span * value / top)) + 4,
        }
        for i, (label, value) in enumerate(items)
    ]
    return {
        "bars": bars,
        "height": len(bars) * (BAR_HEIGHT + 4) + 4,
        "width": CHART_WIDTH,
        "label_width": LABEL_WIDTH,
        "bar_height": BAR_HEIGHT,
    }
