"""The sourcing engine: order lines, an ATP snapshot, carriers and rules in; a plan out.

Pure and deterministic: no ORM, no clock, no randomness; candidates, lines and services are
sorted by code/id first, so the same request always gives the same plan.

Who may take part
    Ship orders: candidates that ship, whose type is in `rules.ship_location_types`, that the
    channel does not exclude and whose calendar has a working weekday (one without ships
    nothing and is named in the explanation). Each shipment goes from one location to the
    customer by the cheapest carrier service of the requested service level whose rate band
    covers the distance and the shipment's weight (any service level when the request names
    none); a location no band covers cannot ship there. Pickup orders: see `_source_pickup`.

What a plan may look like
    One shipment per location, at most `rules.max_shipments` of them. Every line has a
    *primary* location in the plan (one holding all of it, when any location of the plan does),
    which gives it every unit it can; only the units the primary lacks come from the plan's
    other locations (in rank order, below). So a line is split across locations only when that
    is needed to fill it, never to shave cost.

What "best" means (lexicographic)
    1. most units filled: a plan that fills more always wins;
    2. lowest score = weight_cost × total cost + weight_transit_days × the slowest shipment's
       transit days + weight_distance × Σ distance km + weight_priority × Σ location priority
       + split_penalty × (shipments − 1);
    3. fewer shipments, then lower cost, then more units at the better-ranked locations.
    Scores are added in scaled integers, so they are exact decimals, never floats.

How it searches
    Candidates holding none of the ordered SKUs, or out of every band's reach, are dropped.
    The rest are ranked by their best single-location plan (units it can fill, then its score).
    Exact: with at most KEPT_LOCATIONS (8) left, every location set of 1..max_shipments
    locations is searched, and in each set every choice of primary per line — branch and bound,
    with an upper bound on the units a set can fill (per SKU: min(demand, Σ ATP)) and a lower
    bound on its score (each location's cheapest possible parcel, the split penalty, the
    fastest possible transit), both valid, so pruning never loses the best plan.
    Bounded heuristic beyond: only the KEPT_LOCATIONS best-ranked locations are searched, plus,
    per SKU, the fewest next-ranked locations needed to hold as much of it as all candidates
    together (so pruning never costs fillable units when max_shipments allows them). The best
    single-location plan is always among them, so the result is never worse than it. A set
    whose primary choices exceed MAX_PRIMARY_COMBINATIONS (orders with many lines) tries one
    choice only: the first location in rank order that holds the whole line, else the one
    holding the most of it. The plan's explanation says when the heuristic was used.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from itertools import combinations, product

from fulfillment.promising import ISO_WEEKDAYS, promise_date
from fulfillment.sourcing.rates import distance_km, parcel_price, rate_for
from fulfillment.sourcing.types import (
    Assignment,
    Candidate,
    Line,
    RateBand,
    Rules,
    Service,
    Shipment,
    SourcingPlan,
    SourcingRequest,
)

# Exact search over 8 locations is at most 92 location sets at 3 shipments: a 5-line order
# over 50 candidates decides in about a millisecond.
KEPT_LOCATIONS = 8
# 3 locations ** 5 lines: every primary choice of a typical order is still tried.
MAX_PRIMARY_COMBINATIONS = 243
ZERO = Decimal("0.00")


# --- the entry point -------------------------------------------------------------------------


def source(request: SourcingRequest) -> SourcingPlan:
    weights = _Weights.of(request.rules)
    lines = tuple(sorted((line for line in request.lines if line.quantity > 0), key=_line_number))
    candidates = tuple(sorted(request.candidates, key=lambda c: (c.code, c.location_id)))
    if request.pickup_location_id is not None:
        return _source_pickup(request, lines, candidates, weights)
    return _source_ship(request, lines, candidates, weights)


def _source_ship(
    request: SourcingRequest,
    lines: tuple[Line, ...],
    candidates: tuple[Candidate, ...],
    weights: _Weights,
) -> SourcingPlan:
    rules = request.rules
    level = request.service_level_code
    services = _sorted_services(
        s for s in request.services if level is None or s.service_level_code == level
    )
    allowed, refused = _allowed_to_ship(candidates, rules, lines, skip_location_id=None)
    search = _Search(
        lines=lines,
        latitude=request.destination.latitude,
        longitude=request.destination.longitude,
        candidates=allowed,
        services=services,
        weights=weights,
        max_shipments=rules.max_shipments,
    )
    plan = search.run()
    shipments = [search.shipment(parcel, request.ordered_at) for parcel in plan.parcels]
    unfilled = _unfilled(lines, shipments)
    explanation = [shipment.explanation for shipment in shipments]
    explanation += search.split_sentences(plan)
    explanation += search.unfilled_sentences(unfilled, lines, "shipments")
    explanation += _refused_sentences(refused, "ship")
    explanation += search.search_sentences(level)
    return SourcingPlan(
        shipments=tuple(shipments),
        unfilled=unfilled,
        total_cost=sum((s.cost for s in shipments), ZERO),
        score=weights.to_decimal(plan.score),
        promised_date=_latest(shipments) if not unfilled else None,
        explanation=tuple(explanation),
    )


def _source_pickup(
    request: SourcingRequest,
    lines: tuple[Line, ...],
    candidates: tuple[Candidate, ...],
    weights: _Weights,
) -> SourcingPlan:
    """The pickup store hands over what it holds; other locations may transfer the rest.

    Store stock always goes first (it costs nothing and moves nothing). The remaining units are
    searched exactly like a ship order, with the store's coordinates as destination, any
    service level, and max_shipments minus the handover as the limit. Each transfer is a
    Shipment with `transfer_to_location_id` set. Kept simple on purpose: goods are ready for
    pickup the day the transfer arrives, so the promise is the later of the store's own
    handover date and the latest transfer's arrival.
    """
    rules = request.rules
    store = next((c for c in candidates if c.location_id == request.pickup_location_id), None)
    refusal = _pickup_refusal(store, request.pickup_location_id, rules)
    if refusal is not None:
        unfilled = _sum_by_line((line.line_number, line.quantity) for line in lines)
        sentences = [refusal] + [
            f"Line {number}: {_units(units)} unfilled: the pickup store cannot serve it."
            for number, units in sorted(unfilled.items())
        ]
        return SourcingPlan((), unfilled, ZERO, Decimal("0"), None, tuple(sentences))
    assert store is not None  # for type checkers: a missing store is a refusal above

    handed, remaining = _take_from(store.available, lines)
    shipments: list[Shipment] = []
    score = 0
    if handed:
        ready = promise_date(
            ordered_at=request.ordered_at,
            calendar=store.calendar,
            handling_days=store.handling_days,
            transit_days=0,
        )
        shipments.append(
            Shipment(
                location_id=store.location_id,
                location_code=store.code,
                assignments=_assignments(handed),
                weight_kg=_weight(handed),
                distance_km=0.0,
                carrier_service_id=None,
                cost=ZERO,
                transit_days=0,
                promised_date=ready,
                explanation=(
                    f"{store.code} hands over {_line_list(handed)} ({_units(_count(handed))}) "
                    f"from its own stock for pickup, ready {ready.isoformat()}."
                ),
                stock_level_ids=_stock_level_ids(store, handed),
            )
        )
        score += weights.priority * store.priority

    explanation: list[str] = []
    transfer_limit = rules.max_shipments - len(shipments)
    transfers: list[Shipment] = []
    if remaining and transfer_limit >= 1:
        allowed, refused = _allowed_to_ship(
            candidates, rules, remaining, skip_location_id=store.location_id
        )
        search = _Search(
            lines=remaining,
            latitude=store.latitude,
            longitude=store.longitude,
            candidates=allowed,
            services=_sorted_services(request.services),
            weights=weights,
            max_shipments=transfer_limit,
            transfer_to=store,
        )
        plan = search.run()
        transfers = [search.shipment(parcel, request.ordered_at) for parcel in plan.parcels]
        if transfers:
            score += plan.score + (weights.split if shipments else 0)
        shipments += transfers
        unfilled = _unfilled(lines, shipments)
        explanation += search.split_sentences(plan)
        explanation += search.unfilled_sentences(unfilled, lines, "transfers")
        explanation += _refused_sentences(refused, "send transfers")
        explanation += search.search_sentences(None)
    else:
        unfilled = _unfilled(lines, shipments)
        for number, units in sorted(unfilled.items()):
            explanation.append(
                f"Line {number}: {_units(units)} unfilled: {store.code} does not hold them and "
                f"the rules allow no further shipment to transfer them."
            )

    promised = _latest(shipments) if shipments and not unfilled else None
    if transfers and promised is not None:
        explanation.append(
            f"Ready for pickup at {store.code} on {promised.isoformat()}, "
            "when the last transfer has arrived."
        )
    return SourcingPlan(
        shipments=tuple(shipments),
        unfilled=unfilled,
        total_cost=sum((s.cost for s in shipments), ZERO),
        score=weights.to_decimal(score),
        promised_date=promised,
        explanation=tuple(s.explanation for s in shipments) + tuple(explanation),
    )


def _pickup_refusal(store: Candidate | None, location_id: int | None, rules: Rules) -> str | None:
    if store is None:
        return f"Pickup location {location_id} is not among the candidate locations."
    if not store.pickup:
        return f"{store.code} does not offer pickup."
    if store.type not in rules.pickup_location_types:
        return f"{store.code}: {store.type} locations may not serve pickup under these rules."
    if store.location_id in rules.excluded_location_ids:
        return f"{store.code} is excluded by the channel's rules."
    if not _works(store):
        return f"{store.code} has no working days: it never hands over."
    return None


# --- scoring ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Weights:
    """The rule weights as integers, so the search adds and compares exactly and fast.

    A score is held in units of 10^-(places + 3): three more decimal places than the weights
    carry, enough for cents (2 places) and tenths of a km (1 place) in the same integer.
    """

    places: int
    cost: int  # per cent
    transit: int  # per transit day
    distance: int  # per tenth of a km
    priority: int  # per point of priority
    split: int  # per extra shipment
    cost_only: bool  # only cost tells locations apart: explanations can say "cheapest"
    prunable: bool  # no negative weight: bounds are valid

    @classmethod
    def of(cls, rules: Rules) -> _Weights:
        values = [
            _decimal(v)
            for v in (
                rules.weight_cost,
                rules.weight_transit_days,
                rules.weight_distance,
                rules.weight_priority,
                rules.split_penalty,
            )
        ]
        places = max([0, *(-int(v.as_tuple().exponent) for v in values)])
        cost, transit, distance, priority, split = (int(v.scaleb(places)) for v in values)
        return cls(
            places=places,
            cost=cost * 10,
            transit=transit * 1000,
            distance=distance * 100,
            priority=priority * 1000,
            split=split * 1000,
            cost_only=cost > 0 and not (transit or distance or priority),
            prunable=all(v >= 0 for v in values),
        )

    def to_decimal(self, score: int) -> Decimal:
        return Decimal(score).scaleb(-(self.places + 3))


def _decimal(value: Decimal | int | float | str) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass(frozen=True, slots=True)
class _Quote:
    service: Service
    band: RateBand
    cost: Decimal
    cents: int


@dataclass(slots=True, eq=False)
class _Site:
    """An allowed candidate as the search sees it."""

    candidate: Candidate
    distance_km: float  # rounded to 0.1 km: what is stored, shown and scored
    fixed: int  # the score of its distance and priority
    atp: dict[int, int]  # demanded sku_id -> units, only where > 0
    vector: tuple[int, ...]  # ATP per demanded SKU, capped at the demand
    rank: int = 0
    lower_bound: int = 0  # no shipment from here scores less
    min_transit: int = 0  # no shipment from here arrives faster
    quotes: dict[Decimal, _Quote | None] = field(default_factory=dict)


# A parcel in a plan: where from, which units of which lines, and how it travels.
_Taken = tuple[tuple[Line, int], ...]
_Parcel = tuple[_Site, _Taken, _Quote]


@dataclass(slots=True)
class _Plan:
    parcels: list[_Parcel] = field(default_factory=list)
    filled: int = 0
    score: int = 0
    cents: int = 0
    signature: tuple = ()

    @property
    def rank_key(self) -> tuple[int, int, int, int]:
        return (-self.filled, self.score, len(self.parcels), self.cents)


# --- the search ------------------------------------------------------------------------------


class _Search:
    def __init__(
        self,
        *,
        lines: tuple[Line, ...],
        latitude: float,
        longitude: float,
        candidates: list[Candidate],
        services: tuple[Service, ...],
        weights: _Weights,
        max_shipments: int,
        transfer_to: Candidate | None = None,
    ) -> None:
        self.lines = lines
        self.services = services
        self.weights = weights
        self.max_shipments = max(1, max_shipments)
        self.transfer_to = transfer_to
        self.skus = sorted({line.sku_id for line in lines})
        self.demand = _sum_by_sku(lines)
        self.unreachable: list[tuple[Candidate, float]] = []
        self.exact = True
        self.best_single: _Plan | None = None
        # (site rank, ((line number, units), ...)) -> quote: sets share most of their parcels
        self.parcel_quotes: dict[tuple, _Quote | None] = {}

        reach = max((b.max_distance_km for s in services for b in s.rates), default=-1)
        sites: list[tuple[tuple, _Site]] = []
        for candidate in candidates:
            atp = {sku: n for sku in self.skus if (n := candidate.available.get(sku, 0)) > 0}
            if not atp:
                continue
            km = round(distance_km(latitude, longitude, candidate.latitude, candidate.longitude), 1)
            if km > reach:
                self.unreachable.append((candidate, km))
                continue
            site = _Site(
                candidate=candidate,
                distance_km=km,
                fixed=weights.distance * round(km * 10) + weights.priority * candidate.priority,
                atp=atp,
                vector=tuple(min(atp.get(sku, 0), self.demand[sku]) for sku in self.skus),
            )
            taken = _servable(atp, lines)
            quote = self.quote(site, _weight(taken)) if taken else None
            if quote is None:
                key: tuple = (0, 0, 0, candidate.code, candidate.location_id)
            else:
                score = site.fixed + weights.cost * quote.cents
                score += weights.transit * quote.band.transit_days
                key = (-_count(taken), score, quote.cents, candidate.code, candidate.location_id)
            sites.append((key, site))
        # Unshippable-whole sites rank after every site with a single-location plan.
        sites.sort(key=lambda item: (item[0][0] == 0, item[0]))
        self.sites = [site for _, site in sites]
        for rank, site in enumerate(self.sites):
            site.rank = rank
        self.kept = self._keep()

    # -- pricing --

    def quote(self, site: _Site, weight: Decimal) -> _Quote | None:
        """The cheapest service whose band covers the site's distance and this weight."""
        if weight in site.quotes:
            return site.quotes[weight]
        best: _Quote | None = None
        for service in self.services:
            band = rate_for(service, site.distance_km, weight)
            if band is None:
                continue
            cost = parcel_price(band, weight)
            if best is None or (cost, band.transit_days) < (best.cost, best.band.transit_days):
                best = _Quote(service, band, cost, int(cost * 100))
        site.quotes[weight] = best
        return best

    def _bound(self, site: _Site) -> bool:
        """Set the site's score lower bound; False if it cannot ship even its lightest unit."""
        lightest = min(line.unit_weight_kg for line in self.lines if line.sku_id in site.atp)
        cents: int | None = None
        transit: int | None = None
        for service in self.services:
            for band in service.rates:
                if band.max_distance_km < site.distance_km or band.max_weight_kg < lightest:
                    continue
                c = int(parcel_price(band, lightest) * 100)
                cents = c if cents is None else min(cents, c)
                transit = band.transit_days if transit is None else min(transit, band.transit_days)
        if cents is None or transit is None:
            return False
        site.lower_bound = site.fixed + self.weights.cost * cents
        site.min_transit = transit
        return True

    # -- which sites are searched --

    def _keep(self) -> list[_Site]:
        kept = self.sites[:KEPT_LOCATIONS]
        if len(self.sites) > KEPT_LOCATIONS:
            self.exact = False
            rest = self.sites[KEPT_LOCATIONS:]
            top = self.sites[0]
            if _count(_servable(top.atp, self.lines)) < sum(self.demand.values()):
                # A split may be needed: give each line its nearest location holding all of it,
                # the usual cheapest place to ship what the best single location lacks.
                for line in self.lines:
                    holders = [s for s in self.sites if s.atp.get(line.sku_id, 0) >= line.quantity]
                    nearest = min(holders, key=lambda s: (s.distance_km, s.rank), default=None)
                    if nearest is not None and nearest not in kept:
                        kept.append(nearest)
            for j, sku in enumerate(self.skus):
                want = min(self.demand[sku], sum(s.vector[j] for s in self.sites))
                have = sum(s.vector[j] for s in kept)
                for site in sorted(rest, key=lambda s: (-s.vector[j], s.rank)):
                    if have >= want or not site.vector[j]:
                        break
                    if site not in kept:
                        kept.append(site)
                        have += site.vector[j]
            kept.sort(key=lambda s: s.rank)
        return [site for site in kept if self._bound(site)]

    # -- branch and bound over location sets --

    def run(self) -> _Plan:
        kept = self.kept
        if not kept or not self.lines:
            return _Plan()
        weights = self.weights
        demand = tuple(self.demand[sku] for sku in self.skus)
        max_fill = _fill(kept, demand)
        bounds = sorted(site.lower_bound for site in kept)
        fastest = min(site.min_transit for site in kept)
        best: _Plan | None = None
        for size in range(1, min(self.max_shipments, len(kept)) + 1):
            if weights.prunable and best is not None and best.filled == max_fill:
                floor = sum(bounds[:size]) + weights.split * (size - 1)
                floor += weights.transit * fastest
                if floor > best.score or (floor == best.score and size > len(best.parcels)):
                    break  # every larger set scores at least this floor too
            # A set can only win on fill while the best plan still leaves units unfilled.
            fill_settled = best is not None and best.filled == max_fill and weights.prunable
            sets = []
            for group in combinations(kept, size):
                bound = weights.split * (size - 1)
                slowest = 0
                for site in group:
                    bound += site.lower_bound
                    if site.min_transit > slowest:
                        slowest = site.min_transit
                bound += weights.transit * slowest
                if fill_settled and (
                    bound > best.score or (bound == best.score and size > len(best.parcels))
                ):
                    continue
                fill = _fill(group, demand)
                if best is not None and fill < best.filled:
                    continue
                sets.append((-fill, bound, tuple(site.rank for site in group), group))
            sets.sort(key=lambda item: item[:3])
            for negative_fill, bound, _, group in sets:
                if best is not None:
                    if -negative_fill < best.filled:
                        break
                    if (
                        weights.prunable
                        and -negative_fill == best.filled
                        and (
                            bound > best.score or (bound == best.score and size > len(best.parcels))
                        )
                    ):
                        break  # sorted by fill, then bound: no later set can do better
                best = self._search_set(group, best)
            if size == 1:
                self.best_single = best
        return best or _Plan()

    def _search_set(self, group: tuple[_Site, ...], best: _Plan | None) -> _Plan | None:
        choices: list[list[_Site | None]] = []
        combinations_count = 1
        for line in self.lines:
            holders: list[_Site | None] = [s for s in group if line.sku_id in s.atp]
            whole = [s for s in holders if s is not None and s.atp[line.sku_id] >= line.quantity]
            # Splitting a line that one location of the set holds whole is never tried.
            choices.append(whole or holders or [None])
            combinations_count *= len(choices[-1])
        if combinations_count > MAX_PRIMARY_COMBINATIONS:
            self.exact = False
            choices = [[_likely_primary(line, group)] for line in self.lines]
        for primaries in product(*choices):
            best = self._consider(group, primaries, best)
        return best

    def _consider(
        self,
        group: tuple[_Site, ...],
        primaries: tuple[_Site | None, ...],
        best: _Plan | None,
    ) -> _Plan | None:
        left: dict[tuple[int, int], int] = {}
        taken: dict[int, list[tuple[Line, int]]] = {site.rank: [] for site in group}
        for line, primary in zip(self.lines, primaries, strict=True):
            if primary is None:
                continue
            need = line.quantity
            for site in (primary, *(s for s in group if s is not primary)):
                key = (site.rank, line.sku_id)
                have = left.get(key)
                if have is None:
                    have = site.atp.get(line.sku_id, 0)
                take = min(need, have)
                if take:
                    left[key] = have - take
                    taken[site.rank].append((line, take))
                    need -= take
                    if not need:
                        break

        weights = self.weights
        parcels: list[_Parcel] = []
        filled = score = cents = slowest = 0
        for site in group:
            units = tuple(taken[site.rank])
            if not units:
                continue
            key = (site.rank, tuple((line.line_number, count) for line, count in units))
            if key in self.parcel_quotes:
                quote = self.parcel_quotes[key]
            else:
                quote = self.parcel_quotes[key] = self.quote(site, _weight(units))
            if quote is None:
                continue  # too heavy for every band from here: those units stay unfilled
            parcels.append((site, units, quote))
            filled += _count(units)
            cents += quote.cents
            score += site.fixed + weights.cost * quote.cents
            slowest = max(slowest, quote.band.transit_days)
        if parcels:
            score += weights.transit * slowest + weights.split * (len(parcels) - 1)
        plan = _Plan(parcels, filled, score, cents)
        if best is not None:
            if plan.rank_key > best.rank_key:
                return best
            plan.signature = _signature(parcels)
            if plan.rank_key == best.rank_key and plan.signature >= best.signature:
                return best
            return plan
        plan.signature = _signature(parcels)
        return plan

    # -- turning the plan into shipments and sentences --

    def shipment(self, parcel: _Parcel, ordered_at) -> Shipment:
        site, units, quote = parcel
        candidate = site.candidate
        arrives = promise_date(
            ordered_at=ordered_at,
            calendar=candidate.calendar,
            handling_days=candidate.handling_days,
            transit_days=quote.band.transit_days,
        )
        weight = _weight(units)
        what = (
            f"{_line_list(units)} ({_units(_count(units))}, {_kg(weight)}, {_km(site.distance_km)})"
        )
        service = f"{quote.service.carrier_code} {quote.service.service_level_code}"
        if self.transfer_to is None:
            verb = f"{candidate.code} ships {what}"
        else:
            verb = (
                f"{candidate.code} sends {what} as a transfer to {self.transfer_to.code} for pickup"
            )
        return Shipment(
            location_id=candidate.location_id,
            location_code=candidate.code,
            assignments=_assignments(units),
            weight_kg=weight,
            distance_km=site.distance_km,
            carrier_service_id=quote.service.carrier_service_id,
            cost=quote.cost,
            transit_days=quote.band.transit_days,
            promised_date=arrives,
            explanation=(
                f"{verb} by {service} for {quote.cost}, arriving {arrives.isoformat()}: "
                f"{self._why(site, units, quote)}."
            ),
            stock_level_ids=_stock_level_ids(candidate, units),
            transfer_to_location_id=(
                self.transfer_to.location_id if self.transfer_to is not None else None
            ),
        )

    def _why(self, chosen: _Site, units: _Taken, quote: _Quote) -> str:
        """How this location compares with every allowed one that could ship the same units."""
        need = _sum_by_sku(line for line in _as_lines(units))
        weight = _weight(units)
        weights = self.weights
        options = []
        for site in self.sites:
            if any(site.atp.get(sku, 0) < units_ for sku, units_ in need.items()):
                continue
            q = quote if site is chosen else self.quote(site, weight)
            if q is None:
                continue
            score = site.fixed + weights.cost * q.cents + weights.transit * q.band.transit_days
            options.append((score, q.cents, site.candidate.code, site.rank, site, q))
        options.sort(key=lambda o: o[:4])
        able = "send them" if self.transfer_to is not None else "ship them"
        if len(options) <= 1:
            return f"the only allowed location able to {able}"
        top_score, _, top_code, _, top_site, top_quote = options[0]
        adjective = "cheapest" if weights.cost_only else "best under the rules"
        of = f"of {len(options)} allowed locations able to {able}"
        if top_site is chosen:
            next_score, _, next_code, _, _, next_quote = options[1]
            if weights.cost_only:
                delta = _signed_money(next_quote.cost - quote.cost)
            else:
                delta = "score " + _signed(weights.to_decimal(next_score - top_score))
            return f"{adjective} {of} (next best: {next_code} at {next_quote.cost}, {delta})"
        chosen_score = next(option[0] for option in options if option[4] is chosen)
        if chosen_score == top_score:
            return f"{adjective} {of}, tied with {top_code}"
        return (
            f"chosen for the order as a whole, although {top_code} alone could {able} "
            f"for {top_quote.cost}"
        )

    def split_sentences(self, plan: _Plan) -> list[str]:
        count = len(plan.parcels)
        if count < 2:
            return []
        single = self.best_single
        noun = "transfers" if self.transfer_to is not None else "shipments"
        if single is None or not single.parcels or single.filled < plan.filled:
            return [f"Split into {count} {noun}: no single allowed location could fill as much."]
        code = single.parcels[0][0].candidate.code
        return [
            f"Split into {count} {noun}: score {_number(self.weights.to_decimal(plan.score))} "
            f"against {_number(self.weights.to_decimal(single.score))} for the best single "
            f"location ({code})."
        ]

    def unfilled_sentences(
        self, unfilled: dict[int, int], ordered: tuple[Line, ...], noun: str
    ) -> list[str]:
        """One sentence per unfilled line; `ordered` holds the lines as ordered."""
        quantities = {line.line_number: line.quantity for line in ordered}
        sentences = []
        for line in self.lines:
            units = unfilled.get(line.line_number)
            if not units:
                continue
            held = sum(site.atp.get(line.sku_id, 0) for site in self.sites)
            wanted = self.demand[line.sku_id]
            quantity = quantities.get(line.line_number, line.quantity)
            of = f"{units} of {quantity} units" if units != quantity else _units(units)
            if held == 0:
                reason = "no allowed location has it in stock"
            elif held < wanted:
                reason = f"allowed locations hold only {held} of the {wanted} ordered"
            else:
                limit = f"{self.max_shipments} {noun if self.max_shipments != 1 else noun[:-1]}"
                reason = f"no plan within the rules' limit of {limit} could also ship these units"
            sentences.append(f"Line {line.line_number}: {of} unfilled: {reason}.")
        return sentences

    def search_sentences(self, level: str | None) -> list[str]:
        sentences = []
        if self.unreachable:
            what = f"{level} service" if level else "carrier service"
            codes = ", ".join(f"{c.code} ({_km(km)})" for c, km in self.unreachable[:10])
            if len(self.unreachable) > 10:
                codes += f" and {len(self.unreachable) - 10} more"
            sentences.append(f"No {what} reaches the destination from {codes}.")
        if not self.exact:
            sentences.append(
                f"Searched the {len(self.kept)} most promising of {len(self.sites)} allowed "
                "locations holding stock (bounded search)."
            )
        return sentences


