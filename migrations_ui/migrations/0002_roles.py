"""Create the viewer, operator and admin groups with their permissions.

The lists are frozen here on purpose (a migration must not change when metamorph_admin.roles
does); test_roles checks both agree.
"""
from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEWER = [
    "vaults.request_snapshot",
    "vaults.view_snapshot",
    "migrations_ui.view_job",
    "migrations_ui.view_joblog",
]
OPERATOR = VIEWER + [
    "migrations_ui.run_backup",
    "migrations_ui.verify_backup",
    "migrations_ui.run_rehearsal",
    "migrations_ui.run_verification",
]
ADMIN = OPERATOR + [
    "migrations_ui.run_migration",
    "migrations_ui.rollback_migration",
    "migrations_ui.restore_backup",
    "migrations_ui.run_remap",
    "migrations_ui.signoff_rollout",
    "migrations_ui.view_audit",
    "migrations_ui.view_auditrecord",
]
ROLES = {"viewer": VIEWER, "operator": OPERATOR, "admin": ADMIN}


def _ensure_permissions(apps):
    # Permissions are normally created after all migrations (post_migrate); make them now.
    for label in ("vaults", "migrations_ui"):
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def create_roles(apps, schema_editor):
    _ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, names in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = []
        for name in names:
            app_label, codename = name.split(".")
            perms.append(Permission.objects.get(content_type__app_label=app_label,
                                                codename=codename))
        group.permissions.set(perms)


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("migrations_ui", "0001_initial"),
        ("vaults", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
