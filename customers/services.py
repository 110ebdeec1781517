"""Customer use cases: create and edit customers and their addresses (desk, admin, API)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django_countries import countries

from customers.models import Address, Customer
from oms.core.errors import InvalidInput

DUPLICATE_EMAIL = "A customer with this email already exists."


class DuplicateCustomer(InvalidInput):
    """The email belongs to another customer (emails are unique ignoring case)."""

    code = "duplicate_customer"

    def __init__(self, existing: Customer) -> None:
        super().__init__({"email": DUPLICATE_EMAIL})
        self.existing = existing


def find_customer_by_email(email: str, *, exclude: Customer | None = None) -> Customer | None:
    # lower(email) is the unique index, so this is an index lookup.
    customers = Customer.objects.alias(email_lower=Lower("email")).filter(
        email_lower=email.strip().lower()
    )
    if exclude is not None:
        customers = customers.exclude(pk=exclude.pk)
    return customers.first()


def _clean_contact(*, email: str, first_name: str, last_name: str, phone: str) -> dict[str, str]:
    cleaned = {
        "email": email.strip(),
        "first_name": first_name.strip(),
        "last_name": last_name.strip(),
        "phone": phone.strip(),
    }
    errors: dict[str, str] = {}
    try:
        validate_email(cleaned["email"])
    except ValidationError:
        errors["email"] = "Enter a valid email address."
    for name in ("first_name", "last_name"):
        if len(cleaned[name]) > Customer._meta.get_field(name).max_length:
            errors[name] = "Too long."
    if len(cleaned["phone"]) > Customer._meta.get_field("phone").max_length:
        errors["phone"] = "Too long."
    if errors:
        raise InvalidInput(errors)
    return cleaned


@transaction.atomic
def create_customer(
    *, email: str, first_name: str = "", last_name: str = "", phone: str = "", notes: str = ""
) -> Customer:
    """A new customer; an email already on file (any case) raises DuplicateCustomer."""
    cleaned = _clean_contact(email=email, first_name=first_name, last_name=last_name, phone=phone)
    existing = find_customer_by_email(cleaned["email"])
    if existing is not None:
        raise DuplicateCustomer(existing)
    try:
        with transaction.atomic():
            return Customer.objects.create(**cleaned, notes=notes.strip())
    except IntegrityError:  # created by someone else between the check and the insert
        raise DuplicateCustomer(find_customer_by_email(cleaned["email"])) from None


@transaction.atomic
def update_customer(
    *,
    customer: Customer,
    email: str,
    first_name: str,
    last_name: str,
    phone: str,
    notes: str,
) -> Customer:
    """Change contact details and notes. The tier is not an agent's to change."""
    cleaned = _clean_contact(email=email, first_name=first_name, last_name=last_name, phone=phone)
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    existing = find_customer_by_email(cleaned["email"], exclude=customer)
    if existing is not None:
        raise DuplicateCustomer(existing)
    for name, value in cleaned.items():
        setattr(customer, name, value)
    customer.notes = notes.strip()
    try:
        with transaction.atomic():
            customer.save(update_fields=[*cleaned, "notes", "updated_at"])
    except IntegrityError:
        raise DuplicateCustomer(
            find_customer_by_email(cleaned["email"], exclude=customer)
        ) from None
    return customer


ADDRESS_FIELDS = ("label", "recipient", "line1", "line2", "city", "region", "postal_code")
REQUIRED_ADDRESS_FIELDS = ("line1", "city", "postal_code", "country")


def _clean_address(fields: dict[str, str]) -> dict[str, str]:
    cleaned = {name: (fields.get(name) or "").strip() for name in ADDRESS_FIELDS}
    cleaned["country"] = (fields.get("country") or "").strip().upper()
    errors: dict[str, str] = {}
    for name in REQUIRED_ADDRESS_FIELDS:
        if not cleaned[name]:
            errors[name] = "This field is required."
    if cleaned["country"] and cleaned["country"] not in countries:
        errors["country"] = "Choose a country from the list."
    for name in ADDRESS_FIELDS:
        if len(cleaned[name]) > Address._meta.get_field(name).max_length:
            errors[name] = "Too long."
    if errors:
        raise InvalidInput(errors)
    return cleaned


def _make_default(address: Address) -> None:
    # One default per customer (a partial unique index): clear the old one first.
    Address.objects.filter(customer_id=address.customer_id, is_default=True).exclude(
        pk=address.pk
    ).update(is_default=False)


@transaction.atomic
def add_address(
    *,
    customer: Customer,
    line1: str,
    city: str,
    postal_code: str,
    country: str,
    label: str = "",
    recipient: str = "",
    line2: str = "",
    region: str = "",
    is_default: bool = False,
) -> Address:
    """A new address; the customer's first address becomes the default."""
    cleaned = _clean_address(
        {
            "label": label,
            "recipient": recipient,
            "line1": line1,
            "line2": line2,
            "city": city,
            "region": region,
            "postal_code": postal_code,
            "country": country,
        }
    )
    # Lock the customer so two concurrent "first address" adds cannot both become default.
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if not customer.addresses.exists():
        is_default = True
    if is_default:
        Address.objects.filter(customer=customer, is_default=True).update(is_default=False)
    return Address.objects.create(customer=customer, is_default=is_default, **cleaned)


@transaction.atomic
def update_address(
    *,
    address: Address,
    line1: str,
    city: str,
    postal_code: str,
    country: str,
    label: str = "",
    recipient: str = "",
    line2: str = "",
    region: str = "",
    is_default: bool = False,
) -> Address:
    """Edit an address. Orders keep the address they were placed with (Order.ship_to).

    Unticking "default" does nothing: a customer keeps a default until another takes over.
    """
    cleaned = _clean_address(
        {
            "label": label,
            "recipient": recipient,
            "line1": line1,
            "line2": line2,
            "city": city,
            "region": region,
            "postal_code": postal_code,
            "country": country,
        }
    )
    Customer.objects.select_for_update().get(pk=address.customer_id)
    address = Address.objects.get(pk=address.pk)
    moved = any(
        cleaned[name] != str(getattr(address, name))
        for name in ("line1", "city", "region", "postal_code", "country")
    )
    changed = list(cleaned)
    for name, value in cleaned.items():
        setattr(address, name, value)
    if moved:
        # The stored coordinates were the old place's; distance code geocodes the new one.
        address.latitude = address.longitude = None
        changed += ["latitude", "longitude"]
    if is_default and not address.is_default:
        _make_default(address)
        address.is_default = True
        changed.append("is_default")
    address.save(update_fields=changed)
    return address
