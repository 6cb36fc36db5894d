from django.conf import settings
from django.urls import NoReverseMatch, reverse

# Pages in menu order; a page whose app is not wired yet is simply not shown.
NAV = (
    ("vaults:dashboard", "Vaults"), ("vaults:indexes", "Indexes"), ("vaults:health", "Health"),
    ("vaults:checks", "Checks"), ("migrations_ui:migrations", "Migrations"),
    ("migrations_ui:backups", "Backups"), ("vaults:remap", "Remap"),
    ("migrations_ui:rollout", "Rollout"), ("core:jobs", "Jobs"),
    ("core:audit", "Audit"),
)


def metamorph(request):
    items = []
    for name, label in NAV:
        try:
            url = reverse(name)
        except NoReverseMatch:
            continue
        items.append({"url": url, "label": label,
                      "active": request.path == url or (url != "/" and request.path.startswith(url))})
    return {"nav_items": items, "metamorph_path": settings.METAMORPH_DATABASE_PATH}
