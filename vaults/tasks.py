"""django.tasks entry points: one line each, calling a service."""
from django.tasks import task

from vaults.services import snapshots


@task
def take_snapshot_task(snapshot_id):
    snapshots.take_snapshot(snapshot_id)
