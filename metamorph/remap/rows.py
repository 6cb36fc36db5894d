"""Reading the rows of a source vault in short read transactions.

A reader blocks a rollback-journal writer's commit for as long as its statement runs
(schema file §7), so rows are read per window of rowids, each window its own statement:
Metamorph can commit between two windows. Windows are aligned on multiples of WINDOW so
that the same data always gives the same windows (the fingerprint is hashed per window).
"""

from .. import schema
from ..errors import NotMigrated

WINDOW = 10_000  # rows a read statement spans: its read lock stays short on a loaded machine
VAULT = schema.quote(schema.VAULT_COLUMN)


def vault_tables(conn, path="the database"):
    """Present vault tables in migration order; NotMigrated if one lacks vault_id."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    present: list[str] = []
    missing: list[str] = []
    for table in schema.VAULT_TABLES:
        if table in names:
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({schema.quote(table)})")]
            (present if schema.VAULT_COLUMN in cols else missing).append(table)
    if missing:
        raise NotMigrated(path, missing)
    return present


def table_columns(conn, table):
    return [
        (r[1], (r[2] or "").upper())
        for r in conn.execute(f"PRAGMA table_info({schema.quote(table)})")
    ]


class DoneRows:
    """Rows a plan already moved (journal rows not undone), read back as they were."""

    def __init__(self, journal, plan_id):
        self.journal, self.plan_id = journal, plan_id

    def query(self, table, cols):
        j = self.journal
        return (
            f"SELECT t.rowid, t.id{cols}, 1 FROM {j.rows} AS r "
            f"JOIN {schema.quote(table)} AS t ON t.rowid = r.j_rowid "
            "WHERE r.j_plan = ? AND r.j_table = ? AND r.j_undone = 0 "
            # copies (j_old NULL) were never source rows
            "AND r.j_old IS NOT NULL AND r.j_rowid BETWEEN ? AND ? "
            "AND t.vault_id IS r.j_new AND t.id IS r.j_row_id"
        )


def read_rows(conn, table, source, exprs=(), done=None, window=WINDOW):
    """Yield lists of (rowid, id, *exprs, done) in rowid order: the source vault's rows,
    plus (with `done`) the rows this plan already moved out of it."""
    q = schema.quote(table)
    cols = "".join(f", {e}" for e, _ in exprs)
    params = [p for _, ps in exprs for p in ps]
    # `+vault_id` keeps SQLite off the vault index: the rowid range bounds each statement.
    sql = (
        f"SELECT rowid, id{cols}, 0 FROM {q} WHERE rowid BETWEEN ? AND ? "
        f"AND +{VAULT} = ? ORDER BY rowid"
    )
    # Rows already moved are rows of the table too: the table's rowid range covers them.
    lo, hi = conn.execute(f"SELECT min(rowid), max(rowid) FROM {q}").fetchone()
    if lo is None:
        return
    done_sql = done.query(table, cols) if done is not None else None
    start = (lo // window) * window
    while start <= hi:
        end = start + window - 1
        rows = conn.execute(sql, params + [start, end, source]).fetchall()
        if done_sql:
            rows += conn.execute(done_sql, params + [done.plan_id, table, start, end]).fetchall()
            rows.sort()
        if rows:
            yield rows
            start = end + 1
        else:
            nxt = conn.execute(f"SELECT min(rowid) FROM {q} WHERE rowid > ?", (end,)).fetchone()[0]
            if nxt is None:
                return
            start = (nxt // window) * window
