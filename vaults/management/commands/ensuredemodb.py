import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from metamorph.demo import SHAPES, STATES, build_demo_database
from metamorph.errors import MetamorphError
from metamorph_admin.progress import TerminalProgress


class Command(BaseCommand):
    help = (
        "Create a demo Metamorph database at METAMORPH_DATABASE_PATH if no file is there "
        "(used by `make run`). Never touches an existing file. DEMO_STATE (default legacy), "
        "DEMO_SHAPE (default observed: what real deployments hold) and DEMO_SESSIONS "
        "(default 2000) choose what to build."
    )

    def handle(self, *args, **opts):
        path = settings.METAMORPH_DATABASE_PATH
        if os.path.exists(path):
            self.stdout.write(f"Metamorph database: {path}")
            return
        state = os.environ.get("DEMO_STATE", "legacy")
        if state not in STATES:
            raise CommandError(f"DEMO_STATE={state!r} is not one of {', '.join(STATES)}.")
        shape = os.environ.get("DEMO_SHAPE", "observed")
        if shape not in SHAPES:
            raise CommandError(f"DEMO_SHAPE={shape!r} is not one of {', '.join(SHAPES)}.")
        try:
            sessions = int(os.environ.get("DEMO_SESSIONS", "2000"))
            build_demo_database(
                path,
                sessions=sessions,
                vaults=20,
                state=state,
                shape=shape,
                progress=TerminalProgress(self.stderr),
            )
        except ValueError:
            raise CommandError("DEMO_SESSIONS must be a whole number.") from None
        except (MetamorphError, OSError) as exc:
            raise CommandError(f"Could not create the demo database at {path}: {exc}") from None
        self.stdout.write(
            f"No database was at {path}: created a demo Metamorph database "
            f"({state}, {shape} shape, {sessions} sessions). Point METAMORPH_DATABASE_PATH at "
            "your real file to inspect it."
        )