def _fill(group, demand: tuple[int, ...]) -> int:
    """The most units a set of sites can fill: per SKU, min(demand, what they hold)."""
    total = 0
    for j, wanted in enumerate(demand):
        held = 0
        for site in group:
            held += site.vector[j]
        total += wanted if held >= wanted else held
    return total


def _likely_primary(line: Line, group: tuple[_Site, ...]) -> _Site | None:
    best: _Site | None = None
    for site in group:
        held = site.atp.get(line.sku_id, 0)
        if held >= line.quantity:
            return site
        if held and (best is None or held > best.atp.get(line.sku_id, 0)):
            best = site
    return best


def _signature(parcels: list[_Parcel]) -> tuple:
    """The last tie-break between equally good plans: better-ranked locations carry more.

    Ranks are unique and deterministic (best single-location plan, then code), so with equal
    scores the location that could ship most of the order on its own ships most of it.
    """
    return tuple(
        sorted(
            (site.rank, tuple((line.line_number, -units) for line, units in taken))
            for site, taken, _ in parcels
        )
    )


# --- eligibility -----------------------------------------------------------------------------


def _allowed_to_ship(
    candidates: tuple[Candidate, ...],
    rules: Rules,
    lines: tuple[Line, ...],
    *,
    skip_location_id: int | None,
) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """Candidates the rules let ship, and why those holding ordered stock were left out."""
    skus = {line.sku_id for line in lines}
    allowed: list[Candidate] = []
    refused: list[tuple[Candidate, str]] = []
    for candidate in candidates:
        if candidate.location_id == skip_location_id:
            continue
        if candidate.location_id in rules.excluded_location_ids:
            reason = "excluded by the channel's rules"
        elif not candidate.ships:
            reason = "does not ship"
        elif candidate.type not in rules.ship_location_types:
            reason = f"{candidate.type} locations may not ship under these rules"
        elif not _works(candidate):
            reason = "has no working days: it never ships"
        else:
            allowed.append(candidate)
            continue
        if any(candidate.available.get(sku, 0) > 0 for sku in skus):
            refused.append((candidate, reason))
    return allowed, refused


