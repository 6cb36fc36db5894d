"""Filters of the Jobs and Audit pages (GET forms: invalid input just filters nothing)."""

from django import forms

from metamorph_admin import databases, kinds
from metamorph_admin.models import AuditRecord, Job, Origin

ANY = [("", "any")]


class FilterForm(forms.Form):
    database = forms.ChoiceField(required=False)
    # With several databases, jobs default to the header's one; the audit trail (and a single
    # database's jobs, which may include files a command named by --db) to everything.
    default_to_current_database = False

    def __init__(self, data=None, *args, **kwargs):
        if (
            data is not None
            and "database" not in data
            and self.default_to_current_database
            and databases.several()
        ):
            data = data.copy()
            data["database"] = databases.current().name
        super().__init__(data, *args, **kwargs)
        self.fields["database"].choices = [("", "all databases")] + [
            (db.name, db.name) for db in databases.configured()
        ]

    def filters(self):
        """The valid filters as keyword arguments of the matching selector."""
        found = {k: v for k, v in self.cleaned_data.items() if v} if self.is_valid() else {}
        if "database" in found:
            found["db_path"] = databases.get(found.pop("database")).path
        return found


def _kind_choices():
    seen = set(Job.objects.order_by().values_list("kind", flat=True).distinct()) | set(kinds.KINDS)
    return ANY + [(k, kinds.label(k)) for k in sorted(seen)]


class JobFilterForm(FilterForm):
    default_to_current_database = True
    kind = forms.ChoiceField(required=False)
    state = forms.ChoiceField(required=False, choices=ANY + Job.State.choices)
    origin = forms.ChoiceField(required=False, choices=ANY + Origin.choices)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = _kind_choices()


class AuditFilterForm(FilterForm):
    action = forms.ChoiceField(required=False)
    outcome = forms.ChoiceField(required=False, choices=ANY + AuditRecord.Outcome.choices)
    actor = forms.CharField(required=False, max_length=150)
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        actions = AuditRecord.objects.order_by().values_list("action", flat=True).distinct()
        self.fields["action"].choices = ANY + [(a, a) for a in sorted(actions)]
