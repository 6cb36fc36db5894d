"""gunicorn settings; BIND and WEB_WORKERS come from the environment."""

import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", "2"))
# Pages bound their own queries; long work runs in the task worker, not in a request.
timeout = 60
accesslog = "-"
