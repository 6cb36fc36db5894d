import json

from django.core.management.base import CommandError

from metamorph import remap
from metamorph.errors import MetamorphError
from metamorph_admin.cli import (
    OperationCommand,
    add_db_argument,
    confirm_typed,
    db_path_from,
    operator_user,
)
from metamorph_admin.command_jobs import run_from_command
from vaults.services import remap as remap_service

EPILOG = """
examples:
  remapvaults --move alice                       preview: every default-vault row to 'alice'
  remapvaults --move alice --execute --backup    ... then run it (asks for the file name)
  remapvaults --mapping owners.csv               preview a split by conversation_id/session_id
  remapvaults --owners                           list owner columns / metadata keys offered
  remapvaults --owner semantic_memory.metadata:userId --prefix user-
  remapvaults --mapping sessions.csv --unattributed send --unattributed-vault team
                                                 ... identity, operator_performance and
                                                 unlinked memories go to 'team'
  remapvaults --run PLAN_ID [--offline]          execute (or resume) a previewed plan
  remapvaults --undo PLAN_ID                     restore every row the plan moved
  remapvaults --status PLAN_ID | --audit

A preview is stored as a plan (the rule, its numbers and each row's decision). Executing
re-applies the rule to the data as it is then: rows Metamorph added since the preview move
too (counted apart); rows whose decision changed (a new conflict, a changed link, a unique
key taken in the target) are held back and listed; the summary shows preview vs actual per
table. Online mode moves rows in short journaled transactions sized by every batch's measured
write-lock hold (< 1 s, printed), pausing for Metamorph's writes, so Metamorph keeps running
and a killed run resumes; rows Metamorph writes after the last batch are reported — run the
plan again to move them. Offline mode (Metamorph stopped) drops and rebuilds the vault
indexes around one transaction and is several times faster.
"""


