"""Desk forms for customers and addresses. They check shape only; the services in
customers/services.py decide (duplicate email, required address parts) and write."""

from django import forms

from customers import services
from customers.models import Address, Customer
from oms.core.errors import InvalidInput


class DeskForm(forms.Form):
    """Base for desk forms: labels without a colon, and service errors beside their fields."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def add_service_errors(self, error: InvalidInput) -> None:
        for name, messages in error.errors.items():
            for message in messages:
                # Field paths the form does not have ("lines[0].quantity") go above the form.
                self.add_error(name if name in self.fields else None, message)


def _model_field(model, name: str, **overrides) -> forms.Field:
    field = model._meta.get_field(name).formfield()
    for attribute, value in overrides.items():
        setattr(field, attribute, value)
    return field


class CustomerForm(DeskForm):
    email = forms.EmailField(max_length=254, widget=forms.EmailInput(attrs={"autofocus": True}))
    first_name = _model_field(Customer, "first_name")
    last_name = _model_field(Customer, "last_name")
    phone = forms.CharField(
        max_length=32, required=False, widget=forms.TextInput(attrs={"type": "tel"})
    )
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    # The customer who already has the email typed, once submit() was refused for it.
    existing: Customer | None = None

    @classmethod
    def for_customer(cls, customer: Customer, **kwargs) -> "CustomerForm":
        initial = {name: getattr(customer, name) for name in cls.base_fields}
        return cls(initial=initial, **kwargs)

    def submit(self, *, customer: Customer | None = None) -> Customer | None:
        """Create a customer (or update `customer`) through the service from a bound form.

        None when refused: the errors are on the form, beside their fields, and `existing` is
        set when the email belongs to someone else (the screen links to them). Every screen
        that creates or edits a customer calls this, so they refuse alike.
        """
        if not self.is_valid():
            return None
        try:
            if customer is None:
                return services.create_customer(**self.cleaned_data)
            return services.update_customer(customer=customer, **self.cleaned_data)
        except services.DuplicateCustomer as error:
            self.existing = error.existing
            self.add_service_errors(error)
        except InvalidInput as error:
            self.add_service_errors(error)
        return None


class AddressForm(DeskForm):
    label = _model_field(Address, "label", help_text="Home, work, …")
    recipient = _model_field(Address, "recipient", help_text="If not the customer.")
    line1 = _model_field(Address, "line1", label="Street and number")
    line2 = _model_field(Address, "line2", label="Apartment, floor, …")
    city = _model_field(Address, "city")
    region = _model_field(Address, "region", label="State / region")
    postal_code = _model_field(Address, "postal_code", label="ZIP / postal code")
    country = _model_field(Address, "country", initial="US")
    is_default = forms.BooleanField(required=False, label="Default address")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["line1"].widget.attrs["autofocus"] = True

    @classmethod
    def for_address(cls, address: Address, **kwargs) -> "AddressForm":
        initial = {name: getattr(address, name) for name in cls.base_fields}
        initial["country"] = str(address.country)
        return cls(initial=initial, **kwargs)
