"""Live-server checks against a fake Metamorph on 127.0.0.1 that reads a real database."""

import socket
import sqlite3

import pytest

from conftest import sql
from metamorph import live, live_data, rollout_evidence
from metamorph.testing.fake_server import FakeMetamorph


@pytest.fixture
def migrated(metamorph_db):
    return metamorph_db("migrated", sessions=60, vaults=6)


def two_vaults(path):
    rows = sql(
        path,
        "SELECT vault_id, COUNT(*) FROM semantic_memory GROUP BY 1 "
        "HAVING COUNT(*) > 0 ORDER BY 2 DESC LIMIT 2",
    )
    return [r[0] for r in rows]


def lookup(path):
    return rollout_evidence.FileIds(path)


class EmptyFile:
    """A file that holds none of the server's rows (the wrong database)."""

    def vaults_of_ids(self, kind, ids):
        return {}

    def memories_in(self, vaults):
        return 0


def test_health_passes_on_a_running_server(migrated):
    with FakeMetamorph(migrated) as server:
        found = live.check_health(server.url)
    assert found.status == "pass" and found.numbers == {"HTTP status": 200}


def test_a_refused_connection_is_a_finding_not_a_crash():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again at once: nothing listens there
    found = live.check_health(f"http://127.0.0.1:{port}")
    assert found.status == "fail" and "could not connect" in found.summary


def test_a_time_out_is_a_finding(migrated):
    with FakeMetamorph(migrated, mode="slow", delay=2.0) as server:
        found = live.check_dev_mode_off(server.url, timeout=0.5)
    assert found.status == "fail" and "timed out after 0.5 s" in found.summary
    assert "METAMORPH_LIVE_TIMEOUT_SECONDS" in found.summary
    assert found.numbers == {"timed out after (s)": 0.5}


def test_a_slow_session_list_times_out_in_the_isolation_check_with_its_seconds(migrated):
    with FakeMetamorph(migrated, mode="slow", delay=2.0, tokens={"ta": "a"}) as server:
        found = live_data.check_isolation(server.url, ("ta", "tb"), lookup(migrated), timeout=0.5)
    assert found.summary == "Token 1: GET /api/sessions timed out after 0.5 s."


def test_production_answers_missing_token_so_dev_mode_is_off(migrated):
    with FakeMetamorph(migrated, mode="prod") as server:
        assert live.check_dev_mode_off(server.url).status == "pass"
        assert live.detect_dev_mode(server.url).status == "info"


def test_dev_mode_is_detected_from_two_vault_headers_and_points_to_the_audit(migrated):
    with FakeMetamorph(migrated, mode="dev") as server:
        off = live.check_dev_mode_off(server.url)
        found = live.detect_dev_mode(server.url)
        vault_headers = [h.get("X-Vault-Id") for h in server.seen_headers if "X-Vault-Id" in h]
    assert off.status == "fail" and "dev mode" in off.summary
    assert found.status == "info" and "ignores the X-Vault-Id header" in found.summary
    assert "isolation audit" in found.summary
    assert len(set(vault_headers)) == 2


def test_dev_mode_is_detected_while_a_client_creates_sessions_between_the_requests(migrated):
    # Each answer lists one more session than the one before: the whole bodies differ, the
    # session both answers hold shows they come from one vault.
    with FakeMetamorph(migrated, mode="busy") as server:
        found = live.detect_dev_mode(server.url)
    assert found.status == "info", found.summary
    assert found.numbers["sessions in answer A"] == 1
    assert found.numbers["sessions in answer B"] == 2
    assert found.numbers["sessions in both"] == 1
    assert "created between the two requests" in found.details[0]


def test_a_server_that_scopes_by_the_header_is_not_called_dev_mode(migrated):
    with FakeMetamorph(migrated, mode="busy") as server:
        server.created_sessions = []
        original = server.answer

        def by_header(path, headers):
            status, body = original(path, headers)
            probe = headers.get("X-Vault-Id", "")
            return status, {"sessions": [{"id": f"{probe}:only"}]}

        server.answer = by_header
        found = live.detect_dev_mode(server.url)
    assert found.status == "fail" and "no session in common" in found.summary


def test_isolation_passes_when_each_token_sees_only_its_vault(migrated):
    a, b = two_vaults(migrated)
    tokens = {"tok-a-secret": a, "tok-b-secret": b}
    with FakeMetamorph(migrated, tokens=tokens) as server:
        found = live_data.check_isolation(
            server.url, ("tok-a-secret", "tok-b-secret"), lookup(migrated)
        )
    assert found.status == "pass", found.summary
    memories_a = sql(migrated, "SELECT COUNT(*) FROM semantic_memory WHERE vault_id=?", (a,))
    assert found.numbers["token 1 memories"] == min(500, memories_a[0][0])
    assert found.numbers["token 1 vaults"] == a and found.numbers["token 2 vaults"] == b
    assert "tok-a-secret" not in repr(found.to_dict())


