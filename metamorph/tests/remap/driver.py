"""Runs a stored plan in a real process; kills itself (SIGKILL) after batch N if asked.

python driver.py DB PLAN_JSON_FILE JOURNAL KILL_AFTER_BATCH [execute|undo] [batch_rows]
"""

import os
import signal
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..")))

from metamorph.remap import RemapPlan, execute_plan, undo_plan  # noqa: E402


def main():
    db, plan_file, journal, kill_after = sys.argv[1:5]
    action = sys.argv[5] if len(sys.argv) > 5 else "execute"
    batch_rows = int(sys.argv[6]) if len(sys.argv) > 6 else 50
    kill_after = int(kill_after)
    with open(plan_file) as fh:
        plan = RemapPlan.from_json(fh.read())

    def progress(phase, done, total, message):
        if phase in ("move", "undo"):
            progress.batches += 1
            print(f"batch {progress.batches} {done}/{total}", flush=True)
            if kill_after and progress.batches >= kill_after:
                os.kill(os.getpid(), signal.SIGKILL)

    progress.batches = 0
    if action == "undo":
        undo_plan(db, plan.plan_id, journal, progress=progress, batch_rows=batch_rows)
    else:
        execute_plan(db, plan, journal, progress=progress, batch_rows=batch_rows)
    print("finished", flush=True)


if __name__ == "__main__":
    main()
