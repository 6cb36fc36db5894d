"""Evidence a rollout review reads from a Metamorph file (read-only, bounded in time)."""

from . import indexes, inspect, schema
from .connection import open_readonly
from .shapes import IndexEvidence, VaultDistribution

LEGACY_VAULT = "default-vault"
ID_CHUNK = 500
NO_VAULT_COLUMN = "(not migrated: no vault_id)"


def vault_distribution(db_path, seconds=30.0) -> VaultDistribution:
    """Distinct vaults, rows, rows still in default-vault (per table), rows with no vault."""
    with open_readonly(db_path) as conn:
        tables = inspect.existing_tables(conn)
        counts = inspect.vault_row_counts(conn, seconds=seconds, tables=tables)
    per_table = {
        t: e["by_vault"].get(LEGACY_VAULT, 0)
        for t, e in counts["tables"].items()
        if e["state"] == "migrated"
    }
    return {
        "distinct_vaults": counts["distinct_vaults"],
        "total_rows": counts["total_rows"],
        "default_vault_rows": sum(per_table.values()),
        "default_vault_by_table": {t: n for t, n in per_table.items() if n},
        "blank_vault_rows": counts["blank_vault_rows"],
        "not_migrated": sorted(
            t for t, e in counts["tables"].items() if e["state"] == "not-migrated"
        ),
        "largest_vaults": counts["vaults"][:10],
        "complete": counts["complete"],
        "counted_at": counts["counted_at"],
    }


def index_evidence(db_path) -> IndexEvidence:
    """Expected indexes by status, and each vault-scoped query's EXPLAIN QUERY PLAN."""
    with open_readonly(db_path) as conn:
        tables = inspect.existing_tables(conn)
        states = inspect.table_states(tables)
        health = indexes.index_health(conn, states, tables)
    return {
        "status_counts": health["status_counts"],
        "missing": [r["name"] for r in health["expected"] if r["status"] == "missing"],
        "plans": [
            {
                "table": p["table"],
                "plan": p["plan"],
                "index_used": p["index_used"],
                "full_scan": p["full_scan"],
            }
            for p in health["plans"]
        ],
        "not_migrated": sorted(t for t, s in states.items() if s == "not-migrated"),
    }


# The API's ids: /api/sessions lists session_states rows ("<vault>:<session>" on a
# multitenancy server), /api/memories semantic_memory rows.
ID_TABLES = {"sessions": ("session_states", "sessions"), "memories": ("semantic_memory",)}


def vaults_of_ids(db_path, kind, ids):
    """{id: vault} for the ids the database holds in the tables the API reads them from."""
    found = {}
    with open_readonly(db_path) as conn:
        tables = inspect.existing_tables(conn)
        for table in ID_TABLES[kind]:
            columns = tables.get(table)
            if not columns or "id" not in columns:
                continue
            # Before migration 001 a row has no vault: it is still this file's row.
            vault = (
                schema.quote(schema.VAULT_COLUMN)
                if schema.VAULT_COLUMN in columns
                else f"'{NO_VAULT_COLUMN}'"
            )
            wanted = [i for i in ids if i not in found]
            for start in range(0, len(wanted), ID_CHUNK):
                chunk = wanted[start : start + ID_CHUNK]
                marks = ",".join("?" * len(chunk))
                found.update(
                    conn.execute(
                        f"SELECT id, {vault} FROM {schema.quote(table)} WHERE id IN ({marks})",
                        chunk,
                    ).fetchall()
                )
    return found


def memories_in(db_path, vaults) -> int:
    """Memories the file holds in these vaults (0 before migration 001: no vault column)."""
    with open_readonly(db_path) as conn:
        columns = inspect.existing_tables(conn).get("semantic_memory", [])
        if schema.VAULT_COLUMN not in columns:
            return 0
        marks = ",".join("?" * len(vaults))
        (count,) = conn.execute(
            f"SELECT COUNT(*) FROM semantic_memory WHERE {schema.quote(schema.VAULT_COLUMN)} "
            f"IN ({marks})",
            tuple(vaults),
        ).fetchone()
    return count


class FileIds:
    """The file as the live checks read it (metamorph.live_data.FileView)."""

    def __init__(self, db_path):
        self.db_path = db_path

    def vaults_of_ids(self, kind, ids):
        return vaults_of_ids(self.db_path, kind, ids)

    def memories_in(self, vaults):
        return memories_in(self.db_path, vaults)
