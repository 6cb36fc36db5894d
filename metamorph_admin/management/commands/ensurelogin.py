import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Make sure a login exists (used by `make run`): creates or updates ADMIN_USERNAME "
        "with ADMIN_PASSWORD from the environment, or, when no user exists yet, creates "
        "'admin' with a random password printed once."
    )

    def handle(self, *args, **opts):
        users = get_user_model()
        name = os.environ.get("ADMIN_USERNAME", "")
        password = os.environ.get("ADMIN_PASSWORD", "")
        if name and password:
            user, created = users.objects.get_or_create(username=name)
            user.set_password(password)
            self._make_admin(user)
            self.stdout.write(
                f"{'Created' if created else 'Updated'} login {name} "
                "from ADMIN_USERNAME/ADMIN_PASSWORD."
            )
            return
        if users.objects.exists():
            self.stdout.write(
                "Logins exist; `python manage.py createoperator NAME --role ROLE` adds more."
            )
            return
        password = secrets.token_urlsafe(12)
        user = users(username=name or "admin")
        user.set_password(password)
        self._make_admin(user)
        self.stdout.write(
            f"Created the first login: user {user.username}, password {password}"
            " (shown once: note it now)."
        )

    def _make_admin(self, user):
        user.is_staff = user.is_superuser = True
        user.save()
        group = Group.objects.filter(name="admin").first()
        if group:
            user.groups.add(group)
