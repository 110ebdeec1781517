"""Jeopardy in the back office: staff see the live alerts, filter them, and act on them.

Alerts are raised by the scan, never typed in; the list's actions call the services in
`fulfillment.jeopardy.services` (acknowledge, assign, resolve) and `fulfillment.jeopardy.fixes`
(re-source, expedite, split, cancel late lines, new date), one alert at a time, so one refusal
(shown as a message) stops no other.
"""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth import get_user_model
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from fulfillment.jeopardy import fixes, services
from fulfillment.jeopardy.models import JeopardyAlert, JeopardyDigest
from oms.core.admin import ReadOnlyModelAdmin
from oms.core.errors import DomainError, InvalidInput
from orders.models import ServiceLevel

ACTION_TEMPLATE = "admin/fulfillment/jeopardyalert/action_form.html"


# --- Filters --------------------------------------------------------------------------------


class LiveStatusFilter(admin.SimpleListFilter):
    """Status, showing the live alerts (open or acknowledged) unless staff pick another."""

    title = "status"
    parameter_name = "status"
    DEFAULT = "live"

    def lookups(self, request, model_admin):
        return [
            (self.DEFAULT, "Open or acknowledged"),
            *JeopardyAlert.Status.choices,
            ("all", "All"),
        ]

    def value(self):
        return super().value() or self.DEFAULT

    def choices(self, changelist):
        # No blank "All" entry: the default is "live", and "all" is one of the lookups.
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value()
        if value == self.DEFAULT:
            return queryset.filter(status__in=services.LIVE)
        if value in JeopardyAlert.Status.values:
            return queryset.filter(status=value)
        return queryset


class SeverityBandFilter(admin.SimpleListFilter):
    title = "severity"
    parameter_name = "severity_band"

    def lookups(self, request, model_admin):
        return [
            (name, f"{name.capitalize()} ({lowest}+)") for name, lowest in services.SEVERITY_BANDS
        ]

    def queryset(self, request, queryset):
        if self.value() not in dict(services.SEVERITY_BANDS):
            return queryset
        lowest, upper = services.severity_range(self.value())
        queryset = queryset.filter(severity__gte=lowest)
        return queryset.filter(severity__lt=upper) if upper is not None else queryset


class AgeFilter(admin.SimpleListFilter):
    """How long ago the scan detected it."""

    title = "age"
    parameter_name = "age"
    AGES = {
        "hour": ("Under an hour", None, timedelta(hours=1)),
        "day": ("Under a day", timedelta(hours=1), timedelta(days=1)),
        "week": ("One to seven days", timedelta(days=1), timedelta(days=7)),
        "older": ("Over a week", timedelta(days=7), None),
    }

    def lookups(self, request, model_admin):
        return [(key, label) for key, (label, _, _) in self.AGES.items()]

    def queryset(self, request, queryset):
        if self.value() not in self.AGES:
            return queryset
        _, at_least, under = self.AGES[self.value()]
        now = timezone.now()
        if at_least is not None:
            queryset = queryset.filter(detected_at__lte=now - at_least)
        if under is not None:
            queryset = queryset.filter(detected_at__gt=now - under)
        return queryset


# --- Action forms ---------------------------------------------------------------------------

NOTE = forms.CharField(
    widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    required=False,
    help_text="Shown on each order's timeline.",
)


class NoteForm(forms.Form):
    note = NOTE


class AssignForm(forms.Form):
    owner = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_staff=True, is_active=True).order_by("pk"),
        help_text="Staff who will own the alerts; open alerts become acknowledged.",
    )
    note = NOTE


class ResolveForm(forms.Form):
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="What was done. Kept with each alert and shown on its order's timeline.",
    )


class ExpediteForm(forms.Form):
    service_level = forms.ModelChoiceField(
        queryset=ServiceLevel.objects.filter(is_active=True),
        required=False,
        empty_label="The fastest that helps",
        help_text="Must be faster than the order's own service level.",
    )
    note = NOTE


