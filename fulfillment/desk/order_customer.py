"""New order, first step: who is the order for? The agent finds the customer, or creates one
on the same screen (the form and service Customer 360 uses) and goes on with the order."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse

from customers.forms import CustomerForm
from fulfillment.desk import selectors

# The screen's own customer form (prefixed: the page has a search box too).
CREATE_CUSTOMER = "create_customer"
NEW_CUSTOMER_PREFIX = "new"


def choose_customer(
    request: HttpRequest, new_customer_form: CustomerForm | None = None
) -> HttpResponse:
    """Find the customer, or create one on the same screen (what was searched for is filled
    in when nobody matches)."""
    data = request.POST if request.method == "POST" else request.GET
    query = data.get("customer_query", "")[:200]
    results = selectors.search(query)
    form = new_customer_form
    if form is None and request.user.has_perm("customers.add_customer"):
        typed = _typed_contact(results.query) if results.searched and not results.customers else {}
        form = CustomerForm(prefix=NEW_CUSTOMER_PREFIX, initial=typed)
    if form is not None:
        # The cursor starts in the search box; after a refused create, in the first error.
        form.fields["email"].widget.attrs.pop("autofocus", None)
    return render(
        request,
        "desk/order_new.html",
        {"customer": None, "query": query, "results": results, "new_customer_form": form},
    )


def _typed_contact(query: str) -> dict[str, str]:
    """What the agent searched for, as the new customer's email, phone or name."""
    if "@" in query:
        return {"email": query}
    if sum(c.isdigit() for c in query) >= selectors.MIN_PHONE_DIGITS:
        return {"phone": query}
    first, _, last = query.partition(" ")
    return {"first_name": first, "last_name": last}


def create_customer(request: HttpRequest) -> HttpResponse:
    """The customer through the same form and service as Customer 360, then their order."""
    if not request.user.has_perm("customers.add_customer"):
        return TemplateResponse(request, "desk/403.html", status=403)
    form = CustomerForm(request.POST, prefix=NEW_CUSTOMER_PREFIX)
    if customer := form.submit():
        messages.success(request, f"Customer {customer} created.")
        return redirect(f"{reverse('desk:order_new')}?customer={customer.pk}")
    return choose_customer(request, form)
