"""Phases 3-5 evidence: default-vault, vault distribution, remap plans and what they left."""

from conftest import sql
from metamorph.remap import MoveVault, SplitByMapping
from rollouts import services
from rollouts.tests.helpers import make_rollout, operate
from vaults.services import remap as remap_service


def _migrated_production(dbs):
    operate("migration", dbs["production"], "mia", take_backup=True)
    return dbs["production"]


def test_legacy_rows_sit_in_default_vault_and_no_user_vault_exists_yet(dbs, people):
    rollout = make_rollout()
    before = services.run_check(rollout, "p3-legacy", actor="oscar")
    assert before.status == "fail" and "no vault_id yet" in before.summary
    path = _migrated_production(dbs)
    legacy = services.run_check(rollout, "p3-legacy", actor="oscar")
    total = sql(path, "SELECT COUNT(*) FROM semantic_memory")[0][0]
    assert legacy.status == "pass" and legacy.numbers["rows in default-vault"] >= total
    spread = services.run_check(rollout, "p4-distribution", actor="oscar")
    assert spread.status == "fail" and "no user has a vault" in spread.summary
    remaps = services.run_check(rollout, "p4-remap", actor="oscar")
    assert remaps.status == "info" and "optional" in remaps.summary


def test_a_split_remap_is_evidence_and_its_leftovers_carry_its_reasons(dbs, people):
    rollout = make_rollout()
    path = _migrated_production(dbs)
    assert services.run_check(rollout, "p5-leftovers", actor="oscar").status == "fail"
    sessions = [r[0] for r in sql(path, "SELECT id FROM sessions ORDER BY id LIMIT 10")]
    csv = "session_id,vault_id\n" + "".join(f"{s},user-{i % 2}\n" for i, s in enumerate(sessions))
    record = remap_service.preview(path, SplitByMapping.from_csv(csv.encode()), "mia")
    previewed = services.run_check(rollout, "p4-remap", actor="oscar")
    assert previewed.status == "info" and previewed.numbers["plans previewed"] == 1
    operate("remap", path, "mia", plan_id=record.plan_id)
    done = services.run_check(rollout, "p4-remap", actor="oscar")
    assert done.status == "pass", done.summary
    assert done.numbers["rows moved"] == sql(
        path, "SELECT COUNT(*) FROM semantic_memory WHERE vault_id LIKE 'user-%'"
    )[0][0] + sum(
        sql(path, f"SELECT COUNT(*) FROM {t} WHERE vault_id LIKE 'user-%'")[0][0]
        for t in (
            "sessions",
            "conversations",
            "messages",
            "evolution_snapshots",
            "emotional_arcs",
            "emotion_context",
            "subagent_results",
            "session_states",
            "operator_performance",
            "identity",
        )
    )
    spread = services.run_check(rollout, "p4-distribution", actor="oscar")
    assert spread.status == "pass" and spread.numbers["distinct vaults"] == 3
    left = services.run_check(rollout, "p5-leftovers", actor="oscar")
    in_default = sql(path, "SELECT COUNT(*) FROM sessions WHERE vault_id='default-vault'")[0][0]
    assert left.numbers["sessions rows in default-vault"] == in_default
    assert left.status == "info", left.summary
    assert any("no rule reaches" in e.get("text", "") for e in left.evidence)


def test_moving_everything_leaves_nothing_in_default_vault(dbs, people):
    rollout = make_rollout()
    path = _migrated_production(dbs)
    record = remap_service.preview(path, MoveVault("team-a"), "mia")
    operate("remap", path, "mia", plan_id=record.plan_id)
    left = services.run_check(rollout, "p5-leftovers", actor="oscar")
    assert left.status == "pass" and left.numbers == {}
    assert sql(path, "SELECT COUNT(*) FROM sessions WHERE vault_id='default-vault'") == [(0,)]


def test_a_file_too_big_to_audit_in_time_uses_a_recent_background_audit(dbs, people, monkeypatch):
    from rollouts import gather_contents
    from vaults.services import snapshots

    rollout = make_rollout()
    path = _migrated_production(dbs)
    monkeypatch.setattr(gather_contents, "AUDIT_SECONDS", 0.000001)
    cut_short = services.run_check(rollout, "p4-isolation", actor="oscar")
    assert cut_short.status == "fail" and "did not finish" in cut_short.summary
    assert "Recount" in cut_short.summary
    snapshots.request_snapshot(path)  # the immediate task backend runs the background read
    from_background = services.run_check(rollout, "p4-isolation", actor="oscar")
    assert from_background.status == "pass", from_background.summary
    assert from_background.numbers["audit"].startswith("the background read of")