def _works(candidate: Candidate) -> bool:
    """A location whose calendar names no ISO weekday (bad data) never ships: no promise
    could be made for it, so it takes no part rather than failing the whole request."""
    return bool(candidate.calendar.working_weekdays & ISO_WEEKDAYS)


def _refused_sentences(refused: list[tuple[Candidate, str]], verb: str) -> list[str]:
    if not refused:
        return []
    shown = "; ".join(f"{c.code} ({reason})" for c, reason in refused[:10])
    more = f"; and {len(refused) - 10} more" if len(refused) > 10 else ""
    count = len(refused)
    noun = "location" if count == 1 else "locations"
    return [f"Rules keep {count} {noun} holding stock from being asked to {verb}: {shown}{more}."]


# --- small helpers ---------------------------------------------------------------------------


def _line_number(line: Line) -> int:
    return line.line_number


def _sorted_services(services) -> tuple[Service, ...]:
    return tuple(sorted(services, key=lambda s: (s.carrier_code, s.carrier_service_id)))


def _take_from(
    available: dict[int, int], lines: tuple[Line, ...]
) -> tuple[_Taken, tuple[Line, ...]]:
    """What one location can give, line by line; and the lines' remaining units."""
    left = dict(available)
    taken: list[tuple[Line, int]] = []
    remaining: list[Line] = []
    for line in lines:
        take = min(line.quantity, max(left.get(line.sku_id, 0), 0))
        if take:
            left[line.sku_id] -= take
            taken.append((line, take))
        if take < line.quantity:
            remaining.append(replace(line, quantity=line.quantity - take))
    return tuple(taken), tuple(remaining)


