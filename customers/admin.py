from django.contrib import admin

from customers.models import Address, Customer


class AddressInline(admin.StackedInline):
    model = Address
    extra = 0
    fields = (
        ("label", "recipient", "is_default"),
        "line1",
        "line2",
        ("city", "region", "postal_code", "country"),
        ("latitude", "longitude"),
    )


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = ("email", "first_name", "last_name", "phone", "tier", "created_at")
    list_filter = ("tier",)
    search_fields = ("email", "first_name", "last_name", "phone")
    date_hierarchy = "created_at"
    fields = (
        "email",
        ("first_name", "last_name"),
        "phone",
        "tier",
        "tags",
        "notes",
        ("created_at", "updated_at"),
    )
    readonly_fields = ("created_at", "updated_at")
    inlines = [AddressInline]


@admin.register(Address)
class AddressAdmin(admin.ModelAdmin):
    list_display = (
        "customer",
        "label",
        "line1",
        "city",
        "region",
        "postal_code",
        "country",
        "is_default",
    )
    list_filter = ("country", "is_default")
    search_fields = ("customer__email", "line1", "city", "postal_code")
    list_select_related = ("customer",)
    autocomplete_fields = ("customer",)
    readonly_fields = ("created_at",)
