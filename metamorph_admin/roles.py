"""The three operator roles and what each may do ("app_label.codename" permissions).

Migration 0002 created the groups from a frozen copy of these lists; when a list changes, add a
data migration (test_roles checks the database and this module agree).
"""

VIEWER = "viewer"
OPERATOR = "operator"
ADMIN = "admin"

_VIEWER = [
    "vaults.request_snapshot",
    "vaults.view_snapshot",
    "metamorph_admin.view_job",
    "metamorph_admin.view_joblog",
]
_OPERATOR = _VIEWER + [
    "metamorph_admin.run_backup",
    "metamorph_admin.verify_backup",
    "metamorph_admin.run_rehearsal",
    "metamorph_admin.run_verification",
]
_ADMIN = _OPERATOR + [
    "metamorph_admin.run_migration",
    "metamorph_admin.rollback_migration",
    "metamorph_admin.restore_backup",
    "metamorph_admin.run_remap",
    "metamorph_admin.signoff_rollout",
    "metamorph_admin.view_audit",
    "metamorph_admin.view_auditrecord",
]

# Lowest role first: role_needed() returns the first role that has a permission.
ROLES = {VIEWER: _VIEWER, OPERATOR: _OPERATOR, ADMIN: _ADMIN}


def role_needed(perm):
    """The lowest role holding `perm`, or None when no role has it (superusers only)."""
    for role, perms in ROLES.items():
        if perm in perms:
            return role
    return None


def role_of(user):
    """The highest role group the user belongs to ("" when none)."""
    names = set(user.groups.values_list("name", flat=True))
    found = [role for role in ROLES if role in names]
    return found[-1] if found else ""