def _servable(available: dict[int, int], lines: tuple[Line, ...]) -> _Taken:
    """What one location can give, line by line (lines of one SKU share its units)."""
    left: dict[int, int] = {}
    taken: list[tuple[Line, int]] = []
    for line in lines:
        have = left.get(line.sku_id)
        if have is None:
            have = max(available.get(line.sku_id, 0), 0)
        take = line.quantity if line.quantity <= have else have
        if take:
            left[line.sku_id] = have - take
            taken.append((line, take))
    return tuple(taken)


def _weight(units: _Taken) -> Decimal:
    total = Decimal("0")
    for line, count in units:
        total += line.unit_weight_kg * count
    return total


def _count(units: _Taken) -> int:
    return sum(count for _, count in units)


def _as_lines(units: _Taken) -> list[Line]:
    return [replace(line, quantity=count) for line, count in units]


def _sum_by_sku(lines) -> dict[int, int]:
    totals: dict[int, int] = {}
    for line in lines:
        totals[line.sku_id] = totals.get(line.sku_id, 0) + line.quantity
    return totals


def _sum_by_line(pairs) -> dict[int, int]:
    totals: dict[int, int] = {}
    for number, units in pairs:
        if units:
            totals[number] = totals.get(number, 0) + units
    return totals


def _assignments(units: _Taken) -> tuple[Assignment, ...]:
    return tuple(Assignment(line.line_number, line.sku_id, count) for line, count in units)


