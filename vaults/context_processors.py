"""What every page shows about the configured Metamorph file: a known problem, with its time."""
from django.conf import settings

from vaults import selectors


def file_problem(request):
    """The newest background read's or integrity check's finding, for the banner in base.html."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"metamorph_problem": selectors.known_file_problem(settings.METAMORPH_DATABASE_PATH)}
