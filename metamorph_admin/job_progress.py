"""The progress callable a job hands its engine: it keeps the Job row and its log current."""

import time

from django.utils import timezone

from metamorph_admin import outage
from metamorph_admin.models import Job, JobLog

# Engines may report thousands of times a second; the page polls once a second.
WRITE_INTERVAL = 0.25
LOG_INTERVAL = 1.0
LOG_LINES_KEPT = 2000
TRIM_EVERY = 200


def trim_log(job_id, keep=LOG_LINES_KEPT):
    """Delete all but the newest `keep` log lines of a job."""
    newest = JobLog.objects.filter(job_id=job_id).order_by("-id").values_list("id", flat=True)
    cutoff = list(newest[keep : keep + 1])
    if cutoff:
        JobLog.objects.filter(job_id=job_id, id__lte=cutoff[0]).delete()


class JobProgress:
    """`progress(phase, done, total, message)`: throttled Job updates, a log line per change.

    The row is written at most every WRITE_INTERVAL, at once when the phase changes or
    finishes, and `flush()` writes the last report. `echo` (e.g. TerminalProgress) sees every
    report too.
    """

    def __init__(self, job_id, echo=None, clock=time.monotonic):
        self.job_id = job_id
        self.echo = echo
        self.clock = clock
        self._last = None
        self._dirty = False
        self._phase = None
        self._last_write = self._last_log = float("-inf")
        self._logged_message = None
        self._lines = 0

    def __call__(self, phase, done=0, total=0, message=""):
        phase, message = str(phase), str(message or "")
        done, total = int(done or 0), int(total or 0)
        now = self.clock()
        new_phase = phase != self._phase
        self._phase = phase
        self._last, self._dirty = (phase, done, total, message), True
        if new_phase or (total and done >= total) or now - self._last_write >= WRITE_INTERVAL:
            self._write(now)
        if new_phase or (message != self._logged_message and now - self._last_log >= LOG_INTERVAL):
            self._log_report(phase, message, now)
        if self.echo is not None:
            self.echo(phase, done, total, message)

    def _write(self, now):
        phase, done, total, message = self._last
        # While the dashboard's database is away the job goes on: the next write (or
        # flush) brings the row up to date.
        written = outage.or_skip(
            lambda: Job.objects.filter(pk=self.job_id).update(
                phase=phase[:64],
                done=done,
                total=total,
                message=message[:500],
                heartbeat_at=timezone.now(),
            )
        )
        self._dirty = not written
        self._last_write = now

    def _log_report(self, phase, message, now):
        self.log(f"{phase}: {message}" if message else phase)
        self._logged_message = message
        self._last_log = now

    def flush(self):
        """Write the last report if throttling held it back, and log its message."""
        if self._dirty:
            self._write(self.clock())
        if self._last is not None:
            phase, _, _, message = self._last
            if message and message != self._logged_message:
                self._log_report(phase, message, self.clock())

    def log(self, text, level="info"):
        """Append one line to the job's log (only the newest LOG_LINES_KEPT are kept)."""
        if not outage.or_skip(
            lambda: JobLog.objects.create(job_id=self.job_id, level=level, text=str(text)[:1000])
        ):
            return  # a line said while the dashboard's database was away is not kept
        self._lines += 1
        if self._lines % TRIM_EVERY == 0:
            trim_log(self.job_id)
