import os

from django.core.management.base import CommandError

from metamorph.demo import SHAPES, STATES, build_demo_database
from metamorph.errors import MetamorphError
from metamorph_admin.cli import OperationCommand
from metamorph_admin.progress import TerminalProgress


class Command(OperationCommand):
    help = (
        "Build a Metamorph database with the real schema, in one of the states a real file "
        "can be in (legacy, autoupgraded, fresh, migrated) and one of two data shapes: "
        "observed (what a real deployment holds: conversations and messages empty, "
        "sessions.id = the conversation id) or linked (every table filled, links through "
        "rows). 25,000 linked sessions make ~1.06 GB in about half a minute."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="file to create (must not exist)")
        parser.add_argument(
            "--sessions",
            type=int,
            default=200,
            help="agent sessions to create, each with a conversation, its "
            "messages, memories, arcs… (default 200)",
        )
        parser.add_argument(
            "--vaults",
            type=int,
            default=5,
            help="vaults to spread rows over in the fresh and migrated states "
            "(default 5; the first is default-vault)",
        )
        parser.add_argument(
            "--state",
            choices=STATES,
            default="legacy",
            help="legacy: pre-multitenancy; autoupgraded: a multitenancy server "
            "added vault_id to 10 tables; fresh: new multitenancy install; "
            "migrated: after 001 and 002 (default legacy)",
        )
        parser.add_argument(
            "--shape",
            choices=SHAPES,
            default="observed",
            help="observed (default): rows as Metamorph's production code writes "
            "them; linked: every table filled, conversations -> messages, "
            "sessions -> conversation",
        )
        parser.add_argument(
            "--optional-tables",
            action="store_true",
            help="also create the ten tables migration 001 names but no Metamorph code creates",
        )
        parser.add_argument(
            "--without-session-states",
            action="store_true",
            help="omit session_states, as the shipped CLI and server do",
        )
        parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")

    def handle(self, *args, **opts):
        folder = os.path.dirname(os.path.abspath(opts["path"]))
        if not os.path.isdir(folder):
            raise CommandError(
                f"Cannot write {opts['path']}: the folder {folder} does not exist (makedemodb "
                "creates no folders, so a typo cannot scatter them). Create it first, or choose "
                "another path."
            )
        try:
            totals = build_demo_database(
                opts["path"],
                sessions=opts["sessions"],
                vaults=opts["vaults"],
                state=opts["state"],
                optional_tables=opts["optional_tables"],
                session_states=not opts["without_session_states"],
                seed=opts["seed"],
                shape=opts["shape"],
                progress=TerminalProgress(self.stderr),
            )
        except MetamorphError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            raise CommandError(
                f"Cannot write {opts['path']}: {exc.strerror}. Choose a "
                "writable path with enough free space."
            ) from None
        self.stdout.write(
            f"Created {opts['path']} ({opts['state']}, {opts['shape']} shape): "
            f"{sum(totals.values())} rows in {len(totals)} tables."
        )
