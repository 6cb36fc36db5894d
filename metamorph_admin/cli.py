"""Run a job from a management command: a terminal progress bar, a Job row and an audit record."""
import getpass
import json
import os
import sys

from django.core.management.base import CommandError

from metamorph_admin.progress import TerminalProgress
from metamorph_admin.models import Job, Origin
from metamorph_admin import jobs
from metamorph.errors import MetamorphError


def os_user():
    """Who ran the command, as the operating system knows them."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (some containers) and no $USER
        return os.environ.get("USER") or f"uid {os.getuid()}"


def _raw(stream):
    # A command's OutputWrapper would add a newline after the bar's carriage return.
    return getattr(stream, "_out", stream)


def run_from_command(kind, params, *, stdout, stderr=None, json_output=False, func=None):
    """Run `kind` now for a command and return the finished Job.

    Progress goes to `stderr` (a bar on a terminal, plain lines when piped); with
    `json_output` the result is printed to `stdout` as JSON. Failures and refusals raise
    CommandError with the operator message (exit code 1).
    """
    err = _raw(stderr) if stderr is not None else sys.stderr
    bar = TerminalProgress(stream=err)
    try:
        job = jobs.run_job(kind, params, actor=os_user(), origin=Origin.CLI, func=func, echo=bar)
    except MetamorphError as exc:  # an unknown kind: nothing was run
        raise CommandError(str(exc)) from None
    if bar.tty and job.state != Job.State.SUCCEEDED:
        err.write("\n")  # the bar may have stopped mid-line
    for line in job.log_lines.filter(level="warning"):
        err.write(f"warning: {line.text}\n")
    if job.state != Job.State.SUCCEEDED:
        raise CommandError(f"{job.error} (job #{job.pk})")
    err.write(f"{job.kind} job #{job.pk} succeeded in {job.duration or 0:.1f} s.\n")
    err.flush()
    if json_output:
        _raw(stdout).write(json.dumps(job.result, indent=2, sort_keys=True) + "\n")
    return job


def confirm_typed(db_path, action, yes):
    """A destructive command goes on only once the operator types the database file's name
    (or passed --yes); without a terminal, --yes is required."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise CommandError(f"{action} changes the live database: run it on a terminal to "
                           "confirm, or add --yes once you have read what it does.")
    name = os.path.basename(db_path)
    if input(f"{action} on {db_path}. Type {name} to go on: ").strip() != name:
        raise CommandError("Not confirmed: nothing was changed.")
