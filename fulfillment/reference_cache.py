"""The reference data the sourcing engine reads on every call, kept in each process.

Rule sets, carrier services with their rate bands, and holidays change a few times a year,
yet every capture, delivery-options request and sourcing run reads them (five or six queries
and their model instances each time). Each process keeps one copy, tagged with a version
token held in a cache every process shares, so a change is seen everywhere at once:

- saving or deleting a SourcingRuleSet (or changing its excluded locations), Carrier,
  CarrierService, ShippingRate, ServiceLevel or Holiday sets a new token when the transaction
  commits (signals, connected in FulfillmentConfig.ready); a process whose copy carries
  another token reloads on its next read;
- a transaction that made such a change reads its own copy, loaded from the database after
  the change (and again after any further change): the change is not committed for anyone
  else yet, and a rollback must leave no trace. That copy lives in the transaction's
  on-commit queue, which Django empties on rollback;
- migrations and test-database flushes (post_migrate) set a new token too.

Changes made without model signals (QuerySet.update(), bulk_create(), raw SQL, fixtures loaded
by hand) must call `invalidate()` after they commit.

The shared cache is Django's default cache when processes share it (Redis, with REDIS_URL);
the embedded default (LocMemCache) lives in one process, so the token then goes to a small
file cache under var/, which `make run`'s web and worker processes share.
"""

from __future__ import annotations

import bisect
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from functools import cache

from django.conf import settings
from django.core.cache import BaseCache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import Prefetch
from django.db.models.signals import m2m_changed, post_delete, post_migrate, post_save

from fulfillment.models import Carrier, CarrierService, Holiday, ShippingRate, SourcingRuleSet
from fulfillment.sourcing.types import RateBand, Rules, Service
from orders.models import ServiceLevel

VERSION_KEY = "fulfillment:reference-data:version"
CACHED_MODELS = (SourcingRuleSet, Carrier, CarrierService, ShippingRate, ServiceLevel, Holiday)


@dataclass(frozen=True, slots=True)
class ReferenceData:
    # channel id (None: the default) -> the active rule set's rules
    rules: dict[int | None, Rules]
    # active services of active carriers, by primary key, each with its rate bands
    services: tuple[Service, ...]
    # location id (None: everywhere) -> holiday dates, ascending
    holidays: dict[int | None, tuple[date, ...]]

    def holidays_between(self, location_id: int | None, first: date, last: date) -> set[date]:
        days = self.holidays.get(location_id, ())
        return set(days[bisect.bisect_left(days, first) : bisect.bisect_right(days, last)])


# database alias -> (token, data): this process's copy
_copies: dict[str, tuple[str, ReferenceData]] = {}


def current(using: str = DEFAULT_DB_ALIAS) -> ReferenceData:
    """The reference data as committed, or as the open transaction changed it."""
    pending = _pending_change(using)
    if pending is not None:
        return pending.data_for(connections[using])
    token = _token()
    copy = _copies.get(using)
    if copy is not None and copy[0] == token:
        return copy[1]
    # The token is read before the rows: a change committed meanwhile sets a newer token, so
    # this copy is reloaded on the next read instead of being trusted.
    data = load(using)
    _copies[using] = (token, data)
    return data


def invalidate(using: str = DEFAULT_DB_ALIAS) -> None:
    """Every process reloads on its next read (this one included)."""
    _copies.pop(using, None)
    _shared_cache().set(VERSION_KEY, uuid.uuid4().hex, timeout=None)


