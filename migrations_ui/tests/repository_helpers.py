"""What the backup-repository tests of this app share."""

import sqlite3


def empty_table(path, table):
    """Delete every row of `table` (committed): a loss the restore must undo."""
    conn = sqlite3.connect(path)
    try:
        conn.execute(f'DELETE FROM "{table}"')
        conn.commit()
    finally:
        conn.close()
