"""A small fake Metamorph server on 127.0.0.1 that answers from a real database file.

mode "prod": bearer tokens map to vaults; /api/sessions and /api/memories answer that vault's
rows from the database. "dev": every request is dev-vault, X-Vault-Id ignored, and
/api/memories reads default-vault, as the real build's does. "leaky": like
prod but /api/memories ignores the vault (a broken server). "slow": never answers in time.
"busy": dev, and a client creates a session before every /api/sessions answer.
"real-dev" / "real-prod": what the real feature/multitenancy build does (§8): sessions come
from JSON files (ids the database does not hold) whatever the vault, /api/memories always reads
default-vault, and each memories request writes a session file (counted).
"""

import json
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeMetamorph:
    def __init__(self, db_path, mode="prod", tokens=None, delay=3.0):
        self.db_path, self.mode, self.tokens, self.delay = db_path, mode, tokens or {}, delay
        self.seen_headers: list[dict[str, str]] = []
        self.session_files = [f"json-session-{n}" for n in range(3)]  # ./data/sessions/*.json
        self.session_files_written = 0
        self.created_sessions: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.seen_headers.append(dict(self.headers))
                status, body = fake.answer(self.path, self.headers)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def _rows(self, sql, params=()):
        conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)
        try:
            return [r[0] for r in conn.execute(sql, params)]
        finally:
            conn.close()

    def answer(self, path, headers):
        if self.mode == "slow":
            time.sleep(self.delay)
        if path in ("/api/health", "/health"):
            return 200, {"status": "ok", "timestamp": time.time()}
        vault: str | None
        if self.mode in ("dev", "busy", "real-dev"):
            vault = "dev-vault"
        else:
            auth = headers.get("Authorization", "")
            if not auth.startswith("Bearer "):
                return 401, {"error": "Authentication required", "code": "MISSING_TOKEN"}
            vault = self.tokens.get(auth[7:])
            if vault is None:
                return 401, {"error": "Invalid token", "code": "INVALID_TOKEN"}
        real = self.mode.startswith("real")
        if path.startswith("/api/sessions"):
            if real:
                return 200, {"sessions": [{"id": i} for i in self.session_files]}
            if self.mode == "busy":
                self.created_sessions.append(f"{vault}:busy-{len(self.created_sessions)}")
            ids = self._rows(
                "SELECT id FROM session_states WHERE vault_id = ? ORDER BY id", (vault,)
            )
            return 200, {"sessions": [{"id": i} for i in ids + self.created_sessions]}
        if path.startswith("/api/memories"):
            if real:
                self.session_files_written += 1
                self.session_files.append(f"json-session-{len(self.session_files)}")
            if real or vault == "dev-vault":
                vault = "default-vault"  # the real build's /api/memories (§8)
            if self.mode == "leaky":
                ids = self._rows("SELECT id FROM semantic_memory ORDER BY id LIMIT 500")
            else:
                ids = self._rows(
                    "SELECT id FROM semantic_memory WHERE vault_id = ? ORDER BY id LIMIT 500",
                    (vault,),
                )
            return 200, {"memories": [{"id": i, "content": "x"} for i in ids]}
        return 404, {"error": "Not found", "code": "NOT_FOUND"}
