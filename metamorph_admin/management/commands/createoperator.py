"""createoperator USER --role viewer|operator|admin: create or update a login with one role."""

import getpass
import os
import sys

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from metamorph_admin import audit
from metamorph_admin.cli import os_user
from metamorph_admin.models import AuditRecord, Origin
from metamorph_admin.roles import ROLES


class Command(BaseCommand):
    help = (
        "Create a user, or update an existing one, with exactly one role: viewer (reads "
        "everything), operator (+ backups, rehearsals, verification) or admin (+ migrations, "
        "rollback, restore, remap, rollout sign-off, audit). A new user's password comes "
        "from --password-from-env VAR or a prompt on a terminal; an existing user's stays."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, help="viewer, operator or admin")
        password = parser.add_mutually_exclusive_group()
        password.add_argument(
            "--password-from-env",
            metavar="VAR",
            help="Read the password from this environment variable.",
        )
        password.add_argument(
            "--no-password",
            action="store_true",
            help="A new user gets no usable password (set one later).",
        )
        parser.add_argument("--email", default=None)

    def handle(self, *args, username, role, password_from_env, no_password, email, **options):
        if role not in ROLES:
            raise CommandError(f"Unknown role {role!r}: choose one of {', '.join(ROLES)}.")
        User = get_user_model()
        try:
            User.username_validator(username)
        except ValidationError as exc:
            raise CommandError(f"Invalid username {username!r}: {' '.join(exc.messages)}")
        groups = {g.name: g for g in Group.objects.filter(name__in=list(ROLES))}
        if role not in groups:
            raise CommandError(
                f"The {role} group does not exist: run `python manage.py "
                "migrate` first (it creates the roles)."
            )
        user = User.objects.filter(username=username).first()
        password = self._password(user, username, password_from_env, no_password)
        login = (
            "password set"
            if password is not None
            else "no usable password"
            if user is None
            else "password unchanged"
        )
        with transaction.atomic():
            created = user is None
            user = user or User(username=username)
            if email is not None:
                user.email = email
            if password is not None:
                user.set_password(password)
            elif created:
                user.set_unusable_password()
            user.save()
            user.groups.remove(*[g for name, g in groups.items() if name != role])
            user.groups.add(groups[role])
            audit.record(
                "set-role",
                audit.Actor(os_user(), Origin.CLI),
                outcome=AuditRecord.Outcome.SUCCESS,
                target=username,
                parameters={"role": role, "created": created, "login": login},
            )
        verb = "Created" if created else "Updated"
        kept = "" if created or password is not None else " (password unchanged)"
        self.stdout.write(f"{verb} {username} with the {role} role{kept}.")

    def _password(self, user, username, env_var, no_password):
        """The new password, or None to leave it (existing user) / make it unusable."""
        if env_var:
            password = os.environ.get(env_var)
            if not password:
                raise CommandError(f"Environment variable {env_var} is not set or empty.")
        elif no_password or user is not None:
            return None
        elif sys.stdin.isatty():
            password = self._prompt()
        else:
            raise CommandError(
                f"No password for the new user {username}: pass --password-from-env VAR, run "
                "the command in a terminal to be prompted, or --no-password."
            )
        try:
            password_validation.validate_password(
                password, user or get_user_model()(username=username)
            )
        except ValidationError as exc:
            raise CommandError("Password refused: " + " ".join(exc.messages))
        return password

    def _prompt(self):
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("The two passwords differ; nothing was changed.")
        return password
