"""gunicorn settings; BIND and WEB_WORKERS come from the environment."""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
# Pages bound their own queries; long work runs in the task worker, not in a request.
timeout = 60
accesslog = os.environ.get("ACCESS_LOG", "-")
# The default format logs the request line with its query string ("%(r)s"): a token pasted
# into a URL (/metrics?token=...) would be kept in the log. Log the path alone (%(U)s), and
# neither the Referer (it carries the previous page's query) nor any header.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
