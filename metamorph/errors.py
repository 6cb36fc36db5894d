"""Errors an operator can act on: each names the cause and the next step."""

from metamorph.units import human_size


class MetamorphError(Exception):
    """Base class: the message is shown to the operator as it is."""


class DatabaseMissing(MetamorphError):
    def __init__(self, path, wal_left=False):
        if wal_left:
            super().__init__(
                f"No Metamorph database at {path}, but its {path}-wal is there: the database "
                "file was moved or deleted, and a -wal holds only the latest commits, not a "
                "database. Do not delete the -wal; put the database file back (or restore a "
                "backup with `python manage.py restorebackup`) before Metamorph starts again, "
                "or point METAMORPH_DATABASE_PATH at the file Metamorph really uses."
            )
            return
        super().__init__(
            f"No Metamorph database at {path}. Set METAMORPH_DATABASE_PATH to the file the "
            "Metamorph server really uses (its store defaults to ./data/metamorph.db relative "
            "to its working directory), or create a demo one with "
            "`python manage.py makedemodb PATH`."
        )


class NotAFile(MetamorphError):
    def __init__(self, path):
        super().__init__(
            f"{path} is a directory, not a database file. Point METAMORPH_DATABASE_PATH at the "
            "metamorph.db file inside it."
        )


class NotSQLite(MetamorphError):
    def __init__(self, path):
        super().__init__(
            f"{path} is not an SQLite database (its first bytes are not the SQLite header). "
            "Check METAMORPH_DATABASE_PATH: it must name Metamorph's metamorph.db, not a backup "
            "archive, a JSON session file or another file."
        )


class EmptyDatabase(MetamorphError):
    def __init__(self, path):
        super().__init__(
            f"{path} is an empty SQLite database (no tables). Metamorph creates its tables on "
            "first start: start the Metamorph server once against this file, or check that "
            "METAMORPH_DATABASE_PATH names the file the server really uses."
        )


class NotAMetamorphDatabase(MetamorphError):
    def __init__(self, path, tables):
        shown = ", ".join(sorted(tables)[:8]) or "none"
        super().__init__(
            f"{path} is an SQLite database but not Metamorph's: none of its tables ({shown}) "
            "is one Metamorph creates. Check METAMORPH_DATABASE_PATH."
        )


class DatabaseLocked(MetamorphError):
    def __init__(self, path, holder=""):
        who = f" ({holder})" if holder else ""
        super().__init__(
            f"{path} is locked by another process{who}. Wait for it to finish, or stop the "
            "Metamorph service (and any sqlite3 shell) that holds the file, then try again."
        )


class QueryTimedOut(MetamorphError):
    def __init__(self, what, seconds):
        super().__init__(
            f"{what} took longer than {seconds:g} s and was stopped so the page stays responsive; "
            "the full result is computed in the background."
        )
        self.seconds = seconds


class InvalidVaultId(MetamorphError):
    """A vault id we would write does not follow the id rules."""


class ReadOnlyDatabase(MetamorphError):
    def __init__(self, path, reason=""):
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"{path} cannot be written{why}. Nothing was changed. Run metamorph-admin as a user "
            "that may write both the file and its directory (SQLite creates its rollback journal "
            "beside the file), or remount the volume read-write, then try again."
        )


class DiskFull(MetamorphError):
    def __init__(self, path, detail=""):
        what = f" ({detail})" if detail else ""
        super().__init__(
            f"The disk holding {path} or the temporary directory is full{what}. The transaction "
            "was rolled back, so the database is unchanged. Free space (index builds need about "
            "the size of the indexed tables, in the database's directory and in the temporary "
            "directory), then try again."
        )


class InterruptedWrite(MetamorphError):
    def __init__(self, path):
        super().__init__(
            f"A write to {path} was interrupted (its {path}-journal holds the undo log), so it "
            "cannot be read safely until that write is rolled back, and every command that "
            "reads first refuses. Run `python manage.py rollbackinterrupted` (it asks first): "
            "it copies the file with its -journal into the backup directory, then lets SQLite "
            "roll the interrupted write back. Starting Metamorph once rolls it back too, "
            "without the copy; do not delete the -journal file."
        )


class NoInterruptedWrite(MetamorphError):
    def __init__(self, path):
        super().__init__(
            f"{path} has no interrupted write to roll back (no hot -journal beside it): "
            "nothing was copied or changed."
        )


def _bytes(n):
    """A size in the operator's words: 1.4 GB, 730.0 MB, 12.0 kB."""
    return human_size(n)


_SEE_BACKUPS = "See the backups there with `python manage.py listbackups`."


class BackupDirUnusable(MetamorphError):
    def __init__(self, path, reason):
        super().__init__(
            f"Cannot write backups into {path}: {reason}. Nothing was written. Set "
            "METAMORPH_BACKUP_DIR to a directory this user can create and write (default "
            "./data/backups/), on a volume with room for a full copy of the database."
        )
        self.path = path


