"""Errors an operator can act on: each names the cause and the next step."""


class MetamorphError(Exception):
    """Base class: the message is shown to the operator as it is."""


class DatabaseMissing(MetamorphError):
    def __init__(self, path):
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
