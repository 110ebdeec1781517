"""Forms of the New order and Order screens. They check the shape of what was typed; the
services (place_order, fulfillment.changes, holds) decide and name what they refuse, and the
views put those errors beside the fields (`apply_service_errors`)."""

from __future__ import annotations

import re
import uuid

from django import forms
from django.conf import settings
from django.urls import reverse_lazy

from customers.forms import AddressForm, DeskForm
from customers.models import Address
from oms.core.errors import DomainError, InvalidInput
from orders.models import OrderHold, Payment

NEW_ADDRESS = "new"
IDEMPOTENCY_KEY = re.compile(r"^desk-[0-9a-f]{32}$")


def new_idempotency_key() -> str:
    """Made when the New order form is first shown; every submit of that form carries it."""
    return f"desk-{uuid.uuid4().hex}"


def format_address(address: Address) -> str:
    parts = [address.line1, address.line2, address.city, address.region, address.postal_code]
    return ", ".join(part for part in parts if part) + f", {address.country}"


# --- New order -----------------------------------------------------------------------------


class OrderEntryForm(DeskForm):
    customer = forms.IntegerField(widget=forms.HiddenInput)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=64)
    sku_query = forms.CharField(
        label="Add a SKU",
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "autocomplete": "off",
                "placeholder": "SKU code or part of the name, then Enter",
                # Results as the agent types (a fragment); "consume" keeps this typing from
                # also asking the form for a new quote. The form's hx-swap is inherited:
                # this box swaps its results in.
                "hx-get": reverse_lazy("desk:order_sku_search"),
                "hx-trigger": "input changed delay:250ms consume, search consume",
                "hx-target": "#sku-results",
                "hx-swap": "innerHTML",
                "hx-sync": "this:replace",
            }
        ),
    )
    ship_to = forms.ChoiceField(label="Ship to", widget=forms.RadioSelect)
    save_address = forms.BooleanField(
        label="Also save this address to the customer", required=False
    )
    # Rendered by hand from the delivery options (radio buttons "ship:<level>" / "pickup:<code>").
    delivery = forms.CharField(
        label="Delivery option",
        max_length=80,
        error_messages={"required": "Choose how the order reaches the customer."},
    )
    payment_method = forms.ChoiceField(
        label="Payment method", choices=Payment.Method.choices, initial=Payment.Method.CARD
    )
    payment_reference = forms.CharField(
        label="Card or PayPal token",
        required=False,
        max_length=200,
        help_text="From the payment terminal (demo: tok_visa). Not needed for bank transfer "
        "or cash on delivery.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )

    def __init__(self, *args, addresses: list[Address] = (), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ship_to"].choices = [
            (str(address.pk), format_address(address)) for address in addresses
        ] + [(NEW_ADDRESS, "A new address")]

    def clean(self):
        cleaned = super().clean()
        # Hidden fields have no place beside them: their errors go above the form.
        for name in ("customer", "idempotency_key"):
            for error in self._errors.pop(name, []):
                self.add_error(None, error)
        return cleaned

    def clean_idempotency_key(self) -> str:
        key = self.cleaned_data["idempotency_key"]
        if not IDEMPOTENCY_KEY.match(key):
            # Only a page we rendered has one; anything else is a stale or forged form.
            raise forms.ValidationError("This form is out of date: open New order again.")
        return key


class ShipToAddressForm(AddressForm):
    """A new ship-to address for this order (prefix "address"). Nothing is required here:
    place_order says what a shipment needs, and a pickup order needs no address at all."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "address")
        super().__init__(*args, **kwargs)
        del self.fields["label"], self.fields["is_default"]
        self.fields["line1"].widget.attrs.pop("autofocus", None)
        for field in self.fields.values():
            field.required = False


class LineForm(DeskForm):
    sku = forms.CharField(max_length=64, widget=forms.HiddenInput)
    quantity = forms.IntegerField(
        label="Quantity",
        min_value=1,
        max_value=settings.MAX_LINE_QUANTITY,
        widget=forms.NumberInput(attrs={"min": 1, "class": "quantity", "inputmode": "numeric"}),
        # Worded as place_order words them.
        error_messages={
            "required": "Enter a quantity.",
            "invalid": "Quantity must be a whole number.",
            "min_value": "Quantity must be at least %(limit_value)s.",
            "max_value": "Quantity must be at most %(limit_value)s.",
        },
    )


class BaseLineFormSet(forms.BaseFormSet):
    def clean(self):
        super().clean()
        if self.total_form_count() == 0:
            raise forms.ValidationError("Add at least one SKU.")


LineFormSet = forms.formset_factory(
    LineForm,
    formset=BaseLineFormSet,
    extra=0,
    max_num=settings.MAX_ORDER_LINES,
    absolute_max=settings.MAX_ORDER_LINES,
    validate_max=True,
)


# --- Order screen actions ------------------------------------------------------------------

REASON = forms.CharField(
    label="Reason", required=False, max_length=200, help_text="Shown on the order's timeline."
)


class CancelOrderForm(DeskForm):
    reason = REASON


class LineChangeForm(DeskForm):
    quantity = forms.IntegerField(
        label="Units still wanted",
        min_value=0,
        max_value=settings.MAX_LINE_QUANTITY,
        widget=forms.NumberInput(attrs={"min": 0, "class": "quantity"}),
        help_text="Lower only; 0 cancels the line.",
    )
    reason = REASON


class ShipToChangeForm(ShipToAddressForm):
    reason = REASON

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("prefix", "ship_to")
        super().__init__(*args, **kwargs)
        for name in ("line1", "city", "postal_code", "country"):
            self.fields[name].required = True

    @classmethod
    def for_ship_to(cls, ship_to: dict[str, str], **kwargs) -> ShipToChangeForm:
        return cls(initial={k: v for k, v in ship_to.items() if v}, **kwargs)


class HoldForm(DeskForm):
    reason = forms.ChoiceField(label="Reason", choices=OrderHold.Reason.choices)
    note = forms.CharField(
        label="Note", required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


class ReleaseHoldForm(DeskForm):
    note = forms.CharField(label="Note", required=False, max_length=500)


# --- Service errors beside the fields -------------------------------------------------------


def apply_service_errors(
    form: forms.Form, error: DomainError, *, prefix: str = "", rename: dict | None = None
) -> None:
    """Put a service's errors on `form`: `<prefix><field>` paths beside that field (after
    `rename`), anything else above the form. A DomainError naming a `field` goes beside it
    too; one naming none is a message above the form."""
    rename = rename or {}
    if isinstance(error, InvalidInput):
        items = error.errors.items()
    else:
        items = [(error.details.get("field", ""), [error.message])]
    for path, messages in items:
        name = rename.get(path, path.removeprefix(prefix) if prefix else path)
        for message in messages:
            form.add_error(name if name in form.fields else None, message)
