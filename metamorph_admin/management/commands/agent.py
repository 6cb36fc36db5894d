"""`manage.py agent --database NAME`: serve one Metamorph database from the host holding its file."""

import logging
import os
import signal
import subprocess
import sys
import threading
import time

from django.core.management.base import CommandError
from django.db import DatabaseError, close_old_connections, connection
from django_tasks_db.management.commands.db_worker import Worker

from metamorph_admin import agents, backup_mirror, databases, interrupted, outage
from metamorph_admin.cli import OperationCommand

logger = logging.getLogger(__name__)


class Command(OperationCommand):
    help = (
        "Run the agent of one Metamorph database on the host that holds its file: it takes "
        "that database's jobs and background reads (and only those) from the dashboard's "
        "queue and heartbeats the file's live facts every few seconds."
    )
    epilog = """examples:
  python manage.py agent --database production      # on the production host
  python manage.py agent --database staging --interval 0.2

The dashboard shows each agent online (last heartbeat), offline since, and its version; an
action for a database whose agent is offline is refused with this command. One agent serves
one database: a second one for the same database refuses, naming the first's host and pid.
Stop it with Ctrl-C or SIGTERM: a running job finishes first."""

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--database", metavar="NAME", help="a name from METAMORPH_DATABASES")
        which.add_argument(
            "--all",
            action="store_true",
            help="one agent per configured database, as child processes (one host: make run)",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=0.5,
            help="seconds between looks at the queue when it is empty (default 0.5)",
        )

    def handle(self, *args, **opts):
        if opts["all"]:
            return _serve_all(opts["interval"])
        db = databases.get(opts["database"])
        if db is None:
            known = ", ".join(d.name for d in databases.configured())
            raise CommandError(
                f"No database is called {opts['database']!r} here: the configured ones are "
                f"{known} (METAMORPH_DATABASES).",
                returncode=2,
            )
        if not os.path.isfile(db.path):
            raise CommandError(
                f"Database {db.name} is {db.path}, which does not exist on this host: run the "
                "agent on the host that holds the file, or fix METAMORPH_DATABASES.",
                returncode=2,
            )
        if not 0 < opts["interval"] <= 60:
            raise CommandError("--interval must be more than 0 and at most 60 seconds.")
        try:
            agent = agents.register(db)
        except agents.AgentAlreadyRunning as exc:
            raise CommandError(str(exc), returncode=2) from None
        # Jobs a killed agent left running: interrupted, their locks released (they resume or
        # were rolled back by SQLite, as the job page says).
        reaped = interrupted.reap_interrupted_jobs()
        backup_mirror.mirror_soon(db)  # the Backups page lists what this host holds
        stop = threading.Event()
        beats = threading.Thread(target=_heartbeat, args=(agent, stop), daemon=True)
        worker = AgentWorker(
            queue_names=[agent.queue_name],
            interval=opts["interval"],
            batch=False,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=f"agent-{db.name}-{agent.pid}"[:64],
            excluded_queue_names=[],
        )
        worker.configure_signals()  # before the ready line: a SIGTERM from then on is clean
        try:
            beats.start()
            self.stdout.write(
                f"Agent of {db.name} ({db.path}) running as pid {agent.pid} on "
                f"{agent.hostname}, queue {agent.queue_name}."
                + (f" Marked {reaped} job(s) of a stopped process interrupted." if reaped else "")
            )
            self.stdout.flush()
            worker.run()
        finally:
            stop.set()
            beats.join(timeout=10)
            # A signal may have ended the worker inside a transaction: record the stop on a
            # fresh connection, not on whatever state it left.
            connection.close()
            try:
                agents.stop(agent)
            except DatabaseError:
                logger.warning("Could not record that the agent of %s stopped", db.name)


class AgentWorker(Worker):
    """django-tasks' database worker, which outlives an outage of the dashboard's database:
    it says so once, waits and looks at its queue again (a job it runs meanwhile goes on).
    Told to stop, a running job still finishes with the file, but nothing waits for the
    database any more (to take the job's lock or record its end)."""

    def shutdown(self, signum, frame):
        outage.stop_waiting()
        super().shutdown(signum, frame)

    def run(self):
        while self.running:
            try:
                super().run()
                return
            except outage.OUTAGE_ERRORS as exc:
                if not outage.is_outage(exc):
                    raise
                outage.noticed(exc)
                if not self.running:  # told to stop: its job gave up waiting for the database
                    logger.warning(
                        "The agent stops while the dashboard's database is away: its job stays "
                        "running there until the next agent of this database marks it "
                        "interrupted and releases its lock."
                    )
                    return
                time.sleep(outage.RETRY_SECONDS)


def _serve_all(interval):
    """One host holds every file: an agent child per database, stopped together."""
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "django",
                "agent",
                "--database",
                db.name,
                "--interval",
                str(interval),
            ]
        )  # the environment, DJANGO_SETTINGS_MODULE with it, is inherited
        for db in databases.configured()
    ]

    def stop_children(signum, frame):
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop_children)
    signal.signal(signal.SIGINT, stop_children)
    codes = [child.wait() for child in children]
    if any(codes):
        # A child killed by a signal has a negative code: still a failure for this process.
        raise CommandError(
            f"An agent stopped with exit codes {codes}.", returncode=max(max(codes), 1)
        )


def _heartbeat(agent, stop):
    try:
        while not stop.is_set():
            try:
                close_old_connections()
                _beat_once(agent)
            except DatabaseError:
                logger.warning("Heartbeat of the agent of %s failed", agent.database)
            stop.wait(agents.HEARTBEAT_SECONDS)
    finally:
        connection.close()


def _beat_once(agent):
    try:
        still_ours = agents.beat(agent)
    except outage.OUTAGE_ERRORS as exc:
        if not outage.is_outage(exc):
            raise
        outage.noticed(exc)  # said once per outage; the next interval beats again
        return
    outage.answered()
    if not still_ours:
        logger.error("Another agent took over database %s", agent.database)
    elif db := databases.get(agent.database):
        backup_mirror.mirror_soon(db)
