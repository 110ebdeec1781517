"""The reorder job, reorder points from demand, and open supply as the selectors read it."""

import datetime
import threading

import pytest
from django.db import connection

from inventory.models import PurchaseOrder, PurchaseOrderLine, ReorderRule, StockMovement
from inventory.replenishment.demand import apply_suggested_reorder_points
from inventory.replenishment.purchasing import (
    ReceiptLine,
    cancel_purchase_order,
    receive_purchase_order,
)
from inventory.replenishment.reorder import run_reorder
from inventory.selectors import earliest_supply_date, incoming_supply
from inventory.services import adjust_stock, set_safety_stock
from tests.factories import (
    LocationFactory,
    SKUFactory,
    SupplierFactory,
    reorder_rule,
    requires_postgres,
    sent_purchase_order,
    stock,
    supplier_item,
)

pytestmark = pytest.mark.django_db
TODAY = datetime.date(2026, 11, 23)


@pytest.fixture
def acme(db):
    return SupplierFactory(code="ACME", lead_time_days=5)


@pytest.fixture
def sku(db):
    return SKUFactory(code="SKU-A")


def lines_of(run):
    return list(
        PurchaseOrderLine.objects.filter(purchase_order__number__in=run.purchase_orders)
        .select_related("purchase_order", "sku")
        .order_by("sku__code")
    )


def test_proposes_up_to_the_level_rounded_to_whole_packs(warehouse, acme, sku):
    supplier_item(acme, sku, pack_size=12)
    stock(sku, warehouse, 3)
    reorder_rule(sku, warehouse, reorder_point=10, order_up_to=40)

    run = run_reorder(today=TODAY)

    (line,) = lines_of(run)
    assert line.quantity_ordered == 48  # need 37 → 4 packs of 12
    purchase_order = line.purchase_order
    assert purchase_order.number.startswith("PO-")
    assert (purchase_order.status, purchase_order.supplier, purchase_order.destination) == (
        PurchaseOrder.Status.DRAFT,
        acme,
        warehouse,
    )
    assert purchase_order.expected_date == TODAY + datetime.timedelta(days=5)
    assert purchase_order.created_by == "job:reorder"
    assert "ATP 3 + on order 0" in line.reason
    assert "≤ reorder point 10" in line.reason
    assert "4 packs of 12 = 48" in line.reason


def test_a_supplier_minimum_raises_the_quantity_in_whole_packs(warehouse, acme, sku):
    supplier_item(acme, sku, pack_size=10, minimum_quantity=55)
    reorder_rule(sku, warehouse, reorder_point=5, order_up_to=20)

    (line,) = lines_of(run_reorder(today=TODAY))

    assert line.quantity_ordered == 60  # need 20 → 2 packs, raised to 55 → 6 packs
    assert "minimum 55" in line.reason


def test_fixed_quantity_orders_enough_lots_to_clear_the_point(warehouse, acme, sku):
    supplier_item(acme, sku)
    stock(sku, warehouse, 2)
    ReorderRule.objects.create(
        sku=sku, location=warehouse, reorder_point=20, method="fixed", fixed_quantity=8
    )

    (line,) = lines_of(run_reorder(today=TODAY))

    assert line.quantity_ordered == 24  # 2 + 3 × 8 = 26 > 20


def test_nothing_is_ordered_above_the_point_and_reserved_and_safety_stock_count(
    warehouse, acme, sku
):
    supplier_item(acme, sku)
    stock(sku, warehouse, 15)
    reorder_rule(sku, warehouse, reorder_point=10)
    assert run_reorder(today=TODAY).purchase_orders == []

    set_safety_stock(sku=sku, location=warehouse, safety_stock=6)  # ATP 9
    (line,) = lines_of(run_reorder(today=TODAY))
    assert line.quantity_ordered == 31
    assert "ATP 9" in line.reason


def test_no_second_draft_while_a_purchase_order_is_open(warehouse, acme, sku):
    supplier_item(acme, sku)
    reorder_rule(sku, warehouse, reorder_point=10, order_up_to=40)
    first = run_reorder(today=TODAY)
    assert len(first.purchase_orders) == 1

    again = run_reorder(today=TODAY)  # the draft is supply already asked for
    assert again.purchase_orders == [] and again.covered == 1

    # Sent (and due within the lead time) it still covers the need; cancelled it no longer does.
    purchase_order = PurchaseOrder.objects.get(number=first.purchase_orders[0])
    from inventory.replenishment.purchasing import approve_and_send

    approve_and_send(purchase_order=purchase_order, actor=None)
    assert run_reorder(today=TODAY).purchase_orders == []
    cancel_purchase_order(purchase_order=purchase_order)
    assert len(run_reorder(today=TODAY).purchase_orders) == 1


def test_running_twice_gives_the_same_result(warehouse, acme, sku):
    other = SKUFactory(code="SKU-B")
    store = LocationFactory(code="STORE-1", type="store")
    for item in (sku, other):
        supplier_item(acme, item, pack_size=5)
        reorder_rule(item, warehouse, reorder_point=10, order_up_to=30)
        reorder_rule(item, store, reorder_point=4, order_up_to=12)

    first = run_reorder(today=TODAY)
    snapshot = sorted(
        PurchaseOrderLine.objects.values_list(
            "purchase_order__destination__code", "sku__code", "quantity_ordered"
        )
    )
    second = run_reorder(today=TODAY)

    assert len(first.purchase_orders) == 2  # one per destination, both from ACME
    assert first.lines == 4
    assert second.purchase_orders == [] and second.lines == 0
    assert (
        sorted(
            PurchaseOrderLine.objects.values_list(
                "purchase_order__destination__code", "sku__code", "quantity_ordered"
            )
        )
        == snapshot
    )
    assert snapshot == [
        ("STORE-1", "SKU-A", 15),
        ("STORE-1", "SKU-B", 15),
        ("WH-EAST", "SKU-A", 30),
        ("WH-EAST", "SKU-B", 30),
    ]


