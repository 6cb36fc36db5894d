"""The job kinds of the legacy remap, registered when the app is ready."""

from metamorph_admin.kinds import JobKind, register

FORMS = "vaults.forms."


def register_kinds():
    register(
        JobKind(
            "remap",
            "Legacy remap",
            "vaults.services.remap.execute",
            "metamorph_admin.run_remap",
            form=FORMS + "ExecuteForm",
            group="remap",
            summary="vaults.summaries.remap",
        )
    )
    register(
        JobKind(
            "remap-undo",
            "Undo of a remap",
            "vaults.services.remap.undo",
            "metamorph_admin.run_remap",
            form=FORMS + "UndoForm",
            group="remap",
            summary="vaults.summaries.remap_undo",
        )
    )
