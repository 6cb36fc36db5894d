"""Migration errors an operator can act on: each names the cause and the next step."""

from metamorph.errors import MetamorphError


class UnknownMigration(MetamorphError):
    def __init__(self, migration_id, valid):
        super().__init__(
            f"Unknown migration {migration_id!r}. Valid ids: {', '.join(valid)} "
            "(the number alone, e.g. 001, works too). See them with `runmigration --list`."
        )
        self.migration_id = migration_id


class MigrationNotApplied(MetamorphError):
    def __init__(self, path, migration_id=None, applied=()):
        shown = ", ".join(applied) or "none"
        if migration_id:
            head = (
                f"Migration {migration_id} is not applied to {path} (schema_migrations has "
                "no row for it), so there is nothing to roll back."
            )
        else:
            head = f"No migration is applied to {path}, so there is nothing to roll back."
        super().__init__(f"{head} Applied migrations: {shown}. Check with `runmigration --list`.")


class UnknownAppliedMigration(MetamorphError):
    def __init__(self, path, migration_id):
        super().__init__(
            f"The latest migration recorded in {path} is {migration_id}, which metamorph-admin "
            "does not know, so it will not guess its down step. Roll it back with the Metamorph "
            "version that wrote it, or name a known migration with --migration."
        )


class MigrationFailed(MetamorphError):
    """A statement failed inside the migration's transaction, which was rolled back."""

    def __init__(self, migration_id, step, cause):
        where = f" at {step}" if step else ""
        super().__init__(
            f"Migration {migration_id} failed{where} and was rolled back: the database is "
            f"exactly as it was before this migration. Cause: {cause}"
        )
        self.migration_id = migration_id
        self.cause = cause


class PreflightRefused(MetamorphError):
    """Pre-flight checks failed; the report says which and why."""

    def __init__(self, report):
        failed = [f for f in report.findings if not f.ok]
        reasons = "; ".join(f"{f.name}: {f.message}" for f in failed)
        super().__init__(
            f"Refusing to migrate {report.db_path}: {reasons}. Fix these (or take a backup "
            "first with --backup), or pass --force to run anyway."
        )
        self.report = report


class RehearsalFailed(MetamorphError):
    def __init__(self, path, phase, cause):
        super().__init__(
            f"The rehearsal on a scratch copy of {path} failed while {phase}: {cause} The live "
            "database was not written and the scratch copy was deleted. Fix the cause and "
            "rehearse again before migrating the live file."
        )
        self.phase = phase
