from django import forms
from django.contrib.auth import password_validation

from loomworks.roles import ROLE_DESCRIPTIONS, Role

PASSWORDS_DIFFER = "The two passwords differ: type the same password twice."


class PersonCreateForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        help_text="What they type to sign in: letters, digits and @ . + - _ only.",
        widget=forms.TextInput(attrs={"autocapitalize": "none", "autocomplete": "off"}),
    )
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.CharField(
        max_length=254, required=False, widget=forms.EmailInput(attrs={"autocomplete": "off"})
    )
    role = forms.ChoiceField(
        choices=Role.choices,
        initial=Role.MAKER,
        widget=forms.RadioSelect,
    )
    password = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password_confirm = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    # (value, label, what the role may do) for the radio buttons.
    role_options = [(role.value, role.label, ROLE_DESCRIPTIONS[role]) for role in Role]

    def clean(self):
        cleaned = super().clean()
        first, second = cleaned.get("password"), cleaned.get("password_confirm")
        if first and second and first != second:
            self.add_error("password_confirm", PASSWORDS_DIFFER)
        return cleaned


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
