"""Run manage.py as an operator does: a real subprocess with its own environment."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The admin user migrated_admin_db's copies hold: commands run as it, as an operator's shell
# profile would set METAMORPH_OPERATOR (a test of the refusal sets it to "").
CLI_OPERATOR = "cli-admin"


def manage(*args, env=None, tmp_path=None, timeout=120):
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=operator_environ(env, tmp_path),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def operator_environ(env=None, tmp_path=None):
    """An operator's shell for manage.py: this checkout, CLI_OPERATOR, and with `tmp_path` a
    dashboard database of its own there; `env` on top."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environ.update(
        {
            "SECRET_KEY": "test",
            "DEBUG": "false",
            "PYTHONPATH": str(ROOT),
            "METAMORPH_OPERATOR": CLI_OPERATOR,
        }
    )
    if tmp_path is not None:
        environ["DATABASE_URL"] = f"sqlite:///{tmp_path / 'admin.sqlite3'}"
    environ.update(env or {})
    return environ
