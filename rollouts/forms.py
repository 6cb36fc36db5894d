"""Rollout forms: each says what is wrong in the reviewer's words."""

from django import forms

from metamorph import live
from metamorph_admin import databases


def _database_choices():
    return [(db.name, f"{db.name} ({db.path})") for db in databases.configured()]


def _url(value):
    if not value:
        return ""
    try:
        return live.valid_base_url(value)
    except ValueError as exc:
        raise forms.ValidationError(str(exc)) from None


class RolloutForm(forms.Form):
    name = forms.CharField(max_length=120)
    staging = forms.ChoiceField(label="Staging database")
    staging_url = forms.CharField(
        max_length=500, required=False, label="Staging Metamorph server URL (optional)"
    )
    production = forms.ChoiceField(label="Production database")
    production_url = forms.CharField(
        max_length=500, required=False, label="Production Metamorph server URL (optional)"
    )
    backup_max_age_hours = forms.FloatField(
        min_value=0.1, max_value=24 * 30, initial=24, label="A backup counts for this many hours"
    )
    planned_downtime_minutes = forms.FloatField(
        min_value=0.1, max_value=7 * 24 * 60, initial=5, label="Planned downtime (minutes)"
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = _database_choices()
        self.fields["staging"].choices = choices
        self.fields["production"].choices = choices
        if len(choices) > 1:
            self.fields["production"].initial = choices[-1][0]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the rollout a name.")
        return name

    def clean_staging_url(self):
        return _url(self.cleaned_data["staging_url"].strip())

    def clean_production_url(self):
        return _url(self.cleaned_data["production_url"].strip())

    def clean(self):
        data = super().clean()
        if data.get("staging") and data.get("staging") == data.get("production"):
            raise forms.ValidationError(
                "Staging and production must be two different databases: name both in "
                "METAMORPH_DATABASES (e.g. staging=/srv/stage/metamorph.db,production=…)."
            )
        return data


class SettingsForm(forms.Form):
    staging_url = forms.CharField(
        max_length=500, required=False, label="Staging Metamorph server URL"
    )
    production_url = forms.CharField(
        max_length=500, required=False, label="Production Metamorph server URL"
    )
    backup_max_age_hours = forms.FloatField(
        min_value=0.1, max_value=24 * 30, label="A backup counts for this many hours"
    )
    planned_downtime_minutes = forms.FloatField(
        min_value=0.1, max_value=7 * 24 * 60, label="Planned downtime (minutes)"
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def clean_staging_url(self):
        return _url(self.cleaned_data["staging_url"].strip())

    def clean_production_url(self):
        return _url(self.cleaned_data["production_url"].strip())


class AttestForm(forms.Form):
    note = forms.CharField(
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="What was done, and where the proof is",
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class TokensForm(forms.Form):
    """Two bearer tokens for one isolation check: never stored, never logged, never echoed."""

    token_a = forms.CharField(
        max_length=8192,
        label="Bearer token of vault A",
        widget=forms.PasswordInput(render_value=False),
    )
    token_b = forms.CharField(
        max_length=8192,
        label="Bearer token of vault B",
        widget=forms.PasswordInput(render_value=False),
    )

    def clean(self):
        data = super().clean()
        a, b = data.get("token_a", "").strip(), data.get("token_b", "").strip()
        if a and a == b:
            raise forms.ValidationError("Paste tokens of two different vaults.")
        return data


class ReopenForm(forms.Form):
    reason = forms.CharField(
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Why re-open this phase",
    )