def test_supply_due_after_the_lead_time_does_not_count(warehouse, acme, sku):
    supplier_item(acme, sku)
    reorder_rule(sku, warehouse, reorder_point=10, order_up_to=40, lead_time_days=3)
    late = sent_purchase_order(
        acme, warehouse, [(sku, 40)], expected_date=TODAY + datetime.timedelta(days=10)
    )
    (line,) = lines_of(run_reorder(today=TODAY))
    assert line.purchase_order != late
    assert line.quantity_ordered == 40
    assert line.purchase_order.expected_date == TODAY + datetime.timedelta(days=3)
    assert f"due by {TODAY + datetime.timedelta(days=3)} (lead time 3 days)" in line.reason


def test_supply_due_within_the_lead_time_counts(warehouse, acme, sku):
    supplier_item(acme, sku)
    reorder_rule(sku, warehouse, reorder_point=10, order_up_to=40)  # supplier's 5 days
    sent_purchase_order(
        acme, warehouse, [(sku, 6)], expected_date=TODAY + datetime.timedelta(days=5)
    )

    (line,) = lines_of(run_reorder(today=TODAY))

    assert line.quantity_ordered == 34  # up to 40 from 0 on hand + 6 on order
    assert "on order 6" in line.reason


def test_preferred_supplier_and_destination_group_the_drafts(warehouse, sku):
    cheap, fast = SupplierFactory(code="CHEAP"), SupplierFactory(code="FAST", lead_time_days=2)
    other = SKUFactory(code="SKU-B")
    supplier_item(cheap, sku, preferred=True)
    supplier_item(fast, sku, preferred=False)
    supplier_item(fast, other, preferred=True)
    lonely = SKUFactory(code="SKU-NOBODY")
    for item in (sku, other, lonely):
        reorder_rule(item, warehouse)

    run = run_reorder(today=TODAY)

    by_supplier = {
        po.supplier.code: sorted(po.lines.values_list("sku__code", flat=True))
        for po in PurchaseOrder.objects.filter(number__in=run.purchase_orders)
    }
    assert by_supplier == {"CHEAP": ["SKU-A"], "FAST": ["SKU-B"]}
    assert len(run.without_supplier) == 1


def test_inactive_rules_and_locations_are_skipped(warehouse, acme, sku):
    supplier_item(acme, sku)
    reorder_rule(sku, warehouse, is_active=False)
    closed = LocationFactory(code="CLOSED", is_active=False)
    reorder_rule(sku, closed)
    assert run_reorder(today=TODAY).purchase_orders == []


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_draft_once():
    warehouse = LocationFactory(code="WH-EAST")
    acme = SupplierFactory(code="ACME")
    for n in range(20):
        item = SKUFactory(code=f"SKU-{n}")
        supplier_item(acme, item)
        reorder_rule(item, warehouse)
    results, errors = [], []
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            results.append(run_reorder(today=TODAY))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(len(r.purchase_orders) for r in results) == [0, 1]
    assert PurchaseOrderLine.objects.count() == 20


# --- Open supply (what promises and the jeopardy scan read) ----------------------------------


def test_incoming_supply_and_earliest_supply_date(warehouse, acme, sku):
    store = LocationFactory(code="STORE-1", type="store")
    first = sent_purchase_order(
        acme, warehouse, [(sku, 5)], expected_date=TODAY + datetime.timedelta(days=2)
    )
    sent_purchase_order(acme, store, [(sku, 10)], expected_date=TODAY + datetime.timedelta(days=9))
    receive_purchase_order(purchase_order=first, lines=[ReceiptLine("SKU-A", 2)])  # 3 open

    supply = incoming_supply(sku_ids=[sku.pk])
    assert [(s.location_id, s.quantity) for s in supply] == [(warehouse.pk, 3), (store.pk, 10)]
    assert earliest_supply_date(sku_id=sku.pk, quantity=3) == TODAY + datetime.timedelta(days=2)
    assert earliest_supply_date(sku_id=sku.pk, quantity=4) == TODAY + datetime.timedelta(days=9)
    assert earliest_supply_date(sku_id=sku.pk, quantity=14) is None
    assert earliest_supply_date(sku_id=sku.pk, quantity=4, location_ids=[warehouse.pk]) is None


# --- Reorder points from demand ----------------------------------------------------------------


def test_reorder_point_from_recent_demand_keeps_the_numbers(warehouse, acme, sku):
    supplier_item(acme, sku)  # 5 days lead time
    stock(sku, warehouse, 100)
    # 56 units went out in the window (shipments are demand; a found unit is not)
    adjust_stock(sku=sku, location=warehouse, quantity=-56, reason="test stand-in")
    StockMovement.objects.filter(kind="adjustment", quantity=-56).update(kind="shipment")
    adjust_stock(sku=sku, location=warehouse, quantity=3, reason="found")
    rule = reorder_rule(sku, warehouse, reorder_point=1, safety_stock_days=2)

    (suggestion,) = apply_suggested_reorder_points(rules=[rule], window_days=28)

    rule.refresh_from_db()
    assert suggestion.average_daily == 2
    assert rule.reorder_point == 14  # 2/day × (5 lead + 2 safety days)
    assert "56 units out in the 28 days" in rule.basis
    assert "2.00/day × (5 lead + 2 safety days) = 14" in rule.basis
