"""A rollout review: its checklist and phases' items, sign-offs and timeline.

Each rollout keeps the names *and paths* of its databases, so it stays readable after a
database is removed from METAMORPH_DATABASES.
"""

from django.conf import settings
from django.db import models


class Rollout(models.Model):
    name = models.CharField(max_length=120, unique=True)
    staging_name = models.CharField(max_length=40)
    staging_path = models.CharField(max_length=1024)
    staging_url = models.CharField(max_length=500, blank=True)
    production_name = models.CharField(max_length=40)
    production_path = models.CharField(max_length=1024)
    production_url = models.CharField(max_length=500, blank=True)
    backup_max_age_hours = models.FloatField(default=24)
    planned_downtime_minutes = models.FloatField(default=5)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name


class Item(models.Model):
    """One item of one phase: checked by the tool, or attested by a person with a note."""

    class Status(models.TextChoices):
        NOT_RUN = "not-run", "not run yet"
        PASS = "pass", "passed"
        INFO = "info", "passed (information)"
        FAIL = "fail", "failed"
        OPEN = "open", "open"
        ATTESTED = "attested", "attested"

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="items")
    key = models.CharField(max_length=40)
    phase = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NOT_RUN)
    summary = models.TextField(blank=True)
    numbers = models.JSONField(default=dict, blank=True)
    evidence = models.JSONField(default=list, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_run_by = models.CharField(max_length=150, blank=True)
    last_passed_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    attested_by = models.CharField(max_length=150, blank=True)
    attested_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["phase", "id"]
        constraints = [
            models.UniqueConstraint(fields=["rollout", "key"], name="rollout_item_key_unique")
        ]

    def __str__(self):
        return f"{self.rollout} {self.key} ({self.status})"


class SignOff(models.Model):
    """An admin's signature of a phase, with the evidence frozen as it stood; re-openable."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="signoffs")
    phase = models.PositiveSmallIntegerField()
    signed_by = models.CharField(max_length=150)
    signed_at = models.DateTimeField(auto_now_add=True)
    evidence = models.JSONField(default=list)
    evidence_sha256 = models.CharField(max_length=64)
    reopened_by = models.CharField(max_length=150, blank=True)
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopen_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["signed_at", "id"]
        # Two admins signing at once: the database keeps one standing signature per phase.
        constraints = [
            models.UniqueConstraint(
                fields=["rollout", "phase"],
                condition=models.Q(reopened_at__isnull=True),
                name="rollout_one_standing_signoff_per_phase",
            )
        ]

    @property
    def standing(self):
        return self.reopened_at is None

    def __str__(self):
        return f"{self.rollout} phase {self.phase} signed by {self.signed_by}"


class Event(models.Model):
    """The rollout's own timeline: created, checks run, attestations, signatures, re-openings."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150)
    kind = models.CharField(max_length=24)
    phase = models.PositiveSmallIntegerField(null=True, blank=True)
    item_key = models.CharField(max_length=40, blank=True)
    outcome = models.CharField(max_length=16, blank=True)
    text = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor} {self.kind}"


class ReportExport(models.Model):
    """One exported report: its hash, who exported it, when — what `rolloutreport --verify`
    looks up to say this dashboard issued that exact document."""

    rollout = models.ForeignKey(
        Rollout, on_delete=models.SET_NULL, null=True, related_name="exports"
    )
    rollout_name = models.CharField(max_length=120)
    format = models.CharField(max_length=8)
    sha256 = models.CharField(max_length=64, db_index=True)
    exported_by = models.CharField(max_length=150)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    origin = models.CharField(max_length=8)
    audit_included = models.BooleanField()
    exported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["exported_at", "id"]

    def __str__(self):
        return f"{self.rollout_name}.{self.format} by {self.exported_by} ({self.sha256[:12]})"
