"""Admin building blocks shared by the apps, and the outbox's own admin."""

from django.contrib import admin

from oms.core.models import OutboxMessage


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """For records only services write (movements, events, outbox): staff look, never touch.

    Deleting one would break an audit trail or a sum (on hand is the sum of its movements).
    """

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInlineMixin:
    """An inline that shows related rows and offers no add, change or delete."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PublishedFilter(admin.SimpleListFilter):
    title = "published"
    parameter_name = "published"

    def lookups(self, request, model_admin):
        return [("yes", "Published"), ("no", "Pending")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(published_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(published_at__isnull=True)
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyModelAdmin):
    list_display = ("id", "topic", "aggregate_id", "created_at", "published_at", "attempts")
    list_filter = ("topic", PublishedFilter)
    search_fields = ("aggregate_id",)
    date_hierarchy = "created_at"
