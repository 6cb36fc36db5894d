"""The review report: every item with its evidence and numbers, the sign-offs and re-openings,
the timeline and the audit trail, as JSON, Markdown or self-contained A4-printable HTML.

Each document carries the tool version and `content-sha256`: the sha256 of the document with
that hash written as 64 zeros, so `rolloutreport --verify FILE` tells an edited copy.
"""

import hashlib
import json
import re

from django.template.loader import render_to_string
from django.utils import timezone

from metamorph_admin.formatting import num
from metamorph_admin.version import VERSION
from rollouts import selectors
from rollouts.definitions import CHECKLIST

FORMATS = ("html", "md", "json")
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "json": "application/json",
}
ZERO = "0" * 64
HASH_MARKERS = [
    re.compile(p)
    for p in (
        r'content-sha256" content="([0-9a-f]{64})"',
        r"content-sha256: ([0-9a-f]{64})",
        r'"content_sha256": "([0-9a-f]{64})"',
    )
]


def _iso(value):
    return value.isoformat(timespec="seconds") if value else None


def build(rollout):
    """The report as plain data (what the three formats show)."""
    views = selectors.phase_views(rollout)
    glance = selectors.glance(views)
    return {
        "format_version": 1,
        "tool": "metamorph-admin",
        "tool_version": VERSION,
        "generated_at": _iso(timezone.now()),
        "rollout": {
            "name": rollout.name,
            "created_by": rollout.created_by,
            "created_at": _iso(rollout.created_at),
            "databases": selectors.database_states(rollout),
            "backup_max_age_hours": rollout.backup_max_age_hours,
            "planned_downtime_minutes": rollout.planned_downtime_minutes,
        },
        "at_a_glance": {
            "current_phase": glance.current.phase.label if glance.current else "all phases signed",
            "items_passed": glance.passed,
            "items_total": glance.total,
            "missing": glance.missing,
            "signed": [f"{v.phase.label}: {v.signoff.signed_by}" for v in glance.signed],
        },
        "phases": [_phase(v) for v in views],
        "timeline": [
            {"at": _iso(at), "actor": actor, "what": what, "outcome": outcome}
            for at, actor, what, outcome, _ in selectors.timeline(rollout)
        ],
        "audit": [
            {
                "at": _iso(r.at),
                "actor": r.actor,
                "origin": r.origin,
                "action": r.action,
                "target": r.target,
                "outcome": r.outcome,
                "message": r.message,
                "job": r.job_id,
            }
            for r in selectors.audit_trail(rollout)
        ],
    }


def _phase(view):
    return {
        "number": view.phase.number,
        "label": view.phase.label,
        "goal": view.phase.goal,
        "state": view.state,
        "blockers": view.blockers,
        "items": [
            {
                "key": i.item.key,
                "title": i.definition.title,
                "mode": i.mode,
                "database": i.definition.db,
                "status": i.item.status,
                "summary": i.item.summary,
                "numbers": i.item.numbers,
                "evidence": i.item.evidence,
                "last_run_at": _iso(i.item.last_run_at),
                "last_run_by": i.item.last_run_by,
                "last_passed_at": _iso(i.item.last_passed_at),
                "note": i.item.note,
                "attested_by": i.item.attested_by,
                "attested_at": _iso(i.item.attested_at),
            }
            for i in view.items
        ],
        "signoffs": [
            {
                "signed_by": s.signed_by,
                "signed_at": _iso(s.signed_at),
                "evidence_sha256": s.evidence_sha256,
                "reopened_by": s.reopened_by,
                "reopened_at": _iso(s.reopened_at),
                "reopen_reason": s.reopen_reason,
                "evidence": s.evidence,
            }
            for s in view.history
        ],
    }


def render(rollout, fmt):
    """(document text, its content sha256) in `fmt` (html, md or json)."""
    data = build(rollout)
    if fmt == "json":
        text = json.dumps({"content_sha256": ZERO, **data}, indent=2, default=str) + "\n"
    elif fmt == "md":
        text = markdown(data)
    elif fmt == "html":
        text = render_to_string(
            "rollouts/report.html", {"r": data, "zero": ZERO, "checklist": CHECKLIST}
        )
    else:
        raise ValueError(f"Unknown report format {fmt!r}: one of {', '.join(FORMATS)}.")
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return text.replace(ZERO, digest), digest


