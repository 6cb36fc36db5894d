"""The migration guide's pre-migration checklist and five phases, with their items.

mode: "check" (the tool gathers the evidence), "live" (a check against the Metamorph server;
attested instead when the rollout gives no URL for that database) or "attest" (a person
confirms with a note). `db` says which of the rollout's databases the item is about.
"""

from dataclasses import dataclass

CHECKLIST = 0


@dataclass(frozen=True)
class Phase:
    number: int
    title: str
    goal: str

    @property
    def label(self):
        return (
            "Pre-migration checklist"
            if self.number == CHECKLIST
            else (f"Phase {self.number}: {self.title}")
        )


@dataclass(frozen=True)
class ItemDef:
    key: str
    phase: int
    title: str
    mode: str  # check | live | attest
    db: str  # staging | production
    check: str = ""  # name of the gatherer in rollouts.checks (check and live items)
    guide: str = ""  # what the guide asks, shown beside the item


PHASES = [
    Phase(
        0,
        "Pre-migration checklist",
        "Backup, row counts, downtime plan, staging test, "
        "environment review — before anything changes.",
    ),
    Phase(1, "Development testing", "Dev mode, two vaults, isolation on a development copy."),
    Phase(
        2,
        "Staging",
        "Migrate the staging database, test with real tokens, vault-scoped query performance.",
    ),
    Phase(
        3,
        "Production, legacy mode",
        "EMBLEM_DEV_MODE=false, a JWT secret, existing users on default-vault.",
    ),
    Phase(
        4,
        "Full multitenancy",
        "New users get their own vaults, existing users optionally remapped, isolation monitored.",
    ),
    Phase(
        5, "Cleanup", "No default-vault data left where it should not be; final state documented."
    ),
]
PHASE = {p.number: p for p in PHASES}

ITEMS = [
    ItemDef(
        "checklist-backup",
        0,
        "Verified backup of production",
        "check",
        "production",
        "backup_before_migrating",
        "Backup your database before migrating.",
    ),
    ItemDef(
        "checklist-row-counts",
        0,
        "Row counts recorded",
        "check",
        "production",
        "row_counts",
        "Record the row count of every table.",
    ),
    ItemDef(
        "checklist-downtime",
        0,
        "Rehearsal within the planned downtime",
        "check",
        "production",
        "rehearsal",
        "Plan the downtime; test the migration on a copy.",
    ),
    ItemDef(
        "checklist-staging",
        0,
        "Staging environment ready for the test",
        "attest",
        "staging",
        guide="Test in staging first.",
    ),
    ItemDef(
        "checklist-environment",
        0,
        "Environment variables reviewed",
        "attest",
        "production",
        guide="EMBLEM_DEV_MODE, the JWT secret and DATABASE_PATH reviewed.",
    ),
    ItemDef(
        "p1-server",
        1,
        "Development server reachable",
        "live",
        "staging",
        "live_health",
        "Start the server in dev mode.",
    ),
    ItemDef(
        "p1-dev-mode",
        1,
        "X-Vault-Id test (dev mode)",
        "live",
        "staging",
        "live_dev_mode",
        "curl with two X-Vault-Id headers.",
    ),
    ItemDef(
        "p1-two-vaults",
        1,
        "Data written in two vaults",
        "attest",
        "staging",
        guide="Create sessions and memories in two vaults.",
    ),
    ItemDef(
        "p1-isolation",
        1,
        "Isolation audit of the database",
        "check",
        "staging",
        "isolation_audit",
        "Verify each vault sees only its own data.",
    ),
    ItemDef(
        "p2-backup",
        2,
        "Verified backup of staging",
        "check",
        "staging",
        "recent_backup",
        "Back up the staging database.",
    ),
    ItemDef(
        "p2-migration",
        2,
        "Migrations applied and verified on staging",
        "check",
        "staging",
        "migration_verified",
        "Run the migrations on staging.",
    ),
    ItemDef(
        "p2-indexes",
        2,
        "Index health and vault-scoped query plans",
        "check",
        "staging",
        "index_health",
        "Check vault-scoped query performance.",
    ),
    ItemDef(
        "p2-isolation",
        2,
        "Isolation audit of staging",
        "check",
        "staging",
        "isolation_audit",
        "Verify vault isolation.",
    ),
    ItemDef(
        "p2-tokens",
        2,
        "Isolation through the API with two real tokens",
        "live",
        "staging",
        "live_isolation",
        "Test with real JWT tokens.",
    ),
    ItemDef(
        "p3-backup",
        3,
        "Verified backup of production",
        "check",
        "production",
        "backup_before_migrating",
        "Back up production just before migrating.",
    ),
    ItemDef(
        "p3-migration",
        3,
        "Migrations applied and verified on production",
        "check",
        "production",
        "migration_verified",
        "Run the migrations on production.",
    ),
    ItemDef(
        "p3-indexes",
        3,
        "Index health and vault-scoped query plans",
        "check",
        "production",
        "index_health",
        "Indexes present and used.",
    ),
    ItemDef(
        "p3-legacy",
        3,
        "Existing users' data in default-vault",
        "check",
        "production",
        "legacy_in_default_vault",
        "Existing users keep working on default-vault.",
    ),
    ItemDef(
        "p3-server",
        3,
        "Production server reachable",
        "live",
        "production",
        "live_health",
        "The server is up after the restart.",
    ),
    ItemDef(
        "p3-dev-mode-off",
        3,
        "Dev mode off (EMBLEM_DEV_MODE=false)",
        "live",
        "production",
        "live_dev_mode_off",
        "Disable dev mode in production.",
    ),
    ItemDef(
        "p3-jwt",
        3,
        "JWT secret set",
        "attest",
        "production",
        guide="Configure the JWT secret / JWKS.",
    ),
    ItemDef(
        "p4-distribution",
        4,
        "New users get their own vaults",
        "check",
        "production",
        "vault_distribution",
        "New users are created in their own vaults.",
    ),
    ItemDef(
        "p4-remap",
        4,
        "Remap plans executed and audited",
        "check",
        "production",
        "remap_plans",
        "Optionally move existing users to their own vaults.",
    ),
    ItemDef(
        "p4-isolation",
        4,
        "Isolation audit of production",
        "check",
        "production",
        "isolation_audit",
        "Monitor vault isolation.",
    ),
    ItemDef(
        "p4-tokens",
        4,
        "Isolation through the API with two real tokens",
        "live",
        "production",
        "live_isolation",
        "Verify isolation with production tokens.",
    ),
    ItemDef(
        "p4-monitoring",
        4,
        "Isolation monitoring in place",
        "attest",
        "production",
        guide="Monitor for cross-vault access.",
    ),
    ItemDef(
        "p5-leftovers",
        5,
        "Rows left in default-vault",
        "check",
        "production",
        "default_vault_leftovers",
        "No default-vault data left where it should not be.",
    ),
    ItemDef(
        "p5-isolation",
        5,
        "Final isolation audit",
        "check",
        "production",
        "isolation_audit",
        "Final verification.",
    ),
    ItemDef(
        "p5-documented",
        5,
        "Final state documented",
        "attest",
        "production",
        guide="Document the final state.",
    ),
]
ITEM = {i.key: i for i in ITEMS}


def items_of(phase):
    return [i for i in ITEMS if i.phase == phase]
