"""vaultreport's report read ahead by a forked reader (metamorph/ahead.py), on real files and
real processes: the same report, only for the path begun, never one read with an error."""

import json
import os
import subprocess
import sys

import pytest

from metamorph import ahead
from metamorph.errors import MetamorphError
from metamorph.report import build_report
from metamorph.testing.lockers import Locker
from metamorph.testing.writer import BUSY_TIMEOUT_SECONDS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def without_clock(report):
    counts = {k: v for k, v in report["counts"].items() if k not in ("counted_at", "seconds")}
    return {**report, "counts": counts}


# begin and take in a fresh process, as the command's entry point calls them (it forks before
# any thread exists; a test worker has threads of its own).
BEGIN_TAKE = """
import json, sys
from metamorph import ahead
from metamorph.errors import MetamorphError
def take(path):
    try:
        return ahead.take(path)
    except MetamorphError as exc:
        return {"refused": str(exc)}
begin, takes = sys.argv[1], sys.argv[2:]
ahead.begin(begin)
print(json.dumps([take(path) for path in takes]))
"""


def begin_and_take(begin, *takes):
    out = subprocess.run(
        [sys.executable, "-c", BEGIN_TAKE, begin, *takes],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return json.loads(out)


def test_the_report_read_ahead_is_the_report_read_in_place(metamorph_db):
    path = metamorph_db("migrated", vaults=6)
    begun, again = begin_and_take(path, path, path)
    assert begun is not None
    in_place = json.loads(json.dumps(build_report(path)))  # tuples as lists, as begun's
    assert without_clock(begun) == without_clock(in_place)
    assert again is None  # taken once: a second take reads nothing stale


def test_a_path_not_begun_gives_nothing_and_leaves_the_begun_one(metamorph_db):
    path = metamorph_db("migrated")
    other, begun = begin_and_take(path, path + "-other", path)
    assert other is None and begun is not None


def refusal_in_place(path):
    with pytest.raises(MetamorphError) as raised:
        build_report(path)
    return str(raised.value)


def test_a_refusal_the_reader_met_is_raised_in_its_words(metamorph_db, tmp_path):
    odd = tmp_path / "notes.txt"
    odd.write_text("not a database\n" * 100)
    assert begin_and_take(str(odd), str(odd)) == [{"refused": refusal_in_place(str(odd))}]
    path = metamorph_db("migrated")
    with Locker(path, "BEGIN EXCLUSIVE"):  # past the read's busy timeout, as a stuck writer
        [refused] = begin_and_take(path, path)
        assert refused == {"refused": refusal_in_place(path)}
    assert "lock" in refused["refused"]


def test_db_option_reads_db_and_stands_back_for_options_that_bound_the_report():
    assert ahead.db_option(["--json", "--db", "/x.db"]) == "/x.db"
    assert ahead.db_option(["--db=/x.db", "--top", "5"]) == "/x.db"
    assert ahead.db_option(["--json"]) is None
    for bound in (["--timeout", "3"], ["--timeout=3"], ["--integrity"], ["--integ"], ["--ti=3"]):
        assert ahead.db_option(["--db", "/x.db", *bound]) is None, bound


# Runs manage.py and notes its own pid, then the pid of each connect to the Metamorph file.
CONNECTS = """
import os, runpy, sys
db, log = sys.argv[1], sys.argv[2]
with open(log, "a") as f:
    f.write(f"{os.getpid()}\\n")
def hook(event, args):
    if event == "sqlite3.connect" and db in str(args[0]):
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\\n")
sys.addaudithook(hook)
sys.argv = ["manage.py"] + sys.argv[3:]
runpy.run_path(os.path.join(os.environ["ROOT"], "manage.py"), run_name="__main__")
"""


def run_vaultreport(path, tmp_path, *args):
    log = tmp_path / f"connects-{len(os.listdir(tmp_path))}.log"
    env = {
        **os.environ,
        "ROOT": ROOT,
        "SECRET_KEY": "test",
        "DATABASE_URL": f"sqlite:///{tmp_path}/admin.sqlite3",
    }
    result = subprocess.run(
        [sys.executable, "-c", CONNECTS, path, str(log), "vaultreport", "--json", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    command, *connects = log.read_text().split()
    return result, command, set(connects)


def test_vaultreport_prints_the_report_its_reader_read_and_the_same_with_timeout(
    metamorph_db, tmp_path
):
    path = metamorph_db("migrated", vaults=6)
    fast, command, readers = run_vaultreport(path, tmp_path, "--db", path)
    bounded, bounded_command, bounded_readers = run_vaultreport(
        path, tmp_path, "--db", path, "--timeout", "60"
    )
    assert fast.returncode == 0 and bounded.returncode == 0, (fast.stderr, bounded.stderr)
    assert without_clock(json.loads(fast.stdout)) == without_clock(json.loads(bounded.stdout))
    # Read by the forked reader alone without --timeout; by the command itself with it.
    assert command not in readers and len(readers) == 1
    assert bounded_readers == {bounded_command}


@pytest.mark.parametrize("shape", ["linked", "observed"])
def test_vaultreport_read_ahead_beside_a_writer_reports_and_costs_the_writer_nothing(
    metamorph_db, metamorph_writer, tmp_path, shape
):
    path = metamorph_db("migrated", vaults=6, shape=shape)
    writer = metamorph_writer(path)
    result, command, readers = run_vaultreport(path, tmp_path, "--db", path)
    writer.wait_for_commits(3)  # it went on committing once the report was read
    report = writer.stop()
    doc = json.loads(result.stdout)
    # Exit code 1 only for the check that saw the writer hold its lock at that moment.
    errors = {c["id"] for c in doc["checks"] if c["status"] == "error"}
    assert result.returncode == (1 if errors else 0) and errors <= {"database_locked"}, errors
    assert command not in readers and len(readers) == 1  # read by the forked reader
    counts = doc["counts"]
    assert counts["complete"] is True and counts["total_rows"] > 0
    assert report.errors == [] and report.missing_from(path) == []
    assert report.max_wait < BUSY_TIMEOUT_SECONDS * 0.8, report.describe()
