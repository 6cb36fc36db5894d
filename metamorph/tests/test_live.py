"""Live-server checks against a fake Metamorph on 127.0.0.1 that reads a real database."""

import socket

import pytest

from conftest import sql
from metamorph import live, rollout_evidence
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
    return lambda kind, ids: rollout_evidence.vaults_of_ids(path, kind, ids)


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
    assert found.status == "fail" and "time-out" in found.summary


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
    assert found.status == "info" and "ignores the header" in found.summary
    assert "isolation audit" in found.summary
    assert len(set(vault_headers)) == 2


def test_isolation_passes_when_each_token_sees_only_its_vault(migrated):
    a, b = two_vaults(migrated)
    tokens = {"tok-a-secret": a, "tok-b-secret": b}
    with FakeMetamorph(migrated, tokens=tokens) as server:
        found = live.check_isolation(server.url, ("tok-a-secret", "tok-b-secret"), lookup(migrated))
    assert found.status == "pass", found.summary
    memories_a = sql(migrated, "SELECT COUNT(*) FROM semantic_memory WHERE vault_id=?", (a,))
    assert found.numbers["token 1 memories"] == min(500, memories_a[0][0])
    assert found.numbers["token 1 vaults"] == a and found.numbers["token 2 vaults"] == b
    assert "tok-a-secret" not in repr(found.to_dict())


def test_a_leaky_server_fails_isolation_naming_the_vaults(migrated):
    a, b = two_vaults(migrated)
    with FakeMetamorph(migrated, mode="leaky", tokens={"ta": a, "tb": b}) as server:
        found = live.check_isolation(server.url, ("ta", "tb"), lookup(migrated))
    assert found.status == "fail"
    assert "sees rows of" in found.summary and a in found.summary


def test_a_refused_token_is_a_finding_without_the_token(migrated):
    a, b = two_vaults(migrated)
    with FakeMetamorph(migrated, tokens={"good": a}) as server:
        found = live.check_isolation(server.url, ("good", "wrong-secret-xyz"), lookup(migrated))
    assert found.status == "fail" and "Token 2" in found.summary and "401" in found.summary
    assert "wrong-secret-xyz" not in found.summary


def test_ids_the_database_does_not_hold_fail(migrated):
    a, b = two_vaults(migrated)
    with FakeMetamorph(migrated, tokens={"ta": a, "tb": b}) as server:
        found = live.check_isolation(
            server.url, ("ta", "tb"), lambda kind, ids: {}
        )  # the wrong database: holds nothing
    assert found.status == "fail" and "does not hold" in found.summary


def test_a_bad_url_is_refused_with_an_example():
    with pytest.raises(ValueError, match="https://metamorph.example.com"):
        live.valid_base_url("metamorph.local:3000")
    assert live.valid_base_url("http://127.0.0.1:3000/") == "http://127.0.0.1:3000"
    with pytest.raises(ValueError, match="Leave credentials out"):
        live.valid_base_url("https://bob:hunter2@metamorph.example.com")
