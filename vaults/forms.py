"""Remap forms: each turns operator input into an engine rule, or says what is wrong."""

from django import forms

from metamorph import remap, schema
from metamorph.errors import MetamorphError
from metamorph.remap import csvmap
from metamorph_admin import databases

SOURCE_HELP = "the vault whose rows are remapped (legacy data is in default-vault)"


class RuleForm(forms.Form):
    source = forms.CharField(max_length=200, initial=schema.DEFAULT_VAULT, help_text=SOURCE_HELP)

    def rule(self):
        """The validated engine rule (call after is_valid())."""
        return self.cleaned_data["rule"]

    def _checked(self, make):
        try:
            return make().validate()
        except MetamorphError as exc:
            raise forms.ValidationError(str(exc)) from None


class MoveForm(RuleForm):
    target = forms.CharField(max_length=200, help_text="e.g. the single user's vault id")

    def clean(self):
        data = super().clean()
        if "source" in data and "target" in data:
            data["rule"] = self._checked(
                lambda: remap.MoveVault(data["target"].strip(), data["source"])
            )
        return data


class UnattributedChoice(forms.Form):
    """What a split does with rows nothing ties to a conversation or session (issue 9)."""

    unattributed = forms.ChoiceField(
        label="Rows that cannot be attributed (identity, operator_performance, memories "
        "without a conversation)",
        choices=[
            ("leave", "leave them in the source vault"),
            ("copy-identity", "copy the identity row into each target vault"),
            ("send", "send them to one vault"),
        ],
        initial="leave",
        required=False,
    )
    unattributed_vault = forms.CharField(
        max_length=200,
        required=False,
        label="Vault for them",
        help_text="only with 'send': e.g. a shared or an administrator's vault",
    )

    def unattributed_args(self, data):
        return data.get("unattributed") or "leave", (
            data.get("unattributed_vault") or ""
        ).strip() or None


class OwnerForm(RuleForm, UnattributedChoice):
    owner = forms.ChoiceField(label="Owner column or metadata key")
    prefix = forms.CharField(max_length=64, initial="user-", required=False)

    def __init__(self, *args, sources=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.sources = {str(i): s for i, s in enumerate(sources)}
        self.fields["owner"].choices = [
            (
                key,
                f"{s['label']} ({s['with_value']:,} sampled rows with a value, "
                f"{s['distinct_values']:,} distinct; e.g. {', '.join(s['examples'])})",
            )
            for key, s in self.sources.items()
        ]

    def clean(self):
        data = super().clean()
        chosen = self.sources.get(data.get("owner"))
        if chosen and "source" in data:
            data["rule"] = self._checked(
                lambda: remap.SplitByOwner(
                    chosen["table"],
                    chosen["column"],
                    chosen["json_key"],
                    data.get("prefix") or "",
                    data["source"],
                    *self.unattributed_args(data),
                )
            )
        return data


class MappingForm(RuleForm, UnattributedChoice):
    mapping = forms.FileField(help_text="CSV with the header " + " or ".join(csvmap.HEADERS))

    def clean(self):
        data = super().clean()
        upload = data.get("mapping")
        if upload is not None and "source" in data:
            if upload.size > csvmap.MAX_BYTES:
                raise forms.ValidationError(
                    f"The file is {upload.size:,} bytes; the limit is {csvmap.MAX_BYTES:,}: "
                    "split it into several plans."
                )
            content = upload.read()
            data["rule"] = self._checked(
                lambda: remap.SplitByMapping.from_csv(
                    content, data["source"], *self.unattributed_args(data)
                )
            )
        return data


class ExecuteForm(forms.Form):
    mode = forms.ChoiceField(
        choices=[
            ("online", "online: short transactions, Metamorph keeps running"),
            ("offline", "offline bulk: several times faster, needs Metamorph stopped"),
        ],
        initial="online",
    )
    take_backup = forms.BooleanField(
        required=False, initial=True, label="Take a verified backup first (recommended)"
    )
    fast = forms.BooleanField(
        required=False,
        label=(
            "Faster commits (synchronous=OFF): safe against a killed process, not a power cut; "
            "needs the backup first"
        ),
    )
    plan_id = forms.CharField(max_length=64, widget=forms.HiddenInput)
    confirm = forms.CharField(max_length=255, label="Type the database file name to confirm")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if databases.several():
            self.fields[
                "confirm"
            ].label = (
                f"Type {databases.confirmation_what()} ({databases.confirmation_word()}) to confirm"
            )

    def clean(self):
        data = super().clean()
        if data.get("fast") and not data.get("take_backup"):
            raise forms.ValidationError(
                "Faster commits need a verified backup first: tick both, or neither."
            )
        name = databases.confirmation_word()
        if data.get("confirm", "").strip() != name:
            raise forms.ValidationError(
                f"Type {databases.confirmation_what()} exactly ({name}) to confirm."
            )
        data.pop("confirm", None)
        return data


class UndoForm(ExecuteForm):
    mode = None
    take_backup = None
    fast = None
