"""The default allocation is a pure function: one location if one can fill it, else fewest."""

from hypothesis import given
from hypothesis import strategies as st

from inventory.allocation import LineDemand, StockRow, plan_allocation


def row(level_id, sku, location, available, priority=100):
    return StockRow(level_id, sku, location, available, priority, f"L{location}", 1)


def test_one_location_that_fills_everything_wins_over_a_split():
    rows = [row(1, 1, 10, 5), row(2, 2, 10, 0), row(3, 1, 20, 5), row(4, 2, 20, 5)]
    plan = plan_allocation([LineDemand(1, 1, 2), LineDemand(2, 2, 1)], rows)
    assert plan.location_ids == {20}
    assert plan.shortfalls == {}


def test_preferred_priority_breaks_ties_between_locations_that_can_fill():
    rows = [row(1, 1, 10, 5, priority=50), row(2, 1, 20, 5, priority=10)]
    plan = plan_allocation([LineDemand(1, 1, 3)], rows)
    assert plan.location_ids == {20}


def test_split_uses_fewest_locations():
    # A at 10, B at 20, A+B at 30 only partially: the best is 2 locations, not 3.
    rows = [row(1, 1, 10, 5), row(2, 2, 20, 5), row(3, 3, 20, 5), row(4, 3, 30, 5)]
    plan = plan_allocation([LineDemand(1, 1, 2), LineDemand(2, 2, 2), LineDemand(3, 3, 2)], rows)
    assert plan.location_ids == {10, 20}
    assert plan.shortfalls == {}


def test_a_line_larger_than_any_one_location_is_split_across_locations():
    rows = [row(1, 1, 10, 3), row(2, 1, 20, 4)]
    plan = plan_allocation([LineDemand(1, 1, 6)], rows)
    # the location holding more goes first, so the split is 4 + 2
    assert sorted((a.location_id, a.quantity) for a in plan.allocations) == [(10, 2), (20, 4)]
    assert sum(a.quantity for a in plan.allocations) == 6
    assert plan.shortfalls == {}


def test_two_lines_of_the_same_sku_do_not_count_the_same_units_twice():
    rows = [row(1, 1, 10, 3)]
    plan = plan_allocation([LineDemand(1, 1, 2), LineDemand(2, 1, 2)], rows)
    assert sum(a.quantity for a in plan.allocations) == 3
    assert plan.shortfalls == {2: 1}


def test_what_no_location_has_is_a_shortfall():
    plan = plan_allocation([LineDemand(1, 1, 4)], [row(1, 1, 10, 1)])
    assert plan.shortfalls == {1: 3}


@given(
    demand=st.lists(st.tuples(st.integers(1, 3), st.integers(1, 6)), min_size=1, max_size=5),
    stock=st.dictionaries(
        st.tuples(st.integers(1, 3), st.integers(1, 4)), st.integers(0, 8), max_size=12
    ),
)
def test_plan_never_takes_more_than_is_available_and_accounts_for_every_unit(demand, stock):
    rows = [
        row(index, sku, location, available)
        for index, ((sku, location), available) in enumerate(sorted(stock.items()), start=1)
    ]
    lines = [LineDemand(number, sku, qty) for number, (sku, qty) in enumerate(demand, start=1)]
    plan = plan_allocation(lines, rows)
    taken: dict[tuple[int, int], int] = {}
    for allocation in plan.allocations:
        key = (allocation.sku_id, allocation.location_id)
        taken[key] = taken.get(key, 0) + allocation.quantity
    assert all(taken[key] <= stock.get(key, 0) for key in taken)
    for line in lines:
        served = sum(a.quantity for a in plan.allocations if a.line_number == line.line_number)
        assert served + plan.shortfalls.get(line.line_number, 0) == line.quantity
    assert plan == plan_allocation(lines, rows)  # deterministic
