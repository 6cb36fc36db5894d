"""What a finished job did, in words: the summary every job page leads with.

A job kind may name a `summary` function (job -> JobSummary); kinds without one get the
generic summary of their result's plain values. Builders read the result with .get() and
skip what is absent, so a result that gains or loses keys still has a page.
"""

from dataclasses import dataclass, field

from django.urls import reverse

from metamorph_admin.formatting import plain, size


@dataclass
class Link:
    label: str
    href: str


@dataclass
class Fact:
    label: str
    value: str
    href: str = ""
    code: bool = False  # a name or checksum: shown in a monospace font


@dataclass
class Finding:
    ok: bool | None  # True passed, False failed, None information
    text: str


@dataclass
class SummaryTable:
    id: str
    title: str
    columns: list[str]
    rows: list[list]  # cells; ints get thousands separators in the template
    numeric: list[bool] = field(default_factory=list)

    def __post_init__(self):
        if not self.numeric:
            self.numeric = [i > 0 for i in range(len(self.columns))]


@dataclass
class JobSummary:
    headline: str = ""
    facts: list[Fact] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    tables: list[SummaryTable] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    def fact(self, label, value, href="", code=False):
        if value not in (None, "", [], {}):
            self.facts.append(Fact(label, plain(value), href, code))


def words(key):
    """'longest_transaction_s' -> 'longest transaction (s)'."""
    text = str(key).replace("_", " ")
    for suffix, unit in ((" seconds", " (s)"), (" s", " (s)"), (" bytes", "")):
        if text.endswith(suffix):
            return text[: -len(suffix)] + unit
    return text


def add_plain_values(summary, result, skip=()):
    """Every plain value of `result` not in `skip`, in words; nested data stays in the raw
    details."""
    for key, value in (result or {}).items():
        if key not in skip and not isinstance(value, (dict, list)):
            summary.fact(words(key), size(value) if str(key).endswith("bytes") else value)
    return summary


def generic(job):
    return add_plain_values(JobSummary(), job.result)


def backup_link(name):
    """The backup's own page (404 inside the site when it is gone)."""
    return reverse("migrations_ui:backup", args=[name]) if name else ""


def row_counts_table(row_counts, title="Rows per table", table_id="rows-per-table"):
    rows = [
        [t, e.get("total")]
        for t, e in (row_counts or {}).items()
        if isinstance(e, dict) and e.get("total") is not None
    ]
    if not rows:
        return None
    return SummaryTable(table_id, title, ["table", "rows"], rows)


def vault_table(vault_totals, limit=20):
    ranked = sorted((vault_totals or {}).items(), key=lambda kv: -kv[1])
    if not ranked:
        return None
    title = "Rows per vault" + (
        f" (largest {limit} of {len(ranked):,})" if len(ranked) > limit else ""
    )
    return SummaryTable(
        "rows-per-vault", title, ["vault", "rows"], [list(kv) for kv in ranked[:limit]]
    )


def add_tables(summary, *tables):
    summary.tables.extend(t for t in tables if t is not None)


def integrity_check(job):
    r = job.result or {}
    s = JobSummary(
        headline="integrity_check: ok." if r.get("ok") else "integrity_check found problems."
    )
    s.fact("seconds", r.get("seconds"))
    s.fact("read", r.get("method"))
    if r.get("note"):
        s.findings.append(Finding(True, r["note"]))
    for message in r.get("messages") or []:
        if message != "ok":
            s.findings.append(Finding(False, str(message)))
    s.links.append(Link("Health page", reverse("vaults:health")))
    return s
