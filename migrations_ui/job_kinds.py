"""The job kinds of migrations and backups, registered when the app is ready."""

from metamorph_admin.kinds import JobKind, register

CALLS = "migrations_ui.services.engine_calls."
MIGRATION_CALLS = "migrations_ui.services.migration_calls."
FORMS = "migrations_ui.forms."
SAID = "migrations_ui.summaries."


def register_kinds():
    for kind in (
        JobKind(
            "migration",
            "Migration",
            MIGRATION_CALLS + "migrate",
            "metamorph_admin.run_migration",
            form=FORMS + "MigrationForm",
            group="migrations",
            summary=SAID + "migration",
        ),
        JobKind(
            "rehearsal",
            "Rehearsal on a scratch copy",
            MIGRATION_CALLS + "rehearse",
            "metamorph_admin.run_rehearsal",
            mutating=False,
            group="migrations",
            summary=SAID + "rehearsal",
        ),
        JobKind(
            "rollback",
            "Migration rollback",
            MIGRATION_CALLS + "rollback",
            "metamorph_admin.rollback_migration",
            form=FORMS + "RollbackForm",
            group="migrations",
            summary=SAID + "rollback",
        ),
        JobKind(
            "verification",
            "Migration verification",
            MIGRATION_CALLS + "verify",
            "metamorph_admin.run_verification",
            mutating=False,
            group="migrations",
            summary=SAID + "verification",
        ),
        JobKind(
            "backup",
            "Backup",
            CALLS + "run_backup",
            "metamorph_admin.run_backup",
            form=FORMS + "BackupForm",
            group="backups",
            summary=SAID + "backup",
            writes_database=False,
            if_interrupted="A backup only reads the database, so the database is as it was; "
            "the partial copy it left is removed by the next backup. Run it again.",
        ),
        JobKind(
            "verify-backup",
            "Backup re-verification",
            CALLS + "verify_backup",
            "metamorph_admin.verify_backup",
            mutating=False,
            form=FORMS + "BackupNameForm",
            group="backups",
            summary=SAID + "verify_backup",
        ),
        JobKind(
            "check-backups",
            "Backup repository check",
            CALLS + "check_backups",
            "metamorph_admin.verify_backup",
            mutating=False,
            group="backups",
        ),
        JobKind(
            "restore",
            "Restore from backup",
            CALLS + "restore_backup",
            "metamorph_admin.restore_backup",
            form=FORMS + "RestoreForm",
            group="backups",
            summary=SAID + "restore",
        ),
        JobKind(
            "interrupted-write-rollback",
            "Roll back an interrupted write",
            CALLS + "roll_back_interrupted_write",
            "metamorph_admin.restore_backup",
            group="backups",
        ),
    ):
        register(kind)
