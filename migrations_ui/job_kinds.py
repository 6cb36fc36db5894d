"""The job kinds of migrations and backups, registered when the app is ready."""
from metamorph_admin.kinds import JobKind, register

FORMS = "migrations_ui.operation_forms."

CALLS = "migrations_ui.services.operations."


def register_kinds():
    for kind in (
        JobKind("migration", "Migration", CALLS + "migrate", "metamorph_admin.run_migration",
                form=FORMS + "MigrationForm"),
        JobKind("rehearsal", "Rehearsal on a scratch copy", CALLS + "rehearse",
                "metamorph_admin.run_rehearsal", mutating=False),
        JobKind("rollback", "Migration rollback", CALLS + "rollback",
                "metamorph_admin.rollback_migration", form=FORMS + "RollbackForm"),
        JobKind("verification", "Migration verification", CALLS + "verify",
                "metamorph_admin.run_verification", mutating=False),
        JobKind("backup", "Backup", CALLS + "run_backup", "metamorph_admin.run_backup",
                form=FORMS + "BackupForm"),
        JobKind("verify-backup", "Backup re-verification", CALLS + "verify_backup",
                "metamorph_admin.verify_backup", mutating=False, form=FORMS + "BackupNameForm"),
        JobKind("restore", "Restore from backup", CALLS + "restore_backup",
                "metamorph_admin.restore_backup", form=FORMS + "RestoreForm"),
    ):
        register(kind)
