"""The desk's shell: the Find screen. Login and logout are Django's views (see urls.py)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from fulfillment.desk import selectors
from fulfillment.desk.forms import FindForm
from fulfillment.desk.permissions import desk_permission_required


@desk_permission_required("customers.view_customer", "orders.view_order")
def find(request: HttpRequest) -> HttpResponse:
    """One box for name, email, phone, order number or external id.

    A plain GET form without JavaScript; with htmx the box asks as the agent types and only
    the results fragment comes back.
    """
    form = FindForm(request.GET or None)
    query = form.cleaned_data["q"] if form.is_valid() else ""
    results = selectors.search(query)
    context = {"form": form, "results": results}
    # A history restore (back button after the cache expired) needs the whole page.
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "desk/_find_results.html", context)
    return render(request, "desk/find.html", context)
