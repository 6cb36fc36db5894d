"""Jobs, their log, the per-database mutation lock and the audit trail."""

from django.conf import settings
from django.db import models


class Origin(models.TextChoices):
    WEB = "web", "Web"
    CLI = "cli", "Command line"


class JobQuerySet(models.QuerySet):
    def for_file(self, db_path):
        """Jobs that worked on this Metamorph file."""
        return self.filter(db_path=db_path)

    def of_kinds(self, names):
        """Jobs of these kinds (see kinds.names_in_group for a page's kinds)."""
        return self.filter(kind__in=list(names))

    def succeeded(self):
        return self.filter(state=Job.State.SUCCEEDED)

    def running(self):
        return self.filter(state=Job.State.RUNNING)

    def in_progress(self):
        """Queued or running: not finished yet."""
        return self.filter(state__in=[Job.State.QUEUED, Job.State.RUNNING])


class Job(models.Model):
    """One run of a long operation, started from the web or a command."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        INTERRUPTED = "interrupted", "Interrupted"

    FINISHED_STATES = (State.SUCCEEDED, State.FAILED, State.INTERRUPTED)

    objects = JobQuerySet.as_manager()

    kind = models.CharField(max_length=32, db_index=True)
    db_path = models.CharField(max_length=1024)
    parameters = models.JSONField(default=dict, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.WEB)
    actor = models.CharField(max_length=150, help_text="Username, or the OS user for commands")
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.QUEUED, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    phase = models.CharField(max_length=64, blank=True)
    done = models.BigIntegerField(default=0)
    total = models.BigIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    pid = models.IntegerField(null=True, blank=True)
    hostname = models.CharField(max_length=255, blank=True)
    process_started = models.CharField(
        max_length=32, blank=True, help_text="Start tick of the process, to tell a reused pid"
    )

    class Meta:
        db_table = "migrations_ui_job"  # created by migrations_ui before the move
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "-created_at"])]
        permissions = [
            ("run_backup", "Can run backups"),
            ("verify_backup", "Can verify backups"),
            ("run_rehearsal", "Can run migration rehearsals"),
            ("run_verification", "Can run verification"),
            ("run_migration", "Can run migrations"),
            ("rollback_migration", "Can roll back migrations"),
            ("restore_backup", "Can restore backups"),
            ("run_remap", "Can run remaps"),
            ("signoff_rollout", "Can sign off a rollout"),
        ]

    def __str__(self):
        return f"{self.kind} job #{self.pk} ({self.state})"

    @property
    def finished(self):
        return self.state in self.FINISHED_STATES

    @property
    def percent(self):
        if self.state == self.State.SUCCEEDED:
            return 100  # a finished job is done, whatever its last progress report said
        if not self.total:
            return 0
        return max(0, min(100, int(100 * self.done / self.total)))

    @property
    def badge(self):
        return {"succeeded": "ok", "failed": "failed", "interrupted": "warning"}.get(
            self.state, self.state
        )

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class JobLog(models.Model):
    """One log line of a job; the runner keeps only the newest lines of each job."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="log_lines")
    at = models.DateTimeField(auto_now_add=True)
    level = models.CharField(max_length=8, default="info")
    text = models.CharField(max_length=1000)

    class Meta:
        db_table = "migrations_ui_joblog"  # created by migrations_ui before the move
        ordering = ["id"]

    def __str__(self):
        return self.text


class MutationLock(models.Model):
    """Held while a job changes one Metamorph file: at most one row per file."""

    db_path = models.CharField(max_length=1024, unique=True)
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="+")
    pid = models.IntegerField()
    hostname = models.CharField(max_length=255)
    process_started = models.CharField(max_length=32, blank=True)
    acquired_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField()

    class Meta:
        db_table = "migrations_ui_mutationlock"  # created by migrations_ui before the move

    def __str__(self):
        return f"{self.db_path} held by job #{self.job_id}"


