"""The daily digest: one email to each location manager listing the live jeopardy alerts at
their locations, most severe first.

Once per manager per day, however often the job runs: a `JeopardyDigest` row is claimed for
(manager, day) before the email goes and marked sent after the mail server accepted it. A run
that finds the row sent skips it; one that finds it claimed within `CLAIM_LEASE` leaves it to
the run holding it; a claim older than that (a worker died between claiming and marking) is
taken over and the email sent again: at least once, never lost. No network call happens
inside a transaction.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.template.loader import render_to_string
from django.utils import timezone

from fulfillment.jeopardy.models import JeopardyAlert, JeopardyDigest
from fulfillment.jeopardy.services import LIVE, SEVERITY_BANDS, severity_band, severity_range

logger = logging.getLogger(__name__)

SUBJECT = "Jeopardy digest for {day}: {count} open alert(s) at your locations"
# A digest lists this many alerts and counts the rest: a manager reads the worst first, and
# an email of thousands of rows is neither read nor cheap to build.
DIGEST_ALERT_LIMIT = 200
# Longer than building and sending one email could take; shorter than a day's retries.
CLAIM_LEASE = timedelta(minutes=15)


def managers_with_alerts():
    """Active managers with an email address and a live alert at a location they manage."""
    managers = JeopardyAlert.objects.filter(
        status__in=LIVE, location__manager__isnull=False
    ).values("location__manager_id")
    return (
        get_user_model()
        .objects.filter(pk__in=managers, is_active=True)
        .exclude(email="")
        .order_by("pk")
    )


def send_jeopardy_digests(*, today: date | None = None) -> int:
    """Send today's digest to every manager who has live alerts and none yet; returns how many
    emails went."""
    today = today or timezone.localdate()
    sent = 0
    for manager in managers_with_alerts():
        if _send_one(manager, today):
            sent += 1
    return sent


def _send_one(manager, today: date) -> bool:
    digest = _claim(manager, today)
    if digest is None:
        return False
    alerts = (
        JeopardyAlert.objects.filter(location__manager=manager, status__in=LIVE)
        .select_related("order", "location", "owner")
        .order_by("-severity", "detected_at", "pk")
    )
    counts = alerts.aggregate(
        **{name: Count("pk", filter=_band_filter(name)) for name, _ in SEVERITY_BANDS}
    )
    total = sum(counts.values())
    if not total:
        # Every alert resolved since the manager was picked: nothing to say today.
        JeopardyDigest.objects.filter(pk=digest.pk).update(claimed_at=None)
        return False
    shown = list(alerts[:DIGEST_ALERT_LIMIT])
    body = render_to_string(
        "fulfillment/email/jeopardy_digest.txt",
        {
            "manager": manager,
            "day": today,
            "total": total,
            "bands": [(name, counts[name]) for name, _ in SEVERITY_BANDS if counts[name]],
            "alerts": [(alert, severity_band(alert.severity)) for alert in shown],
            "more": total - len(shown),
        },
    )
    EmailMessage(
        subject=SUBJECT.format(day=today.isoformat(), count=total),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[manager.email],
    ).send()
    JeopardyDigest.objects.filter(pk=digest.pk).update(sent_at=timezone.now(), alert_count=total)
    return True


def _band_filter(band: str) -> Q:
    lowest, upper = severity_range(band)
    return Q(severity__gte=lowest) & (Q(severity__lt=upper) if upper is not None else Q())


def _claim(manager, today: date) -> JeopardyDigest | None:
    """The day's digest row, claimed by this run; None when it is sent or another run has it."""
    now = timezone.now()
    try:
        with transaction.atomic():
            digest, _ = JeopardyDigest.objects.get_or_create(manager=manager, day=today)
    except IntegrityError:
        # A concurrent run created it first; the claim below decides who sends.
        digest = JeopardyDigest.objects.get(manager=manager, day=today)
    claimed = JeopardyDigest.objects.filter(
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_LEASE),
        pk=digest.pk,
        sent_at__isnull=True,
    ).update(claimed_at=now)
    return digest if claimed else None
