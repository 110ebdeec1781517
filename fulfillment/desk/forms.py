"""Desk-only forms (customer and address forms live in customers/forms.py)."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm


class DeskLoginForm(AuthenticationForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update(autofocus=True, autocomplete="username")


class FindForm(forms.Form):
    q = forms.CharField(
        label="Find",
        required=False,
        max_length=200,
        strip=True,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "autofocus": True,
                "autocomplete": "off",
                "placeholder": "Name, email, phone, order number or external id",
            }
        ),
    )
