"""The "Agents" group: exactly what a call-center agent needs on the desk (/desk/).

The list is frozen here (a migration must not change when code does); it equals
`fulfillment.desk.permissions.AGENT_PERMISSIONS`, which a test checks. Agents get no delete
permission, nothing of accounting, returns management, stock changes or API keys.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

AGENT_GROUP = "Agents"
AGENT_PERMISSIONS = [
    "customers.view_customer",
    "customers.add_customer",
    "customers.change_customer",
    "customers.view_address",
    "customers.add_address",
    "customers.change_address",
    "orders.view_order",
    "orders.add_order",
    "orders.change_order",
    "orders.view_orderline",
    "orders.view_payment",
    "orders.view_orderhold",
    "orders.view_orderevent",
    "orders.view_saleschannel",
    "orders.view_servicelevel",
    "inventory.view_sku",
    "inventory.view_location",
    "inventory.view_stocklevel",
    "fulfillment.view_fulfillmentorder",
    "fulfillment.view_fulfillmentline",
    "fulfillment.view_package",
    "fulfillment.view_carrier",
]


def create_agents_group(apps, schema_editor):
    # Permissions are normally created after all migrations ran (post_migrate); on a fresh
    # database they do not exist yet, so create them for the apps named here first.
    for label in {name.split(".")[0] for name in AGENT_PERMISSIONS}:
        app_config = apps.get_app_config(label)
        # create_permissions skips apps without a models module, which migration state lacks.
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        try:
            create_permissions(app_config, apps=apps, verbosity=0)
        finally:
            app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=AGENT_GROUP)
    wanted = []
    for name in AGENT_PERMISSIONS:
        app_label, codename = name.split(".")
        wanted.append(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    # Exactly these: a group left over from an older seed loses anything broader.
    group.permissions.set(wanted)


def remove_agents_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=AGENT_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("customers", "0001_initial"),
        ("inventory", "0001_initial"),
        ("orders", "0002_event_kinds_for_fulfillment"),
        ("fulfillment", "0002_pickup_hold_and_vendor_requests"),
    ]

    operations = [migrations.RunPython(create_agents_group, remove_agents_group)]
