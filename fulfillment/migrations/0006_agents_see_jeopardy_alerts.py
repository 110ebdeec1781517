"""Agents see an order's jeopardy alerts on the desk Order screen (read-only: staff act on
them in the admin). Frozen like 0003: `AGENT_PERMISSIONS` in code is 0003's list plus this."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

AGENT_GROUP = "Agents"
ADDED_PERMISSIONS = ["fulfillment.view_jeopardyalert"]


def grant(apps, schema_editor):
    app_config = apps.get_app_config("fulfillment")
    models_module = getattr(app_config, "models_module", None)
    app_config.models_module = models_module or True
    try:
        create_permissions(app_config, apps=apps, verbosity=0)
    finally:
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=AGENT_GROUP).first()
    if group is None:
        return
    for name in ADDED_PERMISSIONS:
        app_label, codename = name.split(".")
        group.permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name=AGENT_GROUP).first()
    if group is None:
        return
    for name in ADDED_PERMISSIONS:
        app_label, codename = name.split(".")
        group.permissions.remove(
            *group.permissions.filter(content_type__app_label=app_label, codename=codename)
        )


class Migration(migrations.Migration):
    dependencies = [("fulfillment", "0005_jeopardy_digest")]

    operations = [migrations.RunPython(grant, revoke)]
