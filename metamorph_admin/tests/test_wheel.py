"""The wheel a Metamorph host installs without a checkout: built from a copy of the sources,
installed into a folder of its own, its `metamorph-admin` command run from elsewhere."""

import os
import shutil
import subprocess
import sys

import pytest

from metamorph_admin.tests.commands import ROOT

SOURCES = ("metamorph", "metamorph_admin", "vaults", "migrations_ui", "rollouts")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for name in SOURCES:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "requirements.txt", "README.md"):
        shutil.copy(ROOT / name, src / name)
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp / "dist"),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (tmp / "dist").glob("metamorph_admin-*.whl")
    site = tmp / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    home = tmp / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    env.update(PYTHONPATH=str(site), SECRET_KEY="x", METAMORPH_ADMIN_HOME=str(home))
    return {"wheel": wheel, "site": site, "home": home, "env": env}


def run(installed, *args, **env):
    return subprocess.run(
        [str(installed["site"] / "bin" / "metamorph-admin"), *args],
        cwd=installed["home"],
        env={**installed["env"], **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_wheel_holds_the_pages_templates_static_files_and_migrations_but_no_tests(installed):
    names = subprocess.run(
        [sys.executable, "-m", "zipfile", "-l", str(installed["wheel"])],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for part in (
        "metamorph_admin/site_templates/base.html",
        "metamorph_admin/static/css/app.css",
        "metamorph_admin/migrations/0002_agent.py",
        "vaults/templates/vaults/",
        "metamorph_admin/management/commands/agent.py",
    ):
        assert part in names, part
    assert "/tests/" not in names


def test_the_installed_command_runs_from_its_own_folder_and_not_the_checkout(
    installed, metamorph_db
):
    where = run(installed, "shell", "-c", "import metamorph_admin; print(metamorph_admin.__file__)")
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().splitlines()[-1].startswith(str(installed["site"]))
    template = run(
        installed,
        "shell",
        "-c",
        "from django.template.loader import get_template; print(get_template('base.html').origin.name)",
    )
    assert template.stdout.strip().splitlines()[-1].startswith(str(installed["site"])), (
        template.stderr
    )
    migrate = run(
        installed, "migrate", "-v0", DATABASE_URL=f"sqlite:///{installed['home']}/admin.sqlite3"
    )
    assert migrate.returncode == 0, migrate.stderr
    agent = run(
        installed,
        "agent",
        "--database",
        "nosuch",
        DATABASE_URL=f"sqlite:///{installed['home']}/admin.sqlite3",
        METAMORPH_DATABASES=f"production={metamorph_db('migrated')}",
    )
    assert agent.returncode == 2
    assert "No database is called 'nosuch' here: the configured ones are production" in agent.stderr
