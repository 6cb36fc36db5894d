"""A whole rollout across two hosts: the web process (audit hook on: it may open neither file)
and two agent subprocesses, staging's and production's files in folders of their own. Two
admins review it: oscar runs the operations, checks and attestations, mia signs; every check
and every signature runs on the agent of its database."""

import re

import pytest

from metamorph_admin.tests.commands import manage
from metamorph_admin.tests.hosts import two_hosts, wait_for
from metamorph_admin.tests.web_process import csrf_of, serving

pytestmark = pytest.mark.dashboard_db


class Review:
    """One rollout's page as its two reviewers see it through the web process."""

    def __init__(self, web, oscar, mia):
        self.web, self.oscar, self.mia = web, oscar, mia
        self.url = ""

    def post(self, path, key, **data):
        status, html = self.web.get(self.url or "/rollouts/", key)
        status, html = self.web.post(path, key, {"csrfmiddlewaretoken": csrf_of(html), **data})
        assert status == 200 and "Traceback" not in html, html[-1500:]
        return html

    def page(self, key=None):
        status, html = self.web.get(self.url, key or self.oscar["production"])
        assert status == 200, html[-1500:]
        return html

    def row(self, key, html=None):
        html = html or self.page()
        start = html.index(f'<tr id="item-{key}"')
        return html[start : html.index("</tr>", start)]

    def status(self, key):
        return re.search(r'data-status="([\w-]+)"', self.row(key)).group(1)

    def check(self, key, *, until="pass"):
        """Run one item's check (its agent gathers it) and wait for `until`."""
        self.post(f"{self.url}items/{key}/check/", self.oscar["production"])
        wait_for(lambda: self.status(key) == until, f"{key} to be {until} ({self.row(key)})")

    def phase_checks(self, phase, keys):
        self.post(f"{self.url}phases/{phase}/check/", self.oscar["production"])

        def all_passed():
            html = self.page()
            return all(
                'data-status="pass"' in self.row(k, html)
                or 'data-status="info"' in self.row(k, html)
                for k in keys
            )

        wait_for(all_passed, f"phase {phase}'s checks to pass: {self.page()[-3000:]}")

    def attest(self, *keys):
        for key in keys:
            version = re.search(r'name="version" value="(\d+)"', self.row(key)).group(1)
            self.post(
                f"{self.url}items/{key}/attest/",
                self.oscar["production"],
                note=f"{key}: done by oscar, see the wiki",
                version=version,
            )
            assert self.status(key) == "attested"

    def sign(self, phase):
        """mia signs: the phase's agent re-runs its checks, then the signature is in."""
        html = self.post(f"{self.url}phases/{phase}/sign/", self.mia["production"])
        refused = re.search(r'class="flash error">([^<]+)<', html)
        assert refused is None, refused.group(1)

        def signed():
            html = self.page(self.mia["production"])
            state = re.search(rf'id="phase-{phase}" data-state="(\w+)"', html).group(1)
            refused = re.search(r'class="flash error sign-refused">([^<]+)<', html)
            assert refused is None, refused.group(1)
            return state == "signed"

        wait_for(signed, f"phase {phase} to be signed")

    def gathered_by(self, key):
        return re.search(r'data-read-by="([^"]*)" data-state="done"', self.row(key)).group(1)


def _job(web, key, kind, **data):
    """Start a `kind` job on the session's database from the web; wait until it succeeded."""
    status, html = web.get("/migrations/", key)
    status, html = web.post(
        f"/jobs/start/{kind}/", key, {"csrfmiddlewaretoken": csrf_of(html), **data}
    )
    job = re.search(r"/jobs/(\d+)/", web.location).group(1)

    def finished():
        state = re.search(r'id="job-state">(\w+)<', web.get(f"/jobs/{job}/", key)[1]).group(1)
        assert state not in ("Failed", "Interrupted"), web.get(f"/jobs/{job}/", key)[1][-2000:]
        return state == "Succeeded"

    wait_for(finished, f"{kind} job #{job} to succeed")


def test_a_rollout_from_checklist_to_signed_phase_2_across_two_agents(tmp_path, metamorph_db):
    backups = tmp_path / "backups"
    files, env = two_hosts(tmp_path, metamorph_db, backups, kind="legacy")
    with serving(tmp_path, files, env, backups) as (web, session):
        oscar = {name: session(name, "oscar", "admin") for name in files}
        mia = {name: session(name, "mia", "admin") for name in files}
        review = Review(web, oscar, mia)
        review.post(
            "/rollouts/new/",
            oscar["production"],
            name="vaults on two hosts",
            staging="staging",
            production="production",
            staging_url="",
            production_url="",
            backup_max_age_hours="24",
            planned_downtime_minutes="5",
        )
        review.url = re.search(r"(/rollouts/\d+/)", web.location).group(1)

        _job(web, oscar["production"], "backup", label="before the rollout", verify="full")
        _job(web, oscar["production"], "rehearsal")
        review.phase_checks(0, ["checklist-backup", "checklist-row-counts", "checklist-downtime"])
        review.attest("checklist-staging", "checklist-environment")
        review.sign(0)

        _job(
            web,
            oscar["staging"],
            "migration",
            take_backup="on",
            max_backup_age_hours="24",
            confirm="staging",
        )
        review.attest("p1-server", "p1-dev-mode", "p1-two-vaults")
        review.check("p1-isolation")
        review.sign(1)

        review.phase_checks(2, ["p2-backup", "p2-migration", "p2-indexes", "p2-isolation"])
        review.attest("p2-tokens")
        review.sign(2)

        staging_agent = f"agent pid {web.agents['staging']} on "
        production_agent = f"agent pid {web.agents['production']} on "
        for key in ("checklist-backup", "checklist-row-counts", "checklist-downtime"):
            assert review.gathered_by(key).startswith(production_agent), review.row(key)
        for key in ("p1-isolation", "p2-backup", "p2-migration", "p2-indexes", "p2-isolation"):
            assert review.gathered_by(key).startswith(staging_agent), review.row(key)

        status, report = web.get(f"{review.url}report.json", mia["production"])
        assert status == 200 and '"signed_by": "mia"' in report, report[:2000]
        exported = tmp_path / "report.json"
        exported.write_text(report)
        verified = manage("rolloutreport", "--verify", str(exported), env=env)
        assert verified.returncode == 0, verified.stderr
        assert "exported by mia from the web" in verified.stdout, verified.stdout
        assert web.touched() == [], "\n\n".join(web.touched())
