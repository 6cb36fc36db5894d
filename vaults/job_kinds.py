"""The job kinds of the legacy remap, registered when the app is ready."""
from metamorph_admin.kinds import JobKind, register
from vaults import forms


def register_kinds():
    register(JobKind("remap", "Legacy remap", "vaults.services.remap.execute",
                     "metamorph_admin.run_remap", form=forms.ExecuteForm))
    register(JobKind("remap-undo", "Undo of a remap", "vaults.services.remap.undo",
                     "metamorph_admin.run_remap", form=forms.UndoForm))