def test_a_leaky_server_fails_isolation_naming_the_vaults(migrated):
    a, b = two_vaults(migrated)
    with FakeMetamorph(migrated, mode="leaky", tokens={"ta": a, "tb": b}) as server:
        found = live_data.check_isolation(server.url, ("ta", "tb"), lookup(migrated))
    total = sql(migrated, "SELECT COUNT(*) FROM semantic_memory")[0][0]
    assert found.status == "fail"
    assert found.summary.startswith(
        f"Isolation broken or unproven: both tokens got the same {min(500, total)} memories"
    )
    assert "does not scope reads by the token's vault" in found.summary
    assert any("sees rows of" in d and a in d for d in found.details)


def test_a_refused_token_is_a_finding_without_the_token(migrated):
    a, b = two_vaults(migrated)
    with FakeMetamorph(migrated, tokens={"good": a}) as server:
        found = live_data.check_isolation(
            server.url, ("good", "wrong-secret-xyz"), lookup(migrated)
        )
    assert found.status == "fail" and "Token 2" in found.summary and "401" in found.summary
    assert "wrong-secret-xyz" not in found.summary


def test_ids_the_database_does_not_hold_fail(migrated):
    a, b = two_vaults(migrated)
    with FakeMetamorph(migrated, tokens={"ta": a, "tb": b}) as server:
        found = live_data.check_isolation(server.url, ("ta", "tb"), EmptyFile())
    assert found.status == "fail" and "this server is not reading this file" in found.summary
    assert "ignores DATABASE_PATH" in found.summary


def test_the_real_build_fails_isolation_leading_with_what_the_tokens_saw(migrated):
    # The feature/multitenancy build: sessions from JSON files, memories always default-vault.
    a, b = two_vaults(migrated)
    with FakeMetamorph(migrated, mode="real-prod", tokens={"ta": a, "tb": b}) as server:
        found = live_data.check_isolation(server.url, ("ta", "tb"), lookup(migrated))
        written = server.session_files_written
    held = sql(migrated, "SELECT COUNT(*) FROM semantic_memory WHERE vault_id='default-vault'")
    assert found.status == "fail"
    assert found.summary.startswith(
        f"Isolation broken or unproven: both tokens got the same {held[0][0]} memories, "
        "all in default-vault: the server does not scope reads by the token's vault"
    )
    assert "not reading this file" not in found.summary
    notes = " ".join(found.details)
    assert "session id(s) are not in the file" in notes and "JSON files" in notes
    assert live_data.WRITES_NOTE in found.details
    assert written == 2  # one memories request per token, each wrote a session file


def test_a_healthy_server_reading_another_file_is_told_apart(migrated, tmp_path):
    # Started in another directory, the real server made itself an empty database there.
    elsewhere = tmp_path / "elsewhere.db"
    conn = sqlite3.connect(elsewhere)
    conn.execute("CREATE TABLE semantic_memory (id TEXT PRIMARY KEY, vault_id TEXT)")
    conn.close()
    with FakeMetamorph(str(elsewhere), mode="real-dev") as server:
        health = live.check_health(server.url)
        found = live_data.check_health_and_file(server.url, lookup(migrated))
    held = sql(migrated, "SELECT COUNT(*) FROM semantic_memory WHERE vault_id='default-vault'")
    assert health.status == "pass"  # /api/health alone says ok
    assert found.status == "fail"
    assert "this server is not reading this file: it returned no memories" in found.summary
    assert f"the file holds {held[0][0]:,}" in found.summary


def test_a_server_reading_this_file_passes_and_says_the_check_writes(migrated):
    with FakeMetamorph(migrated, mode="real-dev") as server:
        found = live_data.check_health_and_file(server.url, lookup(migrated))
        written = server.session_files_written
    assert found.status == "pass", found.summary
    assert "are all in this file" in found.summary
    assert live_data.WRITES_NOTE in found.details and written == 1


def test_in_production_the_file_comparison_is_left_to_the_isolation_check(migrated):
    with FakeMetamorph(migrated, mode="prod") as server:
        found = live_data.check_health_and_file(server.url, lookup(migrated))
    assert found.status == "pass"
    assert "Not compared with the file: the server wants a token" in found.details[0]


def test_a_bad_url_is_refused_with_an_example():
    with pytest.raises(ValueError, match="https://metamorph.example.com"):
        live.valid_base_url("metamorph.local:3000")
    assert live.valid_base_url("http://127.0.0.1:3000/") == "http://127.0.0.1:3000"
    with pytest.raises(ValueError, match="Leave credentials out"):
        live.valid_base_url("https://bob:hunter2@metamorph.example.com")
