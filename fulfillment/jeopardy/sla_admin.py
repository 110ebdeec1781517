"""Stage SLAs in the admin: staff set how long work may wait in each stage, everywhere or for one
location or channel, and the jeopardy scan (`fulfillment.jeopardy.scan`) reads them on its next
run. (Alerts have their own admin in `fulfillment.jeopardy.admin`.)"""

from django import forms
from django.contrib import admin

from fulfillment.jeopardy.models import Stage, StageSLA

# Before sourcing there is no fulfilling location: an SLA for these stages is scoped by channel.
ORDER_STAGES = (Stage.AWAITING_SOURCING, Stage.BACKORDERED)


class StageSLAForm(forms.ModelForm):
    class Meta:
        model = StageSLA
        fields = ("stage", "location", "channel", "max_duration")

    def clean(self):
        cleaned = super().clean()
        stage, location = cleaned.get("stage"), cleaned.get("location")
        if stage in ORDER_STAGES and location is not None:
            self.add_error(
                "location",
                f"{Stage(stage).label} orders have no location yet: scope this SLA by channel, "
                "or leave both empty for everywhere.",
            )
        if stage and not self.errors:
            same_scope = StageSLA.objects.filter(
                stage=stage, location=location, channel=cleaned.get("channel")
            ).exclude(pk=self.instance.pk)
            if same_scope.exists():
                self.add_error(
                    "stage",
                    f"There is already an SLA for {Stage(stage).label.lower()} "
                    f"({self.scope_label(location, cleaned.get('channel'))}); change that one.",
                )
        return cleaned

    @staticmethod
    def scope_label(location, channel) -> str:
        return " / ".join(str(x) for x in (location, channel) if x) or "everywhere"

    def validate_constraints(self):
        # clean() has said it in words; the constraint message names an index.
        if not self.errors:
            super().validate_constraints()


@admin.register(StageSLA)
class StageSLAAdmin(admin.ModelAdmin):
    form = StageSLAForm
    list_display = ("stage", "scope", "max_duration", "updated_at")
    list_filter = ("stage", "location", "channel")
    list_select_related = ("location", "channel")
    ordering = ("stage", "location__code", "channel__code")
    fieldsets = (
        (
            None,
            {
                "fields": ("stage", "max_duration"),
                "description": "The longest an order or fulfillment order may stay in the stage "
                "before the jeopardy scan raises a stalled alert. The most specific SLA wins: "
                "location and channel, then location, then channel, then everywhere.",
            },
        ),
        ("Scope (empty: everywhere)", {"fields": ("location", "channel")}),
    )

    @admin.display(description="Applies to")
    def scope(self, obj: StageSLA) -> str:
        return StageSLAForm.scope_label(obj.location, obj.channel)
