"""The header's database switcher: the session remembers which database the pages are about."""

from django.contrib import messages
from django.views.decorators.http import require_POST

from metamorph_admin import databases
from metamorph_admin.view_helpers import redirect_next


@require_POST
def switch_database(request):
    """Make the POSTed database the current one for this login, then go back to the page."""
    db = databases.get(request.POST.get("database", ""))
    if db is None:
        messages.error(
            request,
            "There is no such database in METAMORPH_DATABASES: the pages "
            f"stay on {databases.current_database(request).name}.",
        )
    else:
        request.session[databases.SESSION_KEY] = db.name
    return redirect_next(request, "vaults:dashboard")
