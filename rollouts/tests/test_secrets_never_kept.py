"""A server that echoes the pasted token (header, body, id, error message): the token and
every JWT-shaped string stay out of every table, log line, page and report format."""

import logging

import pytest
from django.db import connection

from metamorph.testing.fake_server import FakeMetamorph
from rollouts import scrub
from rollouts.models import Item
from rollouts.tests.helpers import make_rollout, two_fullest_vaults

TOKEN_A = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ2YXVsdC1hIn0.QUFBQUFBQUFBQUFBQUFB"
TOKEN_B = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ2YXVsdC1iIn0.QkJCQkJCQkJCQkJCQkJC"
SERVER_JWT = "eyJhbGciOiJub25lIn0.eyJzaWQiOiJzZXJ2ZXIifQ.c2VydmVyLXNpZ25lZA"
SECRETS = (TOKEN_A, TOKEN_B, SERVER_JWT, "QUFBQUFBQUFBQUFBQUFB", "QkJCQkJCQkJCQkJCQkJC")


def _every_table():
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            yield table, repr(cursor.fetchall())


def _assert_clean(where, text):
    for secret in SECRETS:
        assert secret not in text, f"{where} holds {secret[:24]}…"


@pytest.mark.parametrize("mode", ["echo", "echo-error"])
def test_an_echoing_server_leaves_no_token_in_tables_logs_pages_or_reports(
    client, dbs, people, settings, metamorph_db, caplog, mode
):
    caplog.set_level(logging.DEBUG)
    staging = metamorph_db("migrated")
    settings.METAMORPH_DATABASES = [("staging", staging), ("production", dbs["production"])]
    a, b = two_fullest_vaults(staging)
    with FakeMetamorph(staging, mode=mode, tokens={TOKEN_A: a, TOKEN_B: b}) as server:
        rollout = make_rollout(staging_url=server.url)
        client.force_login(people["ada"])
        shown = client.post(
            f"/rollouts/{rollout.pk}/items/p2-tokens/check/",
            {"token_a": TOKEN_A, "token_b": TOKEN_B},
            follow=True,
        ).content.decode()
        assert server.seen_headers, "the check never reached the server"
    checked = Item.objects.get(rollout=rollout, key="p2-tokens")
    assert checked.status == "fail" and scrub.REDACTED in (
        checked.summary + repr(checked.evidence)
    ), checked.summary
    _assert_clean("the result page", shown)
    for table, rows in _every_table():
        _assert_clean(f"table {table}", rows)
    _assert_clean("the log", "\n".join(r.getMessage() for r in caplog.records))
    _assert_clean("the rollout page", client.get(f"/rollouts/{rollout.pk}/").content.decode())
    _assert_clean("the audit page", client.get("/audit/").content.decode())
    _assert_clean("the audit export", b"".join(client.get("/audit/export.csv")).decode())
    for fmt in ("md", "html", "json"):
        report = client.get(f"/rollouts/{rollout.pk}/report.{fmt}").content.decode()
        assert "p2-tokens" in report or "tokens" in report
        _assert_clean(f"the {fmt} report", report)


def test_scrubbing_removes_tokens_in_their_url_forms_and_bearer_credentials():
    text = (
        f"id {TOKEN_A}, quoted tok%2Bsecret%2F1, Authorization: Bearer abc.def, {SERVER_JWT} "
        "and eyJ-not-a-jwt stays"
    )
    clean = scrub.scrub_text(text, ["tok+secret/1", TOKEN_A])
    assert clean == (
        "id [redacted], quoted [redacted], Authorization: Bearer [redacted], [redacted] "
        "and eyJ-not-a-jwt stays"
    )
