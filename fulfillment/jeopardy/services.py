"""Jeopardy alerts as staff handle them: the alert's one status transition, acknowledge,
assign, resolve, and the steps every action shares (locks, timeline event). The fixes that
act on the order (re-source, expedite, split, cancel late lines, new date) are in
`fulfillment.jeopardy.fixes`.

Every action locks the order, then the alert (the house lock order: the order first, as
fulfillment.changes and the warehouse do; the scan touches alerts alone, so it cannot close a
cycle with them), checks again under the lock, and writes an `OrderEvent` of kind `jeopardy`
naming the alert, the actor and the note. Retries are harmless: acknowledging, assigning to the
same person or resolving twice does nothing the second time.

An action on an open alert acknowledges it (someone is on it). No fix resolves it: the scan
(`fulfillment.jeopardy.scan`) resolves an alert once its cause is gone — a re-sourced or
cancelled fulfillment order, a filled backorder — or staff resolve it with a note.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from fulfillment.jeopardy.models import JeopardyAlert
from fulfillment.services import lock_order
from oms.core.errors import DomainError, IllegalTransition, InvalidInput
from orders.models import OrderEvent
from orders.services import record_event

Status = JeopardyAlert.Status

# A resolved alert stays resolved: the scan raises a new one if the cause comes back.
ALERT_TRANSITIONS: dict[str, set[str]] = {
    Status.OPEN: {Status.ACKNOWLEDGED, Status.RESOLVED},
    Status.ACKNOWLEDGED: {Status.RESOLVED},
    Status.RESOLVED: set(),
}
LIVE = (Status.OPEN, Status.ACKNOWLEDGED)

# Severity (0–100) in the bands staff filter and read by: (name, lowest score), highest first.
SEVERITY_BANDS = (("critical", 75), ("high", 50), ("medium", 25), ("low", 0))


def severity_band(severity: int) -> str:
    return next(name for name, lowest in SEVERITY_BANDS if severity >= lowest)


def severity_range(band: str) -> tuple[int, int | None]:
    """[lowest, highest) scores of a band; None: no upper bound."""
    names = [name for name, _ in SEVERITY_BANDS]
    index = names.index(band)
    upper = SEVERITY_BANDS[index - 1][1] if index > 0 else None
    return SEVERITY_BANDS[index][1], upper


# --- The alert's own state ------------------------------------------------------------------


def transition_alert(
    alert: JeopardyAlert, to_status: str, *, actor: Any = None, note: str = ""
) -> JeopardyAlert:
    """The only place an alert's status changes, with its timeline event; caller holds the lock.

    The one exception is the scan's auto-resolve: a single set-based UPDATE of every live alert
    whose cause is gone (with one timeline event each, inserted in bulk), by the same rules —
    only live alerts move, to resolved, with `resolved_at` set.
    """
    from_status = alert.status
    if to_status not in ALERT_TRANSITIONS[from_status]:
        raise IllegalTransition(
            f"Alert #{alert.pk} is {Status(from_status).label.lower()}; it cannot become "
            f"{Status(to_status).label.lower()}.",
            from_status=from_status,
            to_status=to_status,
        )
    now = timezone.now()
    alert.status = to_status
    fields = ["status", "updated_at"]
    if to_status == Status.ACKNOWLEDGED:
        alert.acknowledged_at = now
        fields.append("acknowledged_at")
    if to_status == Status.RESOLVED:
        alert.resolved_at = now
        alert.resolution_note = note
        fields += ["resolved_at", "resolution_note"]
    alert.save(update_fields=fields)
    alert_event(
        alert,
        to_status,
        f"{Status(to_status).label.lower()}" + (f": {note}" if note else ""),
        actor=actor,
        note=note,
        data={"from": from_status, "to": to_status},
    )
    return alert


@transaction.atomic
def acknowledge_alert(*, alert: JeopardyAlert, actor: Any = None, note: str = "") -> JeopardyAlert:
    alert = lock_alert(alert.pk)
    if alert.status != Status.OPEN:
        return alert  # acknowledged or resolved already: a retry, or the scan was faster
    return transition_alert(alert, Status.ACKNOWLEDGED, actor=actor, note=note)


@transaction.atomic
def assign_alert(
    *, alert: JeopardyAlert, owner: Any, actor: Any = None, note: str = ""
) -> JeopardyAlert:
    """Give the alert an owner; an open alert is acknowledged by it (someone now has it)."""
    if owner is None or not owner.is_active or not owner.is_staff:
        raise InvalidInput({"owner": "Pick an active staff user to own the alert."})
    alert = lock_live_alert(alert.pk)
    if alert.owner_id == owner.pk:
        return alert
    previous = alert.owner
    alert.owner = owner
    alert.save(update_fields=["owner", "updated_at"])
    name = owner.get_username()
    alert_event(
        alert,
        "assign",
        f"assigned to {name}" + (f" (was {previous.get_username()})" if previous else ""),
        actor=actor,
        note=note,
        data={"owner": owner.pk, "previous_owner": previous.pk if previous else None},
    )
    if alert.status == Status.OPEN:
        transition_alert(alert, Status.ACKNOWLEDGED, actor=actor)
    return alert


@transaction.atomic
def resolve_alert(*, alert: JeopardyAlert, note: str, actor: Any = None) -> JeopardyAlert:
    note = (note or "").strip()
    if not note:
        raise InvalidInput({"note": "Say what was done: the note stays with the alert."})
    alert = lock_alert(alert.pk)
    if alert.status == Status.RESOLVED:
        return alert  # the first resolution (and its note) stands
    return transition_alert(alert, Status.RESOLVED, actor=actor, note=note)


# --- Shared steps ---------------------------------------------------------------------------


def lock_alert(alert_id: int) -> JeopardyAlert:
    """Lock the alert's order, then the alert; the alert carries the locked order."""
    order_id = JeopardyAlert.objects.filter(pk=alert_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise DomainError(f"Alert #{alert_id} does not exist.", code="not_found")
    order = lock_order(order_id)
    alert = (
        JeopardyAlert.objects.select_for_update(of=("self",))
        .select_related("owner", "fulfillment_order", "location")
        .get(pk=alert_id)
    )
    alert.order = order
    return alert


def lock_live_alert(alert_id: int) -> JeopardyAlert:
    alert = lock_alert(alert_id)
    if alert.status == Status.RESOLVED:
        raise DomainError(
            f"Alert #{alert.pk} is resolved"
            + (f" ({alert.resolution_note})" if alert.resolution_note else "")
            + ": nothing more is done on it.",
            code="alert_resolved",
        )
    return alert


def acknowledge_on_action(alert: JeopardyAlert, actor: Any) -> JeopardyAlert:
    if alert.status == Status.OPEN:
        transition_alert(alert, Status.ACKNOWLEDGED, actor=actor)
    return alert


def alert_event(
    alert: JeopardyAlert, action: str, what: str, *, actor: Any, note: str, data: dict
) -> OrderEvent:
    message = f"Jeopardy alert #{alert.pk} ({alert.get_kind_display().lower()}): {what}"
    if note and not what.endswith(note):
        message += f" — {note}"
    return record_event(
        order=alert.order,
        kind=OrderEvent.Kind.JEOPARDY,
        message=message + ".",
        actor=actor,
        data={"alert": alert.pk, "kind": alert.kind, "action": action, "note": note, **data},
    )
