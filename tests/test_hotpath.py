"""oms.core.hotpath's reads and writes for capture: the same rows and instances as the ORM
calls they replace, in one statement each, on either backend."""

from decimal import Decimal

import pytest
from django.db import DatabaseError, transaction
from django.db.transaction import TransactionManagementError

from inventory.models import SKU, StockLevel
from oms.core import hotpath
from orders.models import IdempotencyKey, ServiceLevel
from tests import factories

pytestmark = pytest.mark.django_db


def field_values(instance):
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_fetch_reads_what_filter_in_reads(catalogue, django_assert_num_queries):
    codes = [catalogue[1].code, catalogue[0].code, "NO-SUCH-SKU", catalogue[0].code]

    with django_assert_num_queries(1):
        fetched = hotpath.fetch(SKU, "code", codes)

    expected = {sku.pk: field_values(sku) for sku in SKU.objects.filter(code__in=codes)}
    assert {sku.pk: field_values(sku) for sku in fetched} == expected
    assert len(fetched) == 2
    assert all(isinstance(sku.price_amount, Decimal) and not sku._state.adding for sku in fetched)


def test_fetch_without_values_sends_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert hotpath.fetch(ServiceLevel, "code", []) == []


def test_lock_many_returns_the_rows_in_primary_key_order(
    catalogue, store, django_assert_num_queries
):
    for sku in catalogue:
        factories.stock(sku, store, 5)
    pks = sorted(StockLevel.objects.values_list("pk", flat=True), reverse=True)

    with transaction.atomic(), django_assert_num_queries(1):
        locked = hotpath.lock_many(StockLevel, [*pks, pks[0]])

    assert [level.pk for level in locked] == sorted(pks)
    assert {level.pk: field_values(level) for level in locked} == {
        level.pk: field_values(level) for level in StockLevel.objects.all()
    }


@pytest.mark.django_db(transaction=True)
def test_lock_many_refuses_autocommit():
    with pytest.raises(TransactionManagementError):
        hotpath.lock_many(StockLevel, [1])


def test_increment_moves_each_row_by_its_own_amount(catalogue, warehouse):
    first, second = (StockLevel.objects.get(sku=sku, location=warehouse) for sku in catalogue[:2])
    untouched = StockLevel.objects.get(sku=catalogue[2], location=warehouse)
    stamp = first.updated_at

    updated = hotpath.increment(
        StockLevel, "reserved", {first.pk: 2, second.pk: 3}, also={"updated_at": stamp}
    )

    assert updated == 2
    assert StockLevel.objects.get(pk=first.pk).reserved == first.reserved + 2
    assert StockLevel.objects.get(pk=second.pk).reserved == second.reserved + 3
    assert StockLevel.objects.get(pk=second.pk).updated_at == stamp
    assert StockLevel.objects.get(pk=untouched.pk).reserved == untouched.reserved


def test_insert_unless_conflict_writes_a_key_once(channel, django_assert_num_queries):
    first = IdempotencyKey(channel=channel, key="k-1", request_hash="a")
    again = IdempotencyKey(channel=channel, key="k-1", request_hash="b")

    assert hotpath.insert_unless_conflict(first) is True
    assert hotpath.insert_unless_conflict(again) is False

    assert first.pk and not first._state.adding and first.created_at
    assert again.pk is None
    assert list(IdempotencyKey.objects.values_list("key", "request_hash")) == [("k-1", "a")]
    # The transaction is still usable after the refused insert.
    assert IdempotencyKey.objects.count() == 1


def test_update_writes_only_the_named_columns(catalogue, channel):
    key = IdempotencyKey(channel=channel, key="k-2", request_hash="a")
    hotpath.insert([key])
    key.request_hash = "changed in memory only"
    key.key = "k-3"

    hotpath.update(key, ["key"])

    assert IdempotencyKey.objects.values_list("key", "request_hash").get(pk=key.pk) == ("k-3", "a")


def test_update_of_a_missing_row_raises(channel):
    key = IdempotencyKey(channel=channel, key="k-4", request_hash="a")
    hotpath.insert([key])
    IdempotencyKey.objects.filter(pk=key.pk).delete()

    with pytest.raises(DatabaseError):
        hotpath.update(key, ["key"])