class AuditRecord(models.Model):
    """Who did what to which database, with which parameters, and how it ended."""

    class Outcome(models.TextChoices):
        REQUESTED = "requested", "Requested"
        SUCCESS = "success", "Success"
        FAILURE = "failure", "Failure"
        REFUSED = "refused", "Refused"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.CharField(max_length=150)
    origin = models.CharField(max_length=8, choices=Origin.choices, default=Origin.WEB)
    action = models.CharField(max_length=64, db_index=True)
    target = models.CharField(max_length=1024, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    message = models.TextField(blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds")
    job = models.ForeignKey(
        Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_records"
    )
    remote_addr = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        db_table = "migrations_ui_auditrecord"  # created by migrations_ui before the move
        ordering = ["-at", "-id"]
        permissions = [("view_audit", "Can view and export the audit trail")]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.outcome}"


class Agent(models.Model):
    """The agent serving one Metamorph database: the process on the file's host that runs every
    read and write of it. One row per configured database name, claimed by the running agent."""

    database = models.CharField(max_length=40, unique=True)
    db_path = models.CharField(max_length=1024)
    queue_name = models.CharField(max_length=64)
    hostname = models.CharField(max_length=255)
    pid = models.IntegerField()
    process_started = models.CharField(max_length=32, blank=True)
    version = models.CharField(max_length=32)
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    facts = models.JSONField(null=True, blank=True)  # FileFacts of the last heartbeat
    problem = models.TextField(blank=True)  # why the last heartbeat could not read the file

    def __str__(self):
        return f"agent of {self.database} (pid {self.pid} on {self.hostname})"


class RepositoryArchive(models.Model):
    """One archive of the off-host backup repository, as its index last said (never a file)."""

    database = models.CharField(max_length=200, db_index=True)
    archive = models.CharField(max_length=400, unique=True)
    archive_id = models.CharField(max_length=64)
    backup_name = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    sha256 = models.CharField(max_length=64, blank=True)
    label = models.CharField(max_length=400, blank=True)
    added_bytes = models.BigIntegerField(null=True, blank=True, help_text="Deduplicated")
    dropped_next = models.BooleanField(default=False, help_text="The retention policy drops it")
    check_state = models.CharField(max_length=16, blank=True)  # "", restorable, failed
    check_message = models.TextField(blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.archive


class RepositoryState(models.Model):
    """The repository as seen from one database: its size, policy and the last check."""

    database = models.CharField(max_length=200, unique=True)
    repository = models.CharField(max_length=1024)
    policy = models.JSONField(default=dict, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    check_ok = models.BooleanField(null=True)
    check_message = models.TextField(blank=True)

    def __str__(self):
        return f"{self.database} in {self.repository}"


class BackupRecord(models.Model):
    """One backup of a database as its agent last listed it (the manifest's facts and the
    file's verification state), mirrored so that no page opens the backup directory."""

    database = models.CharField(max_length=40)
    name = models.CharField(max_length=255)
    created_at = models.DateTimeField()
    state = models.CharField(max_length=32)
    entry = models.JSONField()  # metamorph.backup.list_backups' entry
    mirrored_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-name"]
        constraints = [
            models.UniqueConstraint(fields=["database", "name"], name="one_record_per_backup")
        ]

    def __str__(self):
        return f"{self.name} of {self.database} ({self.state})"


class AgentReadQuerySet(models.QuerySet):
    def of(self, database, kind, key=""):
        return self.filter(database=database, kind=kind, key=key)

    def finished(self):
        return self.filter(state__in=[AgentRead.State.DONE, AgentRead.State.FAILED])

    def in_progress(self):
        return self.filter(state__in=[AgentRead.State.QUEUED, AgentRead.State.RUNNING])


class AgentRead(models.Model):
    """One read of a Metamorph file a page asked the database's agent for (the Remap page's
    owner columns and plan states, a preview, a rollout item's evidence), with its typed
    result: the page renders this row, never the file."""

    class State(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    database = models.CharField(max_length=40)
    kind = models.CharField(max_length=40)
    key = models.CharField(max_length=200, blank=True)  # what it reads, within its kind
    parameters = models.JSONField(default=dict, blank=True)  # never a secret
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.CharField(max_length=150, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    read_by = models.CharField(max_length=300, blank=True)  # "agent pid N on HOST"

    objects = AgentReadQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["database", "kind", "key"], name="agent_read_lookup")]

    @property
    def finished(self):
        return self.state in (self.State.DONE, self.State.FAILED)

    def __str__(self):
        return f"{self.kind} of {self.database} ({self.state})"