def _stock_level_ids(candidate: Candidate, units: _Taken) -> dict[int, int]:
    return {
        line.sku_id: candidate.stock_level_ids[line.sku_id]
        for line, _ in units
        if line.sku_id in candidate.stock_level_ids
    }


def _unfilled(lines: tuple[Line, ...], shipments: list[Shipment]) -> dict[int, int]:
    served = _sum_by_line(
        (a.line_number, a.quantity) for shipment in shipments for a in shipment.assignments
    )
    return {
        line.line_number: line.quantity - served.get(line.line_number, 0)
        for line in lines
        if line.quantity > served.get(line.line_number, 0)
    }


def _latest(shipments: list[Shipment]) -> date | None:
    return max((s.promised_date for s in shipments), default=None)


def _line_list(units: _Taken) -> str:
    parts = [
        str(line.line_number)
        if count == line.quantity
        else f"{line.line_number} ({count} of {line.quantity})"
        for line, count in units
    ]
    return ("line " if len(parts) == 1 else "lines ") + ", ".join(parts)


def _units(count: int) -> str:
    return f"{count} unit" if count == 1 else f"{count} units"


def _number(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return text


def _signed(value: Decimal) -> str:
    return f"+{_number(value)}" if value >= 0 else _number(value)


def _signed_money(value: Decimal) -> str:
    return f"+{value}" if value >= 0 else f"{value}"


def _kg(weight: Decimal) -> str:
    return f"{_number(weight)} kg"


def _km(km: float) -> str:
    return f"{km:.0f} km" if km >= 10 else f"{km:.1f} km"
