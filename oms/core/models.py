from django.db import models


class OutboxMessage(models.Model):
    """An event written in the same transaction as the change it announces.

    The relay task delivers it to subscribers after commit; because the row is committed with
    the change, a lost Celery message or a broker outage only delays delivery.
    """

    topic = models.CharField(max_length=100)
    aggregate_id = models.CharField(max_length=64, help_text="The id of what changed.")
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["id"],
                name="outbox_pending_idx",
                condition=models.Q(published_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.aggregate_id}"
