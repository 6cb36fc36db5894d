"""Exported reports: signed by this dashboard, recorded (hash, who, when), and checked.

The signature is an HMAC (Django's signing) of the document's content-sha256 with
REPORT_SIGNING_KEY (unset: SECRET_KEY, with this module's own salt). It proves that a
dashboard holding that key wrote the document unchanged; the export table says which user
exported it and when. It does not prove the evidence inside was true, nor can anyone without
the key check it: `rolloutreport --verify FILE` runs on the dashboard.
"""

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.utils.crypto import constant_time_compare

from rollouts import report
from rollouts.models import ReportExport

SALT = "metamorph-admin.rollout-report.v1"
AUDIT = "metamorph_admin.view_audit"


def _signature(digest):
    key = settings.REPORT_SIGNING_KEY or settings.SECRET_KEY
    return signing.Signer(key=key, salt=SALT).signature(digest)


@dataclass(frozen=True)
class Exported:
    text: str
    sha256: str
    record: ReportExport


def export(rollout, fmt, *, user, origin):
    """The signed document in `fmt` for `user` (the audit trail only with the audit
    permission), recorded as exported by them."""
    include_audit = user.has_perm(AUDIT)
    text = report.render_unsigned(
        rollout, fmt, exported_by=user.get_username(), include_audit=include_audit
    )
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    text = text.replace(report.ZERO, digest).replace(report.UNSIGNED, _signature(digest))
    record = ReportExport.objects.create(
        rollout=rollout,
        rollout_name=rollout.name,
        format=fmt,
        sha256=digest,
        exported_by=user.get_username(),
        user=user,
        origin=origin,
        audit_included=include_audit,
    )
    return Exported(text, digest, record)


@dataclass(frozen=True)
class Verdict:
    ok: bool
    message: str  # one line for the operator
    sha256: str | None = None
    record: ReportExport | None = None


def verify(text):
    """Whether `text` is a report this dashboard exported, unchanged: hash, signature, and the
    export table's record of that exact document."""
    written, signature = report.written_marks(text)
    if written is None:
        return Verdict(False, "carries no content-sha256: not a rollout report.")
    if signature is None:
        return Verdict(
            False,
            "carries no content-signature: it was not issued by this version of the "
            "dashboard (or its signature was removed).",
            written,
        )
    unsigned = text.replace(written, report.ZERO).replace(signature, report.UNSIGNED)
    actual = hashlib.sha256(unsigned.encode("utf-8")).hexdigest()
    if actual != written:
        return Verdict(
            False,
            f"was changed after it was written: its content does not match content-sha256 "
            f"{written}.",
            written,
        )
    if not constant_time_compare(_signature(written), signature):
        return Verdict(
            False,
            "has a content-signature this dashboard did not make: it was not issued here "
            "(or was re-hashed after an edit), whatever its content-sha256 says.",
            written,
        )
    record = ReportExport.objects.filter(sha256=written).first()
    if record is None:
        return Verdict(
            False,
            f"is signed with this dashboard's key but its export table has no record of "
            f"content-sha256 {written}: another dashboard sharing the key wrote it, or the "
            "record was lost.",
            written,
        )
    return Verdict(
        True,
        f"unchanged since this dashboard issued it: rollout {record.rollout_name!r} "
        f"({record.format}), exported by {record.exported_by} from the "
        f"{'command line' if record.origin == 'cli' else 'web'} at "
        f"{record.exported_at:%Y-%m-%d %H:%M:%S} UTC (content-sha256 {written}).",
        written,
        record,
    )
