"""Four eyes holds from the shell and under a file's second name: every operation is a
dashboard user's, and one file is one database however it is spelled."""

import io
import os

import pytest

from metamorph_admin import databases, jobs, locks
from metamorph_admin.command_jobs import run_from_command
from metamorph_admin.models import Origin
from metamorph_admin.tests.commands import manage
from metamorph_admin.tests.job_helpers import two_databases_env
from rollouts import services
from rollouts.tests.helpers import (
    attest_all,
    create_rollout_from_the_shell,
    make_rollout,
    operate,
)


def _ready_checklist(rollout, dbs):
    operate("backup", dbs["production"], "oscar")
    operate("rehearsal", dbs["production"], "oscar")
    attest_all(rollout, 0)


def test_an_admin_who_backed_up_from_the_shell_cannot_sign_that_phase(dbs, people):
    rollout = make_rollout()
    _ready_checklist(rollout, dbs)
    run_from_command("backup", {"db_path": dbs["production"]}, operator="ada", stdout=io.StringIO())
    with pytest.raises(services.RolloutRefused, match="ada ran operations of Pre-migration"):
        services.sign(rollout, 0, actor="ada")
    assert services.sign(rollout, 0, actor="mia").signed_by == "mia"


def test_an_operation_tied_to_no_dashboard_user_blocks_the_sign_off_with_that_reason(dbs, people):
    rollout = make_rollout()
    _ready_checklist(rollout, dbs)
    # What an older command recorded: the OS account, no dashboard user.
    job = jobs.run_job("backup", {"db_path": dbs["production"]}, actor="root", origin=Origin.CLI)
    reason = f"job #{job.pk} (backup by 'root' from the command line) is tied to no dashboard user"
    assert any(reason in b for b in services.blockers(rollout, 0))
    with pytest.raises(services.RolloutRefused) as refused:
        services.sign(rollout, 0, actor="mia")
    assert reason in str(refused.value) and "--operator NAME" in str(refused.value)


def test_a_backup_through_a_symlink_counts_as_the_production_databases_operation(
    dbs, people, tmp_path
):
    rollout = make_rollout()
    _ready_checklist(rollout, dbs)
    alias = tmp_path / "alias" / "metamorph.db"
    alias.parent.mkdir()
    os.symlink(dbs["production"], alias)
    job = run_from_command(
        "backup",
        {"db_path": databases.for_path(str(alias)).path},
        operator="ada",
        stdout=io.StringIO(),
    )
    assert job.db_path == dbs["production"]  # recorded under the configured name
    with pytest.raises(services.RolloutRefused, match="ada ran operations"):
        services.sign(rollout, 0, actor="ada")


def test_a_job_recorded_under_a_second_spelling_still_counts_for_four_eyes(dbs, people):
    rollout = make_rollout()
    _ready_checklist(rollout, dbs)
    spelled = os.path.join(
        os.path.dirname(dbs["production"]), "x", "..", os.path.basename(dbs["production"])
    )
    os.makedirs(os.path.join(os.path.dirname(dbs["production"]), "x"), exist_ok=True)
    operate("backup", spelled, "ada")
    assert "ada" in services.operators_of(rollout, 0)


def test_one_file_under_two_names_is_one_lock_and_one_database(dbs, tmp_path):
    alias = tmp_path / "prod-link.db"
    os.symlink(dbs["production"], alias)
    assert locks.lock_key(str(alias)) == locks.lock_key(dbs["production"])
    assert databases.for_path(str(alias)).name == "production"
    with pytest.raises(services.RolloutRefused, match="two different databases"):
        services.create_rollout(
            name="same",
            staging=databases.Database("staging", str(alias), ""),
            production=databases.get("production"),
            actor="ada",
        )


@pytest.mark.parametrize("spelling", ["symlink", "dotdot", "hardlink"])
def test_a_second_name_for_a_configured_file_is_refused_at_start_up_naming_both(tmp_path, spelling):
    prod = tmp_path / "prod" / "metamorph.db"
    prod.parent.mkdir()
    prod.write_bytes(b"")
    third = tmp_path / "third.db"
    if spelling == "symlink":
        os.symlink(prod, third)
    elif spelling == "hardlink":  # what a bind mount looks like: same device and inode
        os.link(prod, third)
    else:
        third = tmp_path / "prod" / ".." / "prod" / "metamorph.db"
    text = f"production={prod},staging={tmp_path / 's.db'},third={third}"
    with pytest.raises(ValueError) as refused:
        databases.parse_databases(text, str(tmp_path))
    assert f"production={prod} and third=" in str(refused.value)
    assert "are the same file" in str(refused.value)
    done = manage("check", env={"METAMORPH_DATABASES": text}, tmp_path=tmp_path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "are the same file" in done.stderr and "third=" in done.stderr
    assert done.stderr.startswith("Configuration error:")


def test_from_the_shell_the_backup_is_adas_and_ada_cannot_sign_it(tmp_path, metamorph_db):
    staging, production = metamorph_db("legacy"), metamorph_db("legacy")
    env = {**two_databases_env(tmp_path, staging, production), "METAMORPH_OPERATOR": ""}
    for name in ("ada", "mia"):
        made = manage("createoperator", name, "--role", "admin", "--no-password", env=env)
        assert made.returncode == 0, made.stderr
    shell = "from rollouts import services as s; from rollouts.models import Rollout"
    create_rollout_from_the_shell(env, "r", actor="mia")
    refused = manage("backupdb", "--database", "production", env=env)
    assert refused.returncode == 1 and "--operator NAME" in refused.stderr
    done = manage("backupdb", "--database", "production", "--operator", "ada", env=env)
    assert done.returncode == 0, done.stderr
    sign = (
        "r = Rollout.objects.get(name='r')\n"
        "try:\n    s.sign(r, 0, actor='ada')\nexcept s.RolloutRefused as e:\n    print(e)\n"
    )
    said = manage("shell", "-c", shell + "\n" + sign, env=env)
    assert "ada ran operations of Pre-migration checklist" in said.stdout, said.stdout + said.stderr
