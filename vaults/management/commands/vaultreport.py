import json

from django.core.management.base import CommandError
from django.db import DatabaseError

from metamorph import ahead
from metamorph import report as reports
from metamorph.errors import MetamorphError
from metamorph_admin.cli import OperationCommand, add_db_argument, db_path_from
from metamorph_admin.formatting import num, size
from vaults import selectors

FORMAT_VERSION = 1


class Command(OperationCommand):
    help = (
        "Print the vault x table row counts, index health, database health and the "
        "troubleshooting checks for a Metamorph database (read-only). Exit code 1 when a "
        "check reports an error. --json prints a stable document for scripts (docs/commands.md)."
    )

    def add_arguments(self, parser):
        add_db_argument(parser)
        parser.add_argument("--json", action="store_true", help="print JSON")
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            help="bound the counts to this many seconds (tables cut short "
            "show a lower bound); default: count everything",
        )
        parser.add_argument(
            "--integrity",
            action="store_true",
            help="also run PRAGMA quick_check (reads the whole file)",
        )
        parser.add_argument(
            "--top", type=int, default=20, help="vaults to list in the text report (default 20)"
        )
        parser.add_argument(
            "--audit",
            action="store_true",
            help="run the isolation audit now (it reads every linked row: most of the "
            "report's time on a big file); without it the report shows the audit of the "
            "newest background read, with its age",
        )

    def handle(self, *args, **opts):
        path = db_path_from(opts)
        if opts["timeout"] is not None and opts["timeout"] <= 0:
            raise CommandError("--timeout must be a positive number of seconds.")
        if opts["top"] < 1:
            raise CommandError("--top must be 1 or more: the number of vaults to list.")
        try:
            integrity = None
            if opts["integrity"]:
                integrity = reports.full_snapshot(path)["integrity"]
            isolation, source = _isolation(path, opts)
            # Read beside the start-up (metamorph_admin/__main__.py) when nothing bounds it.
            begun = None if integrity or opts["timeout"] else ahead.take(path)
            if begun:
                data = reports.with_isolation(begun, isolation)
            else:
                data = reports.build_report(
                    path, integrity=integrity, count_seconds=opts["timeout"], isolation=isolation
                )
        except MetamorphError as exc:
            raise CommandError(str(exc)) from None
        data["isolation_source"] = source
        if opts["json"]:
            data = {"format_version": FORMAT_VERSION, **data}
            # Indented for a person at a terminal; one line for a pipe or a file, which Python
            # writes ~10x faster (its C encoder does not indent; 1,000 vaults: ~0.1 s saved).
            indent = 2 if self.stdout.isatty() else None
            self.stdout.write(json.dumps(data, indent=indent, sort_keys=True))
        else:
            self._text(data, opts["top"])
        if any(f["status"] == "error" for f in data["checks"]):
            raise SystemExit(1)

    def _isolation_line(self, source):
        if not source:
            return "Isolation audit: not run (--audit runs it; the background read keeps one)."
        if source["source"] == "audit":
            return "Isolation audit: run now (--audit)."
        since = (
            " The file was written since: --audit for a fresh one."
            if source["file_written_since"]
            else ""
        )
        return (
            f"Isolation audit: from background read #{source['read']} at {source['at']} "
            f"({source['age_seconds']} s ago).{since}"
        )

    def _text(self, data, top):
        w = self.stdout.write
        counts, health = data["counts"], data["health"]
        w(f"Metamorph database {health['path']}")
        w(
            f"  {size(health['size_bytes'])}, journal {health['journal_mode']}, SQLite "
            f"{health['sqlite_version']}, last written {health['modified_at']}"
        )
        w(
            f"  applied migrations: {', '.join(m['id'] for m in health['applied_migrations']) or 'none'}"
        )
        w(
            f"\nVaults: {num(counts['distinct_vaults'])} distinct, {num(counts['total_rows'])} rows"
            + ("" if counts["complete"] else " (counts cut short: lower bounds)")
        )
        for vault, n in counts["vaults"][:top]:
            w(f"  {vault:<40} {num(n):>12}")
        w("\nTables:")
        for t, e in counts["tables"].items():
            if e["state"] == "absent":
                continue
            floor = "more than " if e.get("partial") else ""
            w(
                f"  {t:<28} {e['state']:<13} {floor}{num(e['total']):>10} rows"
                + (f", {num(len(e['by_vault']))} vaults" if e["by_vault"] else "")
            )
        absent = [t for t, e in counts["tables"].items() if e["state"] == "absent"]
        if absent:
            w(f"  absent: {', '.join(absent)}")
        ix = data["indexes"]
        w("\nIndexes: " + ", ".join(f"{n} {s}" for s, n in sorted(ix["status_counts"].items())))
        for row in ix["expected"]:
            if row["status"] in ("missing", "differs"):
                w(f"  {row['status']:<8} {row['name']} ({row['table']}) {row['note']} {row['fix']}")
        for p in ix["plans"]:
            if p["full_scan"]:
                w(f"  full SCAN for vault queries on {p['table']}: {p['fix']}")
        for r in ix["redundant"]:
            w(f"  redundant {r['name']} ({r['reason']} of {r['covered_by']})")
        w("\n" + self._isolation_line(data["isolation_source"]))
        w("\nChecks:")
        for f in data["checks"]:
            w(f"  [{f['status']}] {f['title']}: {f['detail']}")
            if f["fix"] and f["status"] != "ok":
                w(f"      fix: {f['fix']}")


def _isolation(path, opts):
    """The audit run now (--audit), else the newest background read's; (audit, source)."""
    if opts["audit"]:
        return reports.isolation_if_migrated(path, opts["timeout"]), {"source": "audit"}
    try:
        return selectors.cached_isolation(path)
    except DatabaseError:  # no dashboard database here: the report stands without it
        return None, {}
