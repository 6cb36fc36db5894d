"""A small threaded load client for the dashboard: N clients, loopback only, bounded.

    python bench/load.py --url http://127.0.0.1:8000 --clients 50 --duration 60

Logs in once (LOAD_USERNAME / LOAD_PASSWORD), then each client thread walks the pages in
turn (each starts at a different page), waiting --think seconds (±50 %) between requests, as
people reading a dashboard do; --think 0 hammers (a saturation test). Stops after --duration
seconds or --max-requests requests, whichever comes first, and prints p50/p95/p99/max per page.
Only 127.0.0.0/8, ::1 and localhost are accepted: this is never pointed at someone's server.
"""

import argparse
import http.client
import ipaddress
import json
import os
import random
import re
import socket
import statistics
import sys
import threading
import time
import urllib.parse

PAGES = [
    "/",
    "/vault/?id=vault-0001",
    "/indexes/",
    "/health/",
    "/checks/",
    "/migrations/",
    "/backups/",
    "/remap/",
    "/jobs/",
    "/audit/",
    "/snapshot/status/",
]
MAX_DURATION = 600
MAX_REQUESTS = 200_000
MAX_CLIENTS = 200


def loopback_only(url):
    """(host, port) of `url`, or SystemExit unless it is this machine."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"--url must be http://127.0.0.1:PORT (got {url!r})")
    for info in socket.getaddrinfo(parts.hostname, parts.port or 80, proto=socket.IPPROTO_TCP):
        if not ipaddress.ip_address(info[4][0]).is_loopback:
            raise SystemExit(
                f"{parts.hostname} is not a loopback address: the load test only "
                "runs against this machine."
            )
    return parts.hostname, parts.port or 80


def _cookies(response, jar):
    for header, value in response.getheaders():
        if header.lower() == "set-cookie":
            name, _, rest = value.partition("=")
            jar[name.strip()] = rest.split(";", 1)[0]


def _cookie_header(jar):
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def login(host, port, username, password):
    """The session cookies of a logged-in user."""
    jar = {}
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/login/")
    response = conn.getresponse()
    page = response.read().decode()
    _cookies(response, jar)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    if not token:
        raise SystemExit("No login form at /login/: is this metamorph-admin?")
    body = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)}
    )
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request(
        "POST",
        "/login/",
        body,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": _cookie_header(jar),
            "Referer": f"http://{host}:{port}/login/",
        },
    )
    response = conn.getresponse()
    response.read()
    _cookies(response, jar)
    if response.status != 302 or "sessionid" not in jar:
        raise SystemExit(
            f"Login as {username!r} failed (HTTP {response.status}): set "
            "LOAD_USERNAME and LOAD_PASSWORD to a dashboard login."
        )
    return jar


class Run:
    """Shared state of one load run: the deadline, the request budget and the results."""

    def __init__(self, duration, max_requests):
        self.deadline = time.monotonic() + duration
        self.budget = max_requests
        self.lock = threading.Lock()
        self.results = []  # (page, seconds, status)

    def take(self):
        with self.lock:
            if self.budget <= 0 or time.monotonic() >= self.deadline:
                return False
            self.budget -= 1
            return True

    def add(self, page, seconds, status):
        with self.lock:
            self.results.append((page, seconds, status))


def client(run, host, port, cookie, pages, first, think, seed):
    rng = random.Random(seed)
    time.sleep(rng.uniform(0, think or 0.05))  # clients do not all start in the same ms
    i = first
    while run.take():
        page = pages[i % len(pages)]
        i += 1
        started = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(host, port, timeout=60)
            conn.request("GET", page, headers={"Cookie": cookie})
            response = conn.getresponse()
            response.read()
            status = response.status
            conn.close()
        except (OSError, http.client.HTTPException):
            status = 0
        run.add(page, time.perf_counter() - started, status)
        if think:
            time.sleep(rng.uniform(0.5 * think, 1.5 * think))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summarize(results, seconds):
    """{page: {n, errors, p50, p95, p99, max}} in milliseconds, plus "all"."""
    by_page = {}
    for page, took, status in results:
        by_page.setdefault(page, []).append((took, status))
    by_page["all"] = [(took, status) for _, took, status in results]
    out = {}
    for page, rows in by_page.items():
        times = [t * 1000 for t, _ in rows]
        out[page] = {
            "n": len(rows),
            "errors": sum(1 for _, s in rows if s != 200),
            "p50": percentile(times, 50),
            "p95": percentile(times, 95),
            "p99": percentile(times, 99),
            "max": max(times),
            "mean": statistics.fmean(times),
        }
    out["all"]["per_second"] = len(results) / seconds if seconds else 0
    return out


def run_load(
    url, clients, duration, max_requests, think, pages=PAGES, username=None, password=None
):
    """Run the load and return its summary (see summarize)."""
    if not 1 <= clients <= MAX_CLIENTS:
        raise SystemExit(f"--clients must be 1 to {MAX_CLIENTS}")
    duration = min(max(1.0, duration), MAX_DURATION)
    max_requests = min(max(1, max_requests), MAX_REQUESTS)
    host, port = loopback_only(url)
    jar = login(
        host,
        port,
        username or os.environ.get("LOAD_USERNAME", ""),
        password or os.environ.get("LOAD_PASSWORD", ""),
    )
    cookie = _cookie_header(jar)
    run = Run(duration, max_requests)
    started = time.monotonic()
    threads = [
        threading.Thread(
            target=client, daemon=True, args=(run, host, port, cookie, pages, n, think, n)
        )
        for n in range(clients)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 120)
    return summarize(run.results, time.monotonic() - started)


def print_summary(summary, title=""):
    if title:
        print(f"  {title}")
    print(f"  {'page':<24} {'n':>6} {'err':>4} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  ms")
    for page, s in summary.items():
        print(
            f"  {page:<24} {s['n']:>6} {s['errors']:>4} {s['p50']:>7.0f} {s['p95']:>7.0f} "
            f"{s['p99']:>7.0f} {s['max']:>7.0f}"
        )
    print(f"  {summary['all']['per_second']:.1f} requests/s")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument(
        "--duration", type=float, default=60, help=f"seconds (at most {MAX_DURATION})"
    )
    parser.add_argument("--max-requests", type=int, default=20000)
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="seconds each client waits between requests (±50 %%); 0 hammers",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    summary = run_load(args.url, args.clients, args.duration, args.max_requests, args.think)
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
    else:
        print_summary(summary, f"{args.clients} clients, think {args.think} s, {args.url}")


if __name__ == "__main__":
    main()