class NewDateForm(forms.Form):
    new_date = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Empty: each order's current promised date (after a re-source or "
        "expedite). A date given becomes the order's promise.",
    )
    note = NOTE


# --- The alert list -------------------------------------------------------------------------


@admin.register(JeopardyAlert)
class JeopardyAlertAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "order_link",
        "kind",
        "severity_shown",
        "status",
        "location",
        "channel",
        "owner",
        "age",
        "due_by",
        "message",
    )
    list_filter = (
        LiveStatusFilter,
        "kind",
        SeverityBandFilter,
        "location",
        ("order__channel", admin.RelatedFieldListFilter),
        AgeFilter,
        "owner",
    )
    search_fields = ("order__number",)
    list_select_related = ("order__channel", "location", "owner")
    actions = [
        "acknowledge",
        "assign",
        "resolve",
        "resource",
        "expedite",
        "split",
        "cancel_late_lines",
        "notify_new_date",
    ]
    fieldsets = (
        (None, {"fields": ("order_link", "fulfillment_order", "location", "kind", "stage")}),
        ("Risk", {"fields": ("severity", "message", "detail", "detected_at", "due_by")}),
        (
            "Handling",
            {
                "fields": (
                    "status",
                    "owner",
                    "acknowledged_at",
                    "resolved_at",
                    "resolution_note",
                    "updated_at",
                )
            },
        ),
    )
    readonly_fields = ("order_link",)

    def has_add_permission(self, request):
        return False  # the scan raises alerts; staff act on them

    def has_change_permission(self, request, obj=None):
        # Without an object this gates the actions, which change alerts through services.
        # One alert's page is view-only: its state moves only through those actions.
        if obj is not None:
            return False
        return super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False  # an alert is part of the order's history

    @admin.display(description="Order", ordering="order__number")
    def order_link(self, obj: JeopardyAlert) -> str:
        url = reverse("admin:orders_order_change", args=[obj.order_id])
        return format_html('<a href="{}">{}</a>', url, obj.order)

    @admin.display(description="Severity", ordering="-severity")
    def severity_shown(self, obj: JeopardyAlert) -> str:
        return f"{services.severity_band(obj.severity)} {obj.severity}"

    @admin.display(description="Channel", ordering="order__channel__code")
    def channel(self, obj: JeopardyAlert) -> str:
        return obj.order.channel.code

    @admin.display(description="Age", ordering="detected_at")
    def age(self, obj: JeopardyAlert) -> str:
        return timesince(obj.detected_at)

    # -- actions --

    def _each(
        self, request, queryset, call: Callable[[JeopardyAlert], Any], done: str
    ) -> list[int]:
        """Call a service per alert, each in its own transaction; refusals become messages."""
        succeeded = []
        for alert in queryset.select_related("order").order_by("pk"):
            try:
                call(alert)
            except InvalidInput as error:
                problems = "; ".join(m for messages_ in error.errors.values() for m in messages_)
                messages.error(request, f"Alert #{alert.pk} ({alert.order}): {problems}")
            except DomainError as error:
                messages.error(request, f"Alert #{alert.pk} ({alert.order}): {error.message}")
            else:
                succeeded.append(alert.pk)
        if succeeded:
            numbers = ", ".join(f"#{pk}" for pk in succeeded)
            messages.success(request, f"{done}: {numbers}.")
        return succeeded

    def _with_form(
        self,
        request,
        queryset,
        *,
        action: str,
        form_class: type[forms.Form],
        title: str,
        intro: str,
        submit: str,
        call: Callable[[JeopardyAlert, dict], Any],
        done: str,
        late_units: bool = False,
    ):
        """First call: the form. It posts back to the same action with "apply"."""
        if "apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                self._each(request, queryset, lambda alert: call(alert, form.cleaned_data), done)
                return None  # back to the list
        else:
            form = form_class()
        alerts = list(
            queryset.select_related("order__channel", "location", "fulfillment_order").order_by(
                "pk"
            )
        )
        rows = [(alert, fixes.late_units(alert) if late_units else None) for alert in alerts]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            "intro": intro,
            "submit": submit,
            "form": form,
            "rows": rows,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "action": action,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, ACTION_TEMPLATE, context)

    @admin.action(description="Acknowledge selected alerts", permissions=["change"])
    def acknowledge(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda alert: services.acknowledge_alert(alert=alert, actor=request.user),
            "Acknowledged",
        )

    @admin.action(description="Assign selected alerts…", permissions=["change"])
    def assign(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            action="assign",
            form_class=AssignForm,
            title="Assign jeopardy alerts",
            intro="The owner follows these alerts up until they are resolved.",
            submit="Assign",
            call=lambda alert, data: services.assign_alert(
                alert=alert, owner=data["owner"], actor=request.user, note=data["note"]
            ),
            done="Assigned",
        )

    @admin.action(description="Resolve selected alerts…", permissions=["change"])
    def resolve(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            action="resolve",
            form_class=ResolveForm,
            title="Resolve jeopardy alerts",
            intro="Resolve an alert once its order is safe, or staff have done what can be "
            "done. If the cause comes back, the scan raises a new alert.",
            submit="Resolve",
            call=lambda alert, data: services.resolve_alert(
                alert=alert, note=data["note"], actor=request.user
            ),
            done="Resolved",
        )

    @admin.action(description="Re-source the orders of selected alerts", permissions=["change"])
    def resource(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda alert: fixes.resource_order_for_alert(alert=alert, actor=request.user),
            "Sent back to sourcing",
        )

    @admin.action(description="Expedite the orders of selected alerts…", permissions=["change"])
    def expedite(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            action="expedite",
            form_class=ExpediteForm,
            title="Expedite orders in jeopardy",
            intro="Unshipped parcels move to a faster service level and get a new promised "
            "date. The customer pays nothing more.",
            submit="Expedite",
            call=lambda alert, data: fixes.expedite_order(
                alert=alert,
                actor=request.user,
                service_level=data["service_level"],
                note=data["note"],
            ),
            done="Expedited",
        )

    @admin.action(
        description="Split: ship what is ready, backorder the rest", permissions=["change"]
    )
    def split(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda alert: fixes.split_late_lines(alert=alert, actor=request.user),
            "Shipping what is ready",
        )

    @admin.action(description="Cancel the late lines of selected alerts…", permissions=["change"])
    def cancel_late_lines(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            action="cancel_late_lines",
            form_class=NoteForm,
            title="Cancel late lines",
            intro="These units are cancelled and the order repriced; the rest of each order "
            "goes on. Cancelling every remaining unit cancels the order.",
            submit="Cancel these units",
            call=lambda alert, data: fixes.cancel_late_lines(
                alert=alert, actor=request.user, note=data["note"]
            ),
            done="Late units cancelled",
            late_units=True,
        )

    @admin.action(description="Email customers a new date…", permissions=["change"])
    def notify_new_date(self, request, queryset):
        return self._with_form(
            request,
            queryset,
            action="notify_new_date",
            form_class=NewDateForm,
            title="Tell customers a new date",
            intro="Each customer is emailed once per alert and date.",
            submit="Send",
            call=lambda alert, data: fixes.notify_new_date(
                alert=alert, actor=request.user, new_date=data["new_date"], note=data["note"]
            ),
            done="Customers emailed",
        )


@admin.register(JeopardyDigest)
class JeopardyDigestAdmin(ReadOnlyModelAdmin):
    list_display = ("day", "manager", "alert_count", "claimed_at", "sent_at")
    list_filter = ("day",)
    search_fields = ("manager__username", "manager__email")
    list_select_related = ("manager",)