class BackupDiskFull(MetamorphError):
    def __init__(self, path, needed, free, started=True):
        undone = "The partial copy was removed" if started else "Nothing was written"
        super().__init__(
            f"Not enough disk space for the backup in {path}: it needs about {_bytes(needed)} "
            f"and {_bytes(free)} is free. {undone}; the database was not "
            "touched. Delete old backups (`python manage.py listbackups` shows them) or set "
            "METAMORPH_BACKUP_DIR to a larger volume, then try again."
        )
        self.needed, self.free = needed, free


class InvalidBackupName(MetamorphError):
    def __init__(self, name):
        shown = repr(name)[:120]
        super().__init__(
            f"{shown} is not a backup name. Backup names look like "
            "metamorph-backup-20261125-093000.db (or .db.gz) and name a file directly inside "
            f"METAMORPH_BACKUP_DIR: no folders and no paths. {_SEE_BACKUPS}"
        )


class BackupNotFound(MetamorphError):
    def __init__(self, name, backup_dir, detail=""):
        why = f" ({detail})" if detail else ""
        super().__init__(
            f"No backup named {name} in {backup_dir}{why}. {_SEE_BACKUPS} Check "
            "METAMORPH_BACKUP_DIR if the list is not the one you expect."
        )


class BackupInvalidOption(MetamorphError):
    """A backup option out of range, e.g. --keep 0."""


class BackupNotVerified(MetamorphError):
    """A backup that does not match its manifest (changed, corrupt, or without one)."""

    REASONS = {
        "changed": "its sha256 no longer matches its manifest: the file changed after it "
        "was written",
        "corrupt": "it fails SQLite's integrity check or cannot be read",
        "missing-manifest": "it has no valid manifest, so nobody can tell what it holds or "
        "whether it is intact",
    }

    def __init__(self, name, state, detail=""):
        reason = self.REASONS.get(state, state)
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"Backup {name} cannot be trusted: {reason}{extra}. It was not used and nothing "
            "was changed. Choose another backup from `python manage.py listbackups`."
        )
        self.state = state


class DatabaseInUse(MetamorphError):
    """A restore replaces the file's content: nobody else may have it open."""

    def __init__(self, path, holders):
        super().__init__(
            f"Restore is a downtime operation and {path} is in use: {holders.describe()}. "
            "Stop Metamorph first (and close any sqlite3 shell on the file), then restore. "
            "Nothing was changed. (--force restores anyway: a safety backup and the restore "
            "then happen under one held lock, and everything the server commits up to that "
            "moment is kept in the safety backup, not in the restored file.)"
        )
        self.holders = holders


class RestoreNotVerified(MetamorphError):
    def __init__(self, db_path, name, mismatches, safety_name=None):
        shown = ", ".join(
            f"{t}: {got} rows, backup has {want}" for t, (want, got) in list(mismatches.items())[:5]
        )
        undo = (
            f" The database as it was before the restore is kept as {safety_name} "
            f"(`python manage.py restorebackup {safety_name}`)."
            if safety_name
            else ""
        )
        super().__init__(
            f"Restored {name} into {db_path}, but it does not hold what the backup's manifest "
            f"records ({shown}).{undo} Stop Metamorph, run `python manage.py vaultreport "
            "--integrity`, then restore again."
        )
        self.mismatches = mismatches


class DamagedDatabase(MetamorphError):
    """SQLite found the file's structure broken (SQLITE_CORRUPT, "malformed")."""

    # Set by the site (metamorph_admin) to name the newest verified backup of a file:
    # callable(path) -> backup name or None. The library itself knows no backup directory.
    newest_backup = None

    def __init__(self, path, detail, found_by=""):
        name = None
        if DamagedDatabase.newest_backup is not None:
            try:
                name = DamagedDatabase.newest_backup(path)
            except Exception:  # naming a backup is a courtesy; the problem stands without it
                name = None
        restore = (
            f"restore backup {name} (`python manage.py restorebackup {name}`, Metamorph stopped)"
            if name
            else "restore the newest verified backup (`python "
            "manage.py listbackups`, then `restorebackup NAME`, Metamorph stopped)"
        )
        found = f" ({found_by})" if found_by else ""
        super().__init__(
            f"The file is damaged: `{detail}` at {path}{found}. Keep it untouched and "
            f"{restore}, or run `.recover` to save what SQLite can still read (`sqlite3 {path} "
            ".recover | sqlite3 recovered.db`)."
        )
        self.path, self.detail, self.backup = path, detail, name

    @classmethod
    def from_check(cls, path, messages, check="quick_check"):
        """The damage an integrity/quick check reported (its first real message)."""
        real = [m for m in messages if not m.startswith("***")] or list(messages) or ["?"]
        more = f" and {len(real) - 1} more problems" if len(real) > 1 else ""
        return cls(path, real[0], found_by=f"{check} found it{more}")


class BackupCorrupt(DamagedDatabase):
    """The fresh copy fails integrity_check: the copy is page for page the source's."""

    def __init__(self, source, problems):
        real = [m for m in problems if not m.startswith("***")] or list(problems) or ["?"]
        super().__init__(
            source,
            real[0],
            found_by="its fresh backup copy fails integrity_check, so no backup was kept",
        )


