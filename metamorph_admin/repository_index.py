"""Read side of the off-host backup repository: what its index and the last check said, as
stored in the dashboard's database (pages, /metrics and the backup-age alarm open no file)."""

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from metamorph_admin.models import RepositoryArchive, RepositoryState


def configured():
    return bool(settings.METAMORPH_BACKUP_REPOSITORY)


def archives_of(database):
    return RepositoryArchive.objects.filter(database=database)


def state_of(database):
    return RepositoryState.objects.filter(database=database).first()


@dataclass(frozen=True)
class RestorableArchive:
    archive: str
    age_seconds: float


def newest_restorable(database):
    """The newest archive of `database` whose last check restored it (None: none checked)."""
    found = archives_of(database).filter(check_state="restorable").first()
    if found is None:
        return None
    return RestorableArchive(
        found.archive, max(0.0, (timezone.now() - found.created_at).total_seconds())
    )


@dataclass(frozen=True)
class RepositoryPage:
    """What the Backups page shows about the repository for one database."""

    configured: bool
    url: str
    state: RepositoryState | None
    archives: list

    @property
    def backup_names(self):
        """The local backups' names that also have an archive (where each copy lives)."""
        return {a.backup_name for a in self.archives}


def page_state(database):
    if not configured():
        return RepositoryPage(False, "", None, [])
    return RepositoryPage(
        True, settings.METAMORPH_BACKUP_REPOSITORY, state_of(database), list(archives_of(database))
    )