def verify(text):
    """(ok, hash written in the document): whether the content matches its content-sha256."""
    found = [m for m in (p.search(text) for p in HASH_MARKERS) if m]
    if not found:
        return False, None
    written = min(found, key=lambda m: m.start()).group(1)
    actual = hashlib.sha256(text.replace(written, ZERO).encode("utf-8")).hexdigest()
    return actual == written, written


def _md_cell(value):
    return str(value if value is not None else "—").replace("|", "\\|").replace("\n", " ")


def markdown(data):
    r = data["rollout"]
    g = data["at_a_glance"]
    lines = [
        f"<!-- metamorph-admin rollout report · content-sha256: {ZERO} -->",
        f"# Rollout review: {r['name']}",
        "",
        f"Written by metamorph-admin {data['tool_version']} at {data['generated_at']}. "
        f"Created by {r['created_by']} at {r['created_at']}.",
        "",
        "| database | name | path | server URL | configured |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {d['role']} | {_md_cell(d['name'])} | `{d['path']}` | "
        f"{_md_cell(d['url'] or None)} | {'yes' if d['configured'] else 'removed'} |"
        for d in r["databases"]
    ]
    lines += [
        "",
        f"**Where it stands:** {g['current_phase']} · {g['items_passed']} of "
        f"{g['items_total']} items passed · signed: {', '.join(g['signed']) or 'none'}",
    ]
    if g["missing"]:
        lines += ["", "Missing before the next signature:"] + [f"- {m}" for m in g["missing"]]
    for phase in data["phases"]:
        lines += _md_phase(phase)
    lines += ["", "## Timeline", "", "| at | who | what | outcome |", "|---|---|---|---|"]
    lines += [
        f"| {t['at']} | {_md_cell(t['actor'])} | {_md_cell(t['what'])} | {_md_cell(t['outcome'])} |"
        for t in data["timeline"]
    ]
    lines += [
        "",
        "## Audit trail",
        "",
        "| at | who | action | target | outcome | message |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {a['at']} | {_md_cell(a['actor'])} | {a['action']} | {_md_cell(a['target'])} "
        f"| {a['outcome']} | {_md_cell(a['message'][:200])} |"
        for a in data["audit"]
    ]
    lines += [
        "",
        f"content-sha256 (of this document with the hash written as 64 zeros): `{ZERO}`",
        "",
    ]
    return "\n".join(lines)


def _md_phase(phase):
    lines = [
        "",
        f"## {phase['label']} ({phase['state']})",
        "",
        phase["goal"],
        "",
        "| item | how | status | summary | last passed |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {_md_cell(i['title'])} | {i['mode']} ({i['database']}) | {i['status']} | "
        f"{_md_cell(i['summary'] or i['note'])} | "
        f"{_md_cell(i['last_passed_at'] or i['attested_at'])} |"
        for i in phase["items"]
    ]
    for i in phase["items"]:
        if i["numbers"] or i["evidence"] or i["note"]:
            lines += ["", f"**{i['title']}**"]
            lines += [f"- {k}: {_md_cell(num(v))}" for k, v in i["numbers"].items()]
            lines += [
                f"- evidence: {_md_cell(e['label'])}"
                + (f" — {_md_cell(e.get('text'))}" if e.get("text") else "")
                for e in i["evidence"]
            ]
            if i["note"]:
                lines.append(
                    f"- attested by {i['attested_by']} at {i['attested_at']}: {_md_cell(i['note'])}"
                )
    for s in phase["signoffs"]:
        lines += [
            "",
            f"Signed by **{s['signed_by']}** at {s['signed_at']} (frozen evidence "
            f"sha256 `{s['evidence_sha256']}`). As signed:",
        ]
        lines += [
            f"- {_md_cell(e['title'])}: {e['status']} — {_md_cell(e['summary'] or e['note'])}"
            for e in s["evidence"]
        ]
        if s["reopened_at"]:
            lines.append(
                f"Re-opened by **{s['reopened_by']}** at {s['reopened_at']}: "
                f"{_md_cell(s['reopen_reason'])}"
            )
    return lines