class UnreadableDatabase(MetamorphError):
    def __init__(self, path, detail):
        super().__init__(
            f"SQLite could not read {path}: {detail}. The file may be damaged or on a failing "
            "disk: run `python manage.py vaultreport --integrity`, and restore the newest "
            "verified backup if the check fails."
        )


# --- Legacy remap (metamorph/remap) -------------------------------------------------


class RemapError(MetamorphError):
    """Base of the remap errors: nothing was written unless the message says otherwise."""


class NotMigrated(RemapError):
    def __init__(self, path, tables):
        shown = ", ".join(tables[:8]) + ("…" if len(tables) > 8 else "")
        super().__init__(
            f"{path} is not migrated yet: {len(tables)} tables have no vault_id column "
            f"({shown}). A remap moves rows between vaults, so every table needs vault_id. "
            "Nothing was changed. Run migration 001 first "
            "(`python manage.py runmigration --migration=001_add_vault_id`), then preview again."
        )
        self.tables = tables


class SourceVaultMissing(RemapError):
    def __init__(self, vault, existing):
        shown = ", ".join(repr(v) for v in existing[:8]) or "none"
        super().__init__(
            f"No row is in vault {vault!r}, so there is nothing to remap from it. Nothing was "
            f"changed. Vaults present: {shown}. Choose one of those as the source vault."
        )
        self.vault = vault


class InvalidRemapRule(RemapError):
    """A rule that cannot be planned (unknown column, same source and target…)."""


class MappingFileInvalid(RemapError):
    """The mapping CSV has problems; `problems` is a list of (line, text), line 0 = the file."""

    MAX_SHOWN = 20

    def __init__(self, problems, total=None, note=""):
        total = len(problems) if total is None else total
        shown = "; ".join(
            (f"line {n}: {text}" if n else text) for n, text in problems[: self.MAX_SHOWN]
        )
        more = f" (and {total - self.MAX_SHOWN} more)" if total > self.MAX_SHOWN else ""
        noun = "problem" if total == 1 else "problems"
        super().__init__(
            f"The mapping file has {total} {noun}, so nothing was changed: {shown}{more}. "
            + (f"{note}. " if note else "")
            + "Fix the file and upload it again."
        )
        self.problems = problems
        self.total = total


class PlanOutdated(RemapError):
    def __init__(self, plan_id, detail=""):
        why = f" ({detail})" if detail else ""
        super().__init__(
            f"The data changed since the preview of plan {plan_id}{why}, so it was not run and "
            "nothing was changed by this attempt. Preview again and execute the new plan."
        )
        self.plan_id = plan_id


class RemapStoppedPartway(RemapError):
    """A remap stopped by a write error (a full disk) after earlier batches had committed."""

    def __init__(self, plan_id, moved, cause):
        super().__init__(
            f"{cause_text(cause)} The remap of plan {plan_id} stopped there: the batch in "
            f"progress was rolled back, but {moved:,} rows had already moved in earlier "
            "batches, each recorded in the remap journal: the plan is interrupted and the "
            "database consistent. Free space, then resume it with "
            f"`python manage.py remapvaults --run {plan_id}` (or Run on the plan's page); "
            f"`python manage.py remapvaults --undo {plan_id}` puts the moved rows back instead."
        )
        self.plan_id, self.moved = plan_id, moved


def cause_text(cause):
    """The first sentence of a write error's message (what went wrong, not its advice)."""
    return str(cause).split(". ")[0].rstrip(".") + "."


class PlanNotInJournal(RemapError):
    def __init__(self, plan_id, journal):
        super().__init__(
            f"Plan {plan_id} has no record in the remap journal {journal}: it never ran against "
            "this database, or the journal is another one. Nothing was changed. Check the "
            "plan id, and that the journal (metamorph-admin-remap-journal.sqlite3, kept beside "
            "the database) is the one that moved with it."
        )
        self.plan_id = plan_id


class PlanStateRefused(RemapError):
    """The plan's journal state forbids the request (e.g. executing an undone plan)."""


class PlanBusy(RemapError):
    def __init__(self, lock_path, holder=""):
        who = f" (process {holder})" if holder else ""
        super().__init__(
            f"Another remap or undo is running against this journal{who}: {lock_path} is locked. "
            "Nothing was changed. Wait for it to finish (its job page shows the progress), "
            "then try again."
        )


class RemapJournalUnusable(RemapError):
    def __init__(self, path, reason):
        super().__init__(
            f"The remap journal {path} cannot be used: {reason}. Nothing was changed. Point "
            "the journal at a writable file on a local disk (not the Metamorph file itself)."
        )


class OfflineNeedsDowntime(RemapError):
    def __init__(self, path, holder):
        super().__init__(
            f"The offline remap holds the write lock on {path} for its whole run, so it needs "
            f"downtime, but {holder}. Nothing was changed. Stop the Metamorph server (and any "
            "sqlite3 shell) first, or use the online mode, which never blocks Metamorph for "
            "more than about a second."
        )
