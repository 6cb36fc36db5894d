"""The dashboard's own state: cached results of slow reads of the Metamorph file."""

from django.db import models


class Snapshot(models.Model):
    """One background read of a Metamorph file: exact counts, quick_check, object sizes."""

    class Kind(models.TextChoices):
        COUNTS = "counts", "Counts, quick_check and sizes"

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    db_path = models.CharField(max_length=1024, db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.COUNTS)
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    phase = models.CharField(max_length=64, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    payload = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        permissions = [("request_snapshot", "Can request a recount")]
        indexes = [models.Index(fields=["db_path", "kind", "state", "-requested_at"])]

    def __str__(self):
        return f"{self.kind} of {self.db_path} ({self.state})"

    @property
    def percent(self):
        return int(100 * self.done / self.total) if self.total else 0


class RemapPlanRecord(models.Model):
    """A previewed remap plan, stored so that executing runs exactly what was shown."""

    plan_id = models.CharField(max_length=64, unique=True)
    db_path = models.CharField(max_length=1024)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=150)
    kind = models.CharField(max_length=16)
    description = models.CharField(max_length=500)
    moves_total = models.BigIntegerField(default=0)
    plan_json = models.TextField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.plan_id}: {self.description}"