def load(using: str = DEFAULT_DB_ALIAS) -> ReferenceData:
    """Read everything from the database: rule sets (and their exclusions, if there are rule
    sets), carrier services (and their rate bands, if there are services), holidays."""
    rule_sets = list(SourcingRuleSet.objects.using(using).filter(is_active=True))
    excluded: dict[int, set[int]] = defaultdict(set)
    if rule_sets:
        through = SourcingRuleSet.excluded_locations.through
        for rule_set_id, location_id in (
            through.objects.using(using)
            .filter(sourcingruleset_id__in=[rule_set.pk for rule_set in rule_sets])
            .values_list("sourcingruleset_id", "location_id")
        ):
            excluded[rule_set_id].add(location_id)
    rules = {
        rule_set.channel_id: Rules(
            ship_location_types=frozenset(rule_set.ship_location_types),
            pickup_location_types=frozenset(rule_set.pickup_location_types),
            excluded_location_ids=frozenset(excluded[rule_set.pk]),
            weight_cost=rule_set.weight_cost,
            weight_transit_days=rule_set.weight_transit_days,
            weight_distance=rule_set.weight_distance,
            weight_priority=rule_set.weight_priority,
            split_penalty=rule_set.split_penalty,
            max_shipments=rule_set.max_shipments,
            backorder_policy=rule_set.backorder_policy,
        )
        # At most one active set per channel (one-to-one) and one active default (constraint).
        for rule_set in rule_sets
    }
    services = (
        CarrierService.objects.using(using)
        .filter(is_active=True, carrier__is_active=True)
        .select_related("carrier", "service_level")
        .prefetch_related(
            Prefetch(
                "rates",
                queryset=ShippingRate.objects.using(using).order_by(
                    "max_distance_km", "max_weight_kg"
                ),
            )
        )
        .order_by("pk")
    )
    holidays: dict[int | None, list[date]] = defaultdict(list)
    for location_id, day in (
        Holiday.objects.using(using).order_by("date").values_list("location_id", "date")
    ):
        holidays[location_id].append(day)
    return ReferenceData(
        rules=rules,
        services=tuple(
            Service(
                carrier_service_id=service.pk,
                carrier_code=service.carrier.code,
                service_level_code=service.service_level.code,
                rates=tuple(
                    RateBand(
                        max_distance_km=rate.max_distance_km,
                        max_weight_kg=rate.max_weight_kg,
                        base_amount=rate.base_amount,
                        per_kg_amount=rate.per_kg_amount,
                        transit_days=rate.transit_days,
                    )
                    for rate in service.rates.all()
                ),
            )
            for service in services
        ),
        holidays={location_id: tuple(days) for location_id, days in holidays.items()},
    )


# --- Invalidation ------------------------------------------------------------------------------


def connect_signals() -> None:
    for model in CACHED_MODELS:
        post_save.connect(_changed, sender=model, dispatch_uid=f"reference-cache-save-{model}")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"reference-cache-delete-{model}")
    m2m_changed.connect(
        _changed,
        sender=SourcingRuleSet.excluded_locations.through,
        dispatch_uid="reference-cache-excluded-locations",
    )
    post_migrate.connect(_migrated, dispatch_uid="reference-cache-migrate")


def _changed(sender, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    pending = _pending_change(using)
    if pending is not None:
        pending.forget()  # the transaction changed more: its copy is loaded again
    else:
        # Runs at once outside a transaction, else after the commit (never on a rollback).
        transaction.on_commit(_PendingChange(using), using=using)


class _PendingChange:
    """Waits in the on-commit queue of a transaction that changed reference data: invalidates
    every process's copy after the commit, and meanwhile holds the transaction's own copy."""

    def __init__(self, using: str) -> None:
        self.using = using
        self.forget()

    def __call__(self) -> None:
        invalidate(self.using)

    def forget(self) -> None:
        self.data: ReferenceData | None = None
        self.loaded: _Loaded | None = None

    def data_for(self, connection) -> ReferenceData:
        if self.data is None or not _queued(connection, lambda callback: callback is self.loaded):
            self.data = load(self.using)
            # Rolling back a savepoint drops the on-commit callbacks queued inside it: a copy
            # loaded there, which may hold changes undone with it, is then loaded again.
            self.loaded = _Loaded()
            transaction.on_commit(self.loaded, using=self.using)
        return self.data


class _Loaded:
    """Marks when a transaction's copy was loaded; nothing to do on commit."""

    def __call__(self) -> None:
        pass


def _pending_change(using: str) -> _PendingChange | None:
    """The open transaction's pending change, if it changed reference data. Django drops it
    from the on-commit queue on rollback, and with a rolled-back savepoint it was made in."""
    connection = connections[using]
    if not connection.in_atomic_block:
        return None
    for _, callback, _ in connection.run_on_commit:
        if isinstance(callback, _PendingChange):
            return callback
    return None


def _queued(connection, matches) -> bool:
    return any(matches(callback) for _, callback, _ in connection.run_on_commit)


def _migrated(sender, using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    # Sent per app after every migrate and every flush (TransactionTestCase): once is enough.
    if sender.name == "fulfillment":
        invalidate(using)


def _token() -> str:
    shared = _shared_cache()
    token = shared.get(VERSION_KEY)
    if token is None:  # never set, or evicted: start a new version
        shared.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
        token = shared.get(VERSION_KEY)
    # A cache that cannot keep the token: a token no copy carries, so every read loads.
    return token if token is not None else uuid.uuid4().hex


def _shared_cache() -> BaseCache:
    default = caches["default"]
    if isinstance(default, LocMemCache | DummyCache):
        return _file_cache()
    return default


@cache
def _file_cache() -> BaseCache:
    return FileBasedCache(str(settings.VAR_DIR / "cache" / "reference-data"), {})
