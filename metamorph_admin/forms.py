"""Filters of the Jobs and Audit pages (GET forms: invalid input just filters nothing)."""
from django import forms

from metamorph_admin.models import AuditRecord, Job, Origin
from metamorph_admin import kinds

ANY = [("", "any")]


class FilterForm(forms.Form):
    def filters(self):
        """The valid filters as keyword arguments of the matching selector."""
        return {k: v for k, v in self.cleaned_data.items() if v} if self.is_valid() else {}


def _kind_choices():
    seen = set(Job.objects.order_by().values_list("kind", flat=True).distinct()) | set(kinds.KINDS)
    return ANY + [(k, kinds.label(k)) for k in sorted(seen)]


class JobFilterForm(FilterForm):
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
