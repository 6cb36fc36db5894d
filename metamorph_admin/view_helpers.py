"""Helpers every page uses: a Metamorph problem as a page, and a safe way back."""

import functools
import sqlite3

from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from metamorph.connection import translate_error
from metamorph.errors import MetamorphError
from metamorph_admin import databases


def metamorph_page(view):
    """Render a MetamorphError (missing file, not SQLite, locked, damaged…) as a page, never a
    500; an SQLite error no reader translated (a damaged page met anywhere) is translated here."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except MetamorphError as exc:
            return render(request, "metamorph_admin/problem.html", {"problem": str(exc)})
        except sqlite3.DatabaseError as exc:
            problem = translate_error(exc, databases.current().path)
            return render(request, "metamorph_admin/problem.html", {"problem": str(problem)})

    return wrapper


def redirect_next(request, default="core:jobs"):
    """Back to the POSTed `next` page when it is on this site, else to `default`."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(default)
