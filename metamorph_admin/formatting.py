"""How every page writes numbers, sizes, times and backtick-quoted commands: one format each.

The template filters of metamorph_admin.templatetags.ui, usable from Python too (job summaries).

    {{ n|num }}         95,957            (thousands separators; None -> "—")
    {{ n|size }}        83.1 MB           (decimal units, as the engines' messages write them)
    {{ t|when }}        <time title="… UTC">2026-11-26 14:03:12 CET</time>  (operator's zone)
    {{ text|code }}     `python manage.py x` -> <code>python manage.py x</code>, text escaped
    {{ value|plain }}   a result value in words: True -> yes, None -> —, lists joined
    {{ d|pairs }}       a dict's (key, value) pairs, whatever its keys are called
"""

import re
from datetime import UTC, date, datetime

from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

from metamorph.units import human_size

DASH = "—"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def num(value, digits=None):
    """95957 -> '95,957'; 1234.5 -> '1,234.5'; anything not a number is returned as it is."""
    if value is None or value == "":
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        try:
            value = float(value) if "." in value else int(value)
        except ValueError:
            return value
    if isinstance(value, float):
        if digits is not None:
            return f"{value:,.{int(digits)}f}"
        return (
            f"{value:,.0f}"
            if value.is_integer()
            else f"{value:,.3g}"
            if abs(value) < 1
            else f"{value:,.1f}"
        )
    if isinstance(value, int):
        return f"{value:,}"
    return value


def size(value):
    """Bytes in the one unit family every page and message uses: 1.4 GB, 83.1 MB, 12.0 kB."""
    if value is None or value == "":
        return DASH
    try:
        return human_size(value)
    except (TypeError, ValueError):
        return value


def as_datetime(value):
    """A datetime from a datetime, a date or an ISO 8601 string (as the engines store them)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


def when(value):
    """A <time> in the operator's time zone (TIME_ZONE) with the UTC time on hover."""
    moment = as_datetime(value)
    if moment is None:
        return value if value else DASH
    local = timezone.localtime(moment)
    utc = moment.astimezone(UTC)
    return format_html(
        '<time datetime="{}" title="{} UTC">{} {}</time>',
        utc.isoformat(timespec="seconds"),
        utc.strftime(DATE_FORMAT),
        local.strftime(DATE_FORMAT),
        local.tzname() or "",
    )


BACKTICKS = re.compile(r"`([^`]+)`")


def code(value, autoescape=True):
    """Text with `backtick` spans rendered as <code>, everything else escaped."""
    if value is None:
        return ""
    text = conditional_escape(str(value)) if autoescape else str(value)
    return mark_safe(BACKTICKS.sub(r"<code>\1</code>", text))


def plain(value):
    """A result value as an operator reads it, never a Python or JSON literal."""
    if value is None or value == "":
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return num(value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {plain(v)}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value) or "none"
    return str(value)


def shorten(text, limit=160):
    """`text` cut to at most `limit` characters at a word boundary, with "…" when cut."""
    text = " ".join(str(text or "").split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:(") + "…"


def pairs(mapping):
    """A dict's (key, value) pairs for a template loop: `mapping.items` in a template reads a
    key named "items" first (an audit parameter may be called that), so pages loop over this."""
    if not isinstance(mapping, dict):
        return []
    return list(mapping.items())


def get_item(mapping, key):
    return (mapping or {}).get(key)
