"""The header's database switcher: the session remembers which database the pages are about."""
from django.contrib import messages
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from metamorph_admin import databases


@require_POST
def switch_database(request):
    """Make the POSTed database the current one for this login, then go back to the page."""
    db = databases.get(request.POST.get("database", ""))
    if db is None:
        messages.error(request, "There is no such database in METAMORPH_DATABASES: the pages "
                                f"stay on {databases.current_database(request).name}.")
    else:
        request.session[databases.SESSION_KEY] = db.name
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = "/"
    return redirect(target)
