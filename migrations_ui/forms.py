"""Forms of the Migrations and Backups pages: their cleaned data are the engine's parameters."""

from django import forms

from metamorph.backup.create import MAX_LABEL
from metamorph.migrate.definitions import MIGRATIONS
from metamorph_admin import databases

ALL = ""
MIGRATION_CHOICES = [(ALL, "all pending migrations")] + [(m.id, m.id) for m in MIGRATIONS]


def database_name():
    """What the operator types to confirm a destructive step on the page's database."""
    return databases.confirmation_word()


class ConfirmedForm(forms.Form):
    """A destructive step: the operator types the database file's name to go on."""

    confirm = forms.CharField(max_length=255, label="Type the database file name to confirm")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if databases.several():
            self.fields[
                "confirm"
            ].label = f"Type {databases.confirmation_what()} ({database_name()}) to confirm"

    def clean(self):
        data = super().clean()
        if data.get("confirm", "").strip() != database_name():
            raise forms.ValidationError(
                f"Type {databases.confirmation_what()} exactly ({database_name()}) to confirm."
            )
        data.pop("confirm", None)  # the rest are the engine's parameters
        return data


class MigrationForm(ConfirmedForm):
    migration_id = forms.ChoiceField(choices=MIGRATION_CHOICES, required=False, label="Migration")
    take_backup = forms.BooleanField(
        required=False, initial=True, label="Take a verified backup first (recommended)"
    )
    force = forms.BooleanField(
        required=False, label="Run even if a pre-flight check fails (not recommended)"
    )
    max_backup_age_hours = forms.FloatField(
        min_value=0.1,
        max_value=24 * 30,
        initial=24,
        label="Newest backup may be this many hours old",
    )

    def clean_migration_id(self):
        return self.cleaned_data["migration_id"] or None


class RollbackForm(ConfirmedForm):
    migration_id = forms.ChoiceField(choices=MIGRATION_CHOICES[1:], label="Migration")
    take_backup = forms.BooleanField(
        required=False, initial=True, label="Take a verified backup first"
    )


class BackupForm(forms.Form):
    label = forms.CharField(max_length=MAX_LABEL, required=False)
    compress = forms.BooleanField(required=False, label="gzip the verified copy")
    keep = forms.IntegerField(
        min_value=1, max_value=1000, required=False, label="Keep only the newest N verified backups"
    )
    verify = forms.ChoiceField(
        choices=[
            ("full", "full: integrity_check (every page and index entry; slower on big files)"),
            ("quick", "quick: quick_check (much faster; a restore still runs the full check)"),
        ],
        initial="full",
        required=False,
        label="Check the copy with",
    )

    def clean_verify(self):
        return self.cleaned_data.get("verify") or "full"


class BackupNameForm(forms.Form):
    name = forms.CharField(max_length=255)


class RestoreForm(ConfirmedForm):
    name = forms.CharField(max_length=255)
    # an archive of the backup repository, fetched (sha256 checked) as the local backup `name`
    archive = forms.CharField(max_length=400, required=False)
    force = forms.BooleanField(
        required=False,
        label="Metamorph is still running: restore anyway (its writes up to "
        "the restore are kept only in the safety backup)",
    )
