"""One number, size, time and code format for every page."""

from datetime import UTC, datetime

import pytest

from metamorph_admin import formatting as f


@pytest.mark.parametrize(
    "value, shown",
    [
        (95957, "95,957"),
        (0, "0"),
        (None, "—"),
        ("1200", "1,200"),
        (1234.5, "1,234.5"),
        (True, "yes"),
        ("abc", "abc"),
    ],
)
def test_numbers_get_thousands_separators(value, shown):
    assert f.num(value) == shown


@pytest.mark.parametrize(
    "value, shown",
    [
        (83_100_000, "83.1 MB"),
        (1_060_000_000, "1.1 GB"),
        (12_000, "12.0 kB"),
        (999, "999 bytes"),
        (None, "—"),
    ],
)
def test_sizes_use_one_decimal_unit_family(value, shown):
    assert f.size(value) == shown


def test_times_show_the_operators_zone_and_utc_on_hover(settings):
    settings.TIME_ZONE = "America/New_York"
    html = f.when(datetime(2026, 7, 1, 12, 0, tzinfo=UTC))
    assert html == (
        '<time datetime="2026-07-01T12:00:00+00:00" title="2026-07-01 12:00:00 UTC">'
        "2026-07-01 08:00:00 EDT</time>"
    )
    assert f.when("2026-07-01T12:00:00.123Z").startswith('<time datetime="2026-07-01T12:00:00')
    assert f.when("not a date") == "not a date" and f.when(None) == "—"


def test_backticks_become_code_and_the_rest_is_escaped():
    assert f.code("Run `manage.py x --y` <now>") == ("Run <code>manage.py x --y</code> &lt;now&gt;")


def test_result_values_are_never_python_literals():
    assert f.plain(True) == "yes" and f.plain(None) == "—" and f.plain(False) == "no"
    assert f.plain(["a", 1200]) == "a, 1,200" and f.plain({"x": None}) == "x: —"


def test_shorten_cuts_at_a_word_boundary_never_mid_word():
    from metamorph_admin.formatting import shorten

    text = "No verified backup of /data/metamorph.db in /data/backups. Take one on the Backups page"
    short = shorten(text, 40)
    assert len(short) <= 40 and short.endswith("…")
    assert text.startswith(short[:-1]) and text[len(short) - 1] == " "
    assert shorten("short", 40) == "short"