class Command(OperationCommand):
    runs_operations = True
    help = (
        "Move default-vault (or any source vault) rows to user vaults: a whole vault, a "
        "split by an owner column/metadata key, or a CSV mapping of conversation_id or "
        "session_id to vault id. Linked rows follow their root; conflicts are listed, "
        "never moved. Preview, execute, resume, undo, isolation audit."
    )

    epilog = EPILOG

    def add_arguments(self, parser):
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--move", metavar="TARGET", help="move the whole source vault")
        what.add_argument(
            "--owner",
            metavar="TABLE.COLUMN[:JSON_KEY]",
            help="split by an owner column or a metadata JSON key",
        )
        what.add_argument("--mapping", metavar="CSV", help="split by a mapping file")
        what.add_argument("--owners", action="store_true", help="list the owner sources")
        what.add_argument(
            "--run",
            metavar="PLAN_ID",
            help="execute a plan on the data as it is now (resumes an "
            "interrupted run; on a completed plan, moves rows added since)",
        )
        what.add_argument("--undo", metavar="PLAN_ID", help="undo a plan from its journal")
        what.add_argument("--status", metavar="PLAN_ID", help="how far a plan got")
        what.add_argument("--audit", action="store_true", help="run the isolation audit")
        parser.add_argument("--source", default="default-vault", help="source vault")
        parser.add_argument("--prefix", default="user-", help="owner split: vault id prefix")
        parser.add_argument(
            "--unattributed",
            choices=tuple(remap.UNATTRIBUTED),
            default="leave",
            help="splits: rows nothing ties to a conversation or session "
            "(identity, operator_performance, memories without "
            "metadata.conversationId): leave them (default), "
            "copy-identity (copy the single identity row into every "
            "target vault) or send them to --unattributed-vault",
        )
        parser.add_argument(
            "--unattributed-vault",
            metavar="VAULT",
            help="with --unattributed send: the vault they go to",
        )
        parser.add_argument("--execute", action="store_true", help="execute after the preview")
        parser.add_argument(
            "--offline", action="store_true", help="bulk mode: faster, needs Metamorph stopped"
        )
        parser.add_argument("--backup", action="store_true", help="take a backup first")
        parser.add_argument(
            "--fast",
            action="store_true",
            help="synchronous=OFF commits (about 1.4x faster online): safe "
            "against a killed process, not a power cut; needs --backup",
        )
        parser.add_argument("--yes", action="store_true", help="skip the typed confirmation")
        parser.add_argument("--json", action="store_true", help="print JSON")
        add_db_argument(parser)

    def handle(self, *args, **opts):
        db_path = db_path_from(opts)
        try:
            if opts["owners"]:
                return self._owners(remap.discover_owner_sources(db_path, opts["source"]), opts)
            if opts["audit"]:
                return self._audit(db_path, opts)
            if opts["status"]:
                return self._status(db_path, opts["status"], opts)
            if opts["undo"]:
                return self._job("remap-undo", db_path, {"plan_id": opts["undo"]}, opts)
            if opts["fast"] and not opts["backup"]:
                raise CommandError(
                    "--fast needs --backup: faster commits are only offered "
                    "right after a verified backup."
                )
            plan_id = opts["run"] or self._preview(db_path, opts)
            if opts["run"] or opts["execute"]:
                remap_service.load(plan_id)  # a clear error for an unknown plan id
                return self._job(
                    "remap",
                    db_path,
                    {
                        "plan_id": plan_id,
                        "mode": "offline" if opts["offline"] else "online",
                        "take_backup": opts["backup"],
                        "fast": opts["fast"],
                    },
                    opts,
                )
        except MetamorphError as exc:
            raise CommandError(str(exc)) from None

    def _rule(self, opts):
        if opts["move"]:
            return remap.MoveVault(opts["move"], opts["source"])
        if opts["mapping"]:
            try:
                with open(opts["mapping"], "rb") as fh:
                    return remap.SplitByMapping.from_csv(
                        fh.read(), opts["source"], *_unattributed(opts)
                    )
            except OSError as exc:
                raise CommandError(f"Cannot read {opts['mapping']}: {exc.strerror}.") from None
        where, _, key = opts["owner"].partition(":")
        table, _, column = where.partition(".")
        if not column:
            raise CommandError(
                "--owner takes TABLE.COLUMN or TABLE.COLUMN:JSON_KEY "
                "(see --owners for what this database offers)."
            )
        return remap.SplitByOwner(
            table, column, key or None, opts["prefix"], opts["source"], *_unattributed(opts)
        )

    def _preview(self, db_path, opts):
        who = operator_user(opts, "metamorph_admin.run_remap", "A remap preview")
        record = remap_service.preview(db_path, self._rule(opts), who.get_username())
        _, plan = remap_service.load(record.plan_id)
        p = plan.preview
        if opts["json"] and not opts["execute"]:
            self.stdout.write(json.dumps({"plan_id": record.plan_id, "preview": p}, indent=2))
            return record.plan_id
        self.stdout.write(f"Plan {record.plan_id}: {p['rule']}")
        self.stdout.write(
            f"  {p['moves_total']} rows move to {p['targets_total']} vaults "
            f"({p['new_vaults_total']} new); {p['conflicts']['rows_total']} rows "
            f"in conflict stay; {p['stays_total']} rows stay in {p['source_vault']}"
        )
        for table, row in p["tables"].items():
            self.stdout.write(f"  {table:<24} {row['move']:>10} of {row['source_rows']:>10}")
        self._attribution(p)
        if not opts["execute"]:
            self.stdout.write(
                f"Nothing was written. Execute it with: python manage.py "
                f"remapvaults --run {record.plan_id}"
            )
        return record.plan_id

    def _attribution(self, p):
        found = p.get("mapping_ids")
        if found:
            self.stdout.write(f"  The mapping's {found['ids']} ids were found in:")
            for tables, n in found["by_tables"].items():
                self.stdout.write(f"    {n:>8}  {tables}")
        u = p.get("unattributable") or {}
        if u.get("choices"):
            rows = ", ".join(f"{t} {n}" for t, n in u["rows"].items()) or "none"
            where = f" -> {u['vault']}" if u.get("vault") else ""
            self.stdout.write(f"  Rows that cannot be attributed ({u['policy']}{where}): {rows}")
            if u["policy"] == "leave" and u["rows"]:
                self.stdout.write(
                    "    (they stay; --unattributed copy-identity or --unattributed "
                    "send --unattributed-vault VAULT decide otherwise)"
                )
            for t, n in u.get("metadata_not_json", {}).items():
                self.stdout.write(f"  {n} {t} rows have metadata that is not JSON: they stay.")
        for c in p.get("copies", []):
            self.stdout.write(
                f"  The {c['table']} row {c['id']} is copied into "
                f"{len(c['targets'])} target vaults."
            )

    def _job(self, kind, db_path, params, opts):
        confirm_typed(db_path, f"{kind} of plan {params['plan_id']}", opts["yes"])
        job = run_from_command(
            kind,
            {"db_path": db_path, **params},
            operator=opts["operator"],
            stdout=self.stdout,
            stderr=self.stderr,
            json_output=opts["json"],
        )
        if not opts["json"]:
            r = job.result
            moved = r.get("moved_total", r.get("restored_total"))
            if r.get("summary"):
                self.stdout.write(r["summary"])
            self.stdout.write(
                f"{kind} of {params['plan_id']}: {moved} rows; longest "
                f"write-lock hold {r.get('longest_transaction_s')} s; isolation "
                f"audit {'clean' if r.get('audit_clean') else 'has findings'}."
            )
        if job.result.get("audit_clean") is False:
            raise CommandError(
                "The isolation audit found problems after the run: "
                "`remapvaults --audit` lists them."
            )

    def _audit(self, db_path, opts):
        result = remap.isolation_audit(db_path)
        if opts["json"]:
            return self._print(result, opts)
        self.stdout.write("Isolation audit: " + ("clean" if result["clean"] else "findings"))
        for f in result["findings"]:
            self.stdout.write(f"  {f['message']}")
        for label, n in result["dangling"].items():
            self.stdout.write(
                f"  (information) {n} rows link through {label} to an id no "
                "conversations or sessions row holds (normal in real files)"
            )
        if result.get("explanation"):
            self.stdout.write(result["explanation"])
        if not result["clean"]:
            raise SystemExit(1)

    def _owners(self, sources, opts):
        if opts["json"]:
            return self._print(sources, opts)
        if not sources:
            self.stdout.write(
                f"No owner column or metadata key carries values in {opts['source']}'s rows, "
                "so no split by owner is offered. Split by a mapping file instead "
                "(--mapping CSV; the Remap page downloads the vault's ids, ready to fill) "
                "or move the whole vault (--move TARGET)."
            )
            return
        self.stdout.write(f"Owner sources in {opts['source']} (use one with --owner):")
        for s in sources:
            arg = f"{s['table']}.{s['column']}" + (f":{s['json_key']}" if s["json_key"] else "")
            examples = ", ".join(s["examples"][:3])
            self.stdout.write(
                f"  --owner {arg:<44} {s['with_value']:,} sampled rows with a value, "
                f"{s['distinct_values']:,} distinct (e.g. {examples})"
            )

    def _status(self, db_path, plan_id, opts):
        status = remap.plan_status(db_path, plan_id)
        if status["state"] == "unknown":
            try:
                remap_service.load(plan_id)  # previewed here but never run: a real plan
            except MetamorphError:
                raise CommandError(
                    f"No plan {plan_id}: it was not previewed here and has no record in the "
                    "remap journal beside this database. The Remap page lists the plans."
                ) from None
        self._print(status, opts)

    def _print(self, data, opts):
        self.stdout.write(json.dumps(data, indent=2, default=str))


def _unattributed(opts):
    if opts["unattributed_vault"] and opts["unattributed"] != "send":
        raise CommandError("--unattributed-vault goes with --unattributed send.")
    return opts["unattributed"], opts["unattributed_vault"]
