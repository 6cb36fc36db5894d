"""Logging filters: a refused request is one line in the server log, not a traceback."""

import logging


class OneLineRefusals(logging.Filter):
    """Drop the traceback Django attaches to 4xx responses (a 403 is a refusal, not a bug).

    The line keeps method, path, status and user, e.g.
    `Forbidden (Permission denied): POST /jobs/start/backup/ 403 user=viewer`.
    5xx responses keep their traceback: those are bugs.
    """

    def filter(self, record):
        status = getattr(record, "status_code", None)
        if status is not None and 400 <= status < 500 and record.exc_info:
            record.exc_info, record.exc_text = None, None
            request = getattr(record, "request", None)
            if request is not None:
                user = getattr(request, "user", None)
                name = user.get_username() if user is not None and user.is_authenticated else "-"
                name = name.replace("%", "%%")  # record.msg is a %-format string
                record.msg = f"{record.msg} ({request.method}, {status}, user={name})"
        return True
