"""The Migrations page's state of a file (each migration's status, the plan, the rollback
preview), read by the database's agent beside the file and stored with its heartbeat, so the
page opens no file. Read again when the schema changes, and at most a minute apart for the
rows a rollback would lose."""

import time

from metamorph.errors import MetamorphError
from metamorph.migrate import runner
from metamorph.report import json_safe

REFRESH_SECONDS = 60.0
_READ: dict[str, tuple] = {}  # path -> (schema cookie, monotonic time read, state)


def read(path: str) -> dict:
    """The state as the page shows it, or {"problem": …} when the file cannot say."""
    try:
        status = runner.status(path)
        plans = runner.plan(path)
        applied = any(row["applied"] for row in status)
        return json_safe(
            {
                "status": status,
                "plan_text": runner.format_plan_text(plans),
                "pending": [p.migration_id for p in plans if p.to_run()],
                "rollback_preview": runner.rollback_preview(path) if applied else None,
            }
        )
    except MetamorphError as exc:
        return {"problem": str(exc)}


def for_heartbeat(path: str, version) -> dict:
    """read(path), kept while `version` (the schema cookie, or more) is unchanged and the read
    is under a minute old."""
    kept = _READ.get(path)
    now = time.monotonic()
    if kept is None or kept[0] != version or now - kept[1] > REFRESH_SECONDS:
        kept = _READ[path] = (version, now, read(path))
    return kept[2]
