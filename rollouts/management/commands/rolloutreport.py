from django.core.management.base import BaseCommand, CommandError

from metamorph_admin import audit
from metamorph_admin.cli import add_operator_argument, operator_user
from metamorph_admin.models import AuditRecord, Origin
from rollouts import exports, report
from rollouts.models import Rollout


class Command(BaseCommand):
    help = (
        "Write a rollout's review report: every item with its evidence and numbers, the "
        "sign-offs and re-openings, the timeline and the audit trail of its operations. "
        "HTML prints on A4; Markdown suits a wiki; JSON suits tools. The document names the "
        "tool version and who exported it, and carries content-sha256 and a signature only "
        "this dashboard can make; --verify FILE checks both and names who exported it. The "
        "audit trail is included only for an --operator with the audit permission."
    )

    def add_arguments(self, parser):
        parser.add_argument("rollout", nargs="?", help="rollout name (or its number)")
        parser.add_argument(
            "--format", choices=report.FORMATS, default="md", help="md (default), html or json"
        )
        parser.add_argument(
            "--output", "-o", metavar="FILE", help="write to FILE instead of standard output"
        )
        parser.add_argument(
            "--verify",
            metavar="FILE",
            help="check that FILE is a report this dashboard issued, unchanged (content-sha256, "
            "signature, export record)",
        )
        add_operator_argument(parser)

    def handle(self, *args, **opts):
        if opts["verify"]:
            return self._verify(opts["verify"])
        if not opts["rollout"]:
            raise CommandError("Name the rollout (see the Rollouts page), or give --verify FILE.")
        who = operator_user(opts, None, "Exporting a rollout report")
        rollout = self._find(opts["rollout"])
        done = exports.export(rollout, opts["format"], user=who, origin=Origin.CLI)
        text, digest = done.text, done.sha256
        audit.record(
            "rollout-report",
            audit.Actor(who.get_username(), Origin.CLI, who),
            outcome=AuditRecord.Outcome.SUCCESS,
            target=rollout.name,
            parameters={"format": opts["format"], "sha256": digest},
        )
        if opts["output"]:
            try:
                with open(opts["output"], "w", encoding="utf-8") as out:
                    out.write(text)
            except OSError as exc:
                raise CommandError(f"Cannot write {opts['output']}: {exc.strerror}.") from None
            self.stderr.write(f"Wrote {opts['output']} (content-sha256 {digest}).")
        else:
            self.stdout.write(text, ending="")

    def _find(self, name):
        found = Rollout.objects.filter(name=name).first()
        if found is None and name.isdigit():
            found = Rollout.objects.filter(pk=int(name)).first()
        if found is None:
            known = ", ".join(Rollout.objects.values_list("name", flat=True)[:20]) or "none yet"
            raise CommandError(f"No rollout called {name!r} (known: {known}).")
        return found

    def _verify(self, path):
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}.") from None
        verdict = exports.verify(text)
        if not verdict.ok:
            raise CommandError(f"{path} {verdict.message}")
        self.stdout.write(f"{path}: {verdict.message}")
