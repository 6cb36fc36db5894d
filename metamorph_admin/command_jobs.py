"""Run a job from a management command: a terminal progress bar, a Job row and an audit record.

Apart from metamorph_admin.cli so that a command that runs no job (vaultreport, listbackups)
does not import the job runner at start-up (~0.012 s here)."""

import json
import sys

from django.core.management.base import CommandError

from metamorph.errors import MetamorphError
from metamorph.identifiers import shown
from metamorph_admin import jobs, kinds, operators
from metamorph_admin.models import Job, Origin
from metamorph_admin.progress import TerminalProgress


def run_from_command(kind, params, *, operator, stdout, stderr=None, json_output=False, func=None):
    """Run `kind` now for a command, as the dashboard user `operator` names, and return the
    finished Job.

    Progress goes to `stderr` (a bar on a terminal, plain lines when piped); with
    `json_output` the result is printed to `stdout` as JSON. Failures and refusals raise
    CommandError with the operator message (exit code 1).
    """
    err = stderr if stderr is not None else sys.stderr
    bar = TerminalProgress(stream=err)
    try:
        job_kind = kinds.get(kind)
        user = operators.operator_for(operator, job_kind.permission, f"A {job_kind.label} job")
        job = jobs.run_job(
            kind,
            params,
            actor=user.get_username(),
            user=user,
            origin=Origin.CLI,
            func=func,
            echo=bar,
        )
    except MetamorphError as exc:  # an unknown kind or no operator: nothing was run
        raise CommandError(str(exc)) from None
    if bar.tty and job.state != Job.State.SUCCEEDED:
        err.write("\n")  # the bar may have stopped mid-line
    for line in job.log_lines.filter(level="warning"):
        err.write(f"warning: {shown(line.text)}\n")
    if job.state != Job.State.SUCCEEDED:
        if isinstance(job.result, dict) and job.result.get("text") and not json_output:
            stdout.write(job.result["text"])  # the lines a failed verification marks
        elif json_output and job.result:
            stdout.write(json.dumps(job.result, indent=2, sort_keys=True))
        raise CommandError(f"{job.error} (job #{job.pk})")
    err.write(f"{job.kind} job #{job.pk} succeeded in {job.duration or 0:.1f} s.\n")
    err.flush()
    if json_output:
        stdout.write(json.dumps(job.result, indent=2, sort_keys=True))
    return job
