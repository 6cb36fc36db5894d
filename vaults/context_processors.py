"""What every page shows about the configured Metamorph file: a known problem, with its time."""

from metamorph_admin import databases
from vaults import selectors


def file_problem(request):
    """The newest background read's or integrity check's finding, for the banner in base.html."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"metamorph_problem": selectors.known_file_problem(databases.current().path)}
