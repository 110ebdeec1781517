"""Customer 360: the profile with history and numbers, and the contact and address forms.

Forms show errors beside the field and keep what was typed; the services write, or raise
InvalidInput and write nothing.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from customers import services
from customers.forms import AddressForm, CustomerForm
from customers.models import Address, Customer
from fulfillment.desk import selectors
from fulfillment.desk.extensions import customer_panels
from fulfillment.desk.permissions import desk_permission_required
from oms.core.errors import InvalidInput


@desk_permission_required("customers.view_customer", "customers.view_address", "orders.view_order")
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    summary = selectors.customer_summary(customer)
    return render(
        request,
        "desk/customer.html",
        {
            "customer": customer,
            "summary": summary,
            "addresses": list(customer.addresses.all()),
            "panels": customer_panels(customer),
        },
    )


@desk_permission_required("customers.add_customer")
def customer_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = CustomerForm(request.POST)
        if customer := form.submit():
            messages.success(request, f"Customer {customer} created.")
            return redirect("desk:customer", pk=customer.pk)
    else:
        # Find links here with what the agent typed; only an email is worth carrying over.
        typed = request.GET.get("email", "")[:254]
        form = CustomerForm(initial={"email": typed if "@" in typed else ""})
    return render(request, "desk/customer_form.html", {"form": form, "customer": None})


@desk_permission_required("customers.view_customer", "customers.change_customer")
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    if request.method == "POST":
        form = CustomerForm(request.POST)
        if form.submit(customer=customer):
            messages.success(request, "Contact details saved.")
            return redirect("desk:customer", pk=customer.pk)
    else:
        form = CustomerForm.for_customer(customer)
    return render(request, "desk/customer_form.html", {"form": form, "customer": customer})


@desk_permission_required("customers.view_customer", "customers.add_address")
def address_new(request: HttpRequest, pk: int) -> HttpResponse:
    customer = get_object_or_404(Customer, pk=pk)
    if request.method == "POST":
        form = AddressForm(request.POST)
        if form.is_valid():
            try:
                services.add_address(customer=customer, **form.cleaned_data)
            except InvalidInput as error:
                form.add_service_errors(error)
            else:
                messages.success(request, "Address added.")
                return redirect("desk:customer", pk=customer.pk)
    else:
        form = AddressForm()
    return render(
        request, "desk/address_form.html", {"form": form, "customer": customer, "address": None}
    )


@desk_permission_required("customers.view_customer", "customers.change_address")
def address_edit(request: HttpRequest, pk: int, address_pk: int) -> HttpResponse:
    address = get_object_or_404(
        Address.objects.select_related("customer"), pk=address_pk, customer_id=pk
    )
    if request.method == "POST":
        form = AddressForm(request.POST)
        if form.is_valid():
            try:
                services.update_address(address=address, **form.cleaned_data)
            except InvalidInput as error:
                form.add_service_errors(error)
            else:
                messages.success(request, "Address saved.")
                return redirect("desk:customer", pk=address.customer_id)
    else:
        form = AddressForm.for_address(address)
    return render(
        request,
        "desk/address_form.html",
        {"form": form, "customer": address.customer, "address": address},
    )
