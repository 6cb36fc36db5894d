from django.urls import NoReverseMatch, reverse

from metamorph_admin import agents, databases
from metamorph_admin.roles import role_needed

# Pages in menu order; a page whose app is not wired yet is simply not shown.
NAV = (
    ("vaults:dashboard", "Vaults"),
    ("vaults:indexes", "Indexes"),
    ("vaults:health", "Health"),
    ("vaults:checks", "Checks"),
    ("migrations_ui:migrations", "Migrations"),
    ("migrations_ui:backups", "Backups"),
    ("vaults:remap", "Remap"),
    ("rollouts:list", "Rollouts"),
    ("core:jobs", "Jobs"),
    ("core:audit", "Audit"),
)
# Pages a role may not open: shown greyed with the role they need, never a link to a 403.
NEEDS = {"core:audit": "metamorph_admin.view_audit"}


def metamorph(request):
    items = []
    for name, label in NAV:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        perm = NEEDS.get(name)
        needs = role_needed(perm) if perm and not request.user.has_perm(perm) else ""
        items.append(
            {
                "url": url,
                "label": label,
                "needs": needs,
                "active": request.path == url or (url != "/" and request.path.startswith(url)),
            }
        )
    db = databases.current_database(request)
    return {
        "nav_items": items,
        "metamorph_path": db.path,
        "metamorph_database": db,
        "metamorph_databases": databases.configured(),
        "agent": agents.state_of(db) if request.user.is_authenticated else None,
    }
