"""Demo data for `make run`: channels, shipping, tax, locations, a catalogue with stock,
carriers and sourcing rules, customers, the demo logins and one fresh API key per channel.

It lives in the top app because it fills every app's tables.

Safe to run again: rows are keyed on their codes and emails, and stock is received only where
a SKU has never moved at a location, so a second run never adds units.
"""

from __future__ import annotations

import random
from decimal import ROUND_DOWN, Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from customers.models import Address, Customer
from fulfillment.desk.permissions import ensure_agents_group
from inventory.models import SKU, Location, StockMovement
from inventory.services import receive_stock
from orders.models import ChannelAPIKey, SalesChannel, ServiceLevel, TaxRate
from reporting.management.commands._fulfillment_seed import seed_fulfillment

# One seed for everything, so every machine gets the same catalogue, stock and customers.
SEED = 42
SKU_COUNT = 200
# The catalogue's tail is out of stock everywhere: "nothing available" is easy to demo.
FIRST_OUT_OF_STOCK = 190
# Just before it, 1-3 units in total: enough to watch two orders race for the last one.
FIRST_LOW_STOCK = 180
CUSTOMER_COUNT = 50
STOCK_REFERENCE = "demo-seed"
DEMO_KEY_NAME = "demo"
CENT = Decimal("0.01")

CHANNELS = [
    # code, name, type, allows_backorders
    ("web", "Web storefront", SalesChannel.Type.WEB, False),
    ("mobile", "Mobile app", SalesChannel.Type.MOBILE, False),
    ("store", "Store POS", SalesChannel.Type.STORE, False),
    ("call-center", "Call center", SalesChannel.Type.CALL_CENTER, True),
]

SERVICE_LEVELS = [
    # code, name, transit days, base amount, per kg amount
    ("standard", "Standard", 5, "5.99", "0.50"),
    ("express", "Express", 2, "14.99", "1.00"),
    ("next-day", "Next day", 1, "29.99", "1.50"),
]

TAX_RATES = [
    # country, region (blank = country-wide), name, rate
    ("US", "CA", "California sales tax", "0.0725"),
    ("US", "NY", "New York sales tax", "0.0400"),
    ("US", "TX", "Texas sales tax", "0.0625"),
    ("US", "WA", "Washington sales tax", "0.0650"),
    ("US", "IL", "Illinois sales tax", "0.0625"),
    ("GB", "", "UK VAT", "0.2000"),
    ("DE", "", "German VAT", "0.1900"),
    ("CA", "", "Canadian GST", "0.0500"),
]

LOCATIONS = [
    {
        "code": "WH-EAST",
        "name": "East Coast warehouse",
        "type": Location.Type.WAREHOUSE,
        "line1": "200 Port Street",
        "city": "Newark",
        "region": "NJ",
        "postal_code": "07114",
        "latitude": "40.701400",
        "longitude": "-74.151600",
        "ships_orders": True,
        "allows_pickup": False,
        "handling_days": 1,
        "priority": 10,
    },
    {
        "code": "WH-WEST",
        "name": "West Coast warehouse",
        "type": Location.Type.WAREHOUSE,
        "line1": "1 Electric Avenue",
        "city": "Reno",
        "region": "NV",
        "postal_code": "89502",
        "latitude": "39.501100",
        "longitude": "-119.760800",
        "ships_orders": True,
        "allows_pickup": False,
        "handling_days": 1,
        "priority": 10,
    },
    {
        "code": "3PL-CENTRAL",
        "name": "Central 3PL (Memphis)",
        "type": Location.Type.THIRD_PARTY,
        "line1": "3900 Airways Boulevard",
        "city": "Memphis",
        "region": "TN",
        "postal_code": "38116",
        "latitude": "35.042400",
        "longitude": "-89.976700",
        "ships_orders": True,
        "allows_pickup": False,
        "handling_days": 2,
        "priority": 20,
    },
    {
        "code": "STORE-NYC",
        "name": "New York store",
        "type": Location.Type.STORE,
        "line1": "151 West 34th Street",
        "city": "New York",
        "region": "NY",
        "postal_code": "10001",
        "latitude": "40.750800",
        "longitude": "-73.989400",
        # The flagship ships online orders from store as well as serving pickups.
        "ships_orders": True,
        "allows_pickup": True,
        "handling_days": 1,
        "priority": 50,
    },
    {
        "code": "STORE-SF",
        "name": "San Francisco store",
        "type": Location.Type.STORE,
        "line1": "865 Market Street",
        "city": "San Francisco",
        "region": "CA",
        "postal_code": "94103",
        "latitude": "37.784100",
        "longitude": "-122.407100",
        "ships_orders": False,
        "allows_pickup": True,
        "handling_days": 1,
        "priority": 50,
    },
    {
        "code": "STORE-CHI",
        "name": "Chicago store",
        "type": Location.Type.STORE,
        "line1": "835 North Michigan Avenue",
        "city": "Chicago",
        "region": "IL",
        "postal_code": "60611",
        "latitude": "41.897600",
        "longitude": "-87.624100",
        "ships_orders": False,
        "allows_pickup": True,
        "handling_days": 1,
        "priority": 50,
    },
    {
        "code": "DS-ACME",
        "name": "ACME drop-ship vendor",
        "type": Location.Type.DROPSHIP_VENDOR,
        "line1": "4400 Commerce Drive",
        "city": "Columbus",
        "region": "OH",
        "postal_code": "43219",
        "latitude": "40.000700",
        "longitude": "-82.883900",
        "contact_email": "orders@acme-dropship.example",  # purchase orders are emailed here
        "ships_orders": True,
        "allows_pickup": False,
        # Vendors take longer to hand over and cost more, so they are the last resort.
        "handling_days": 3,
        "priority": 90,
    },
]

# How each kind of location stocks the catalogue: chance it carries a SKU, unit range.
STOCKING = {
    Location.Type.WAREHOUSE: (0.85, 20, 200),
    Location.Type.THIRD_PARTY: (0.55, 10, 120),
    Location.Type.STORE: (0.45, 1, 12),
    Location.Type.DROPSHIP_VENDOR: (0.15, 50, 500),
}

ADJECTIVES = [
    "Classic", "Compact", "Deluxe", "Eco", "Ergonomic", "Heavy-Duty", "Lightweight", "Modern",
    "Portable", "Premium", "Rugged", "Sleek", "Smart", "Vintage", "Foldable", "Everyday",
]  # fmt: skip

PRODUCTS = [
    # noun, price range (whole dollars), weight range (kg)
    ("Backpack", (39, 129), (0.5, 1.6)),
    ("Desk Lamp", (24, 89), (0.8, 2.5)),
    ("Water Bottle", (12, 39), (0.2, 0.6)),
    ("Headphones", (49, 299), (0.2, 0.5)),
    ("Office Chair", (149, 599), (9.0, 18.0)),
    ("Coffee Grinder", (29, 179), (0.9, 3.0)),
    ("Yoga Mat", (19, 89), (0.9, 2.5)),
    ("Bluetooth Speaker", (29, 249), (0.3, 1.4)),
    ("Standing Desk", (299, 899), (20.0, 35.0)),
    ("Rain Jacket", (59, 229), (0.4, 0.9)),
    ("Running Shoes", (69, 189), (0.6, 1.2)),
    ("Cast Iron Skillet", (25, 79), (2.0, 4.0)),
    ("Throw Blanket", (29, 119), (0.8, 2.0)),
    ("Wall Clock", (19, 99), (0.5, 1.5)),
    ("Tool Kit", (39, 199), (2.0, 6.5)),
    ("Camping Tent", (89, 449), (2.0, 6.0)),
    ("Electric Kettle", (25, 99), (0.8, 1.6)),
    ("Keyboard", (39, 219), (0.5, 1.2)),
    ("Monitor Stand", (29, 149), (1.5, 4.0)),
    ("Plant Pot", (9, 59), (0.3, 3.0)),
]

FIRST_NAMES = [
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Elijah", "Sophia", "James", "Isabella", "Lucas",
    "Mia", "Mason", "Amelia", "Ethan", "Harper", "Logan", "Evelyn", "Aiden", "Abigail", "Jacob",
    "Emily", "Michael", "Ella", "Daniel", "Scarlett", "Henry", "Grace", "Jackson", "Chloe",
    "Sebastian", "Victoria", "Owen", "Riley", "Samuel", "Aria", "Matthew", "Lily", "Joseph",
    "Zoey", "Levi", "Nora", "David", "Hannah", "John", "Layla", "Wyatt", "Maya", "Carter",
    "Priya", "Mateo", "Aisha", "Wei",
]  # fmt: skip

LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Patel", "Chen",
]  # fmt: skip

STREETS = [
    "Main Street", "Oak Avenue", "Maple Drive", "Cedar Lane", "Park Avenue", "Elm Street",
    "Washington Boulevard", "Lakeview Road", "Sunset Drive", "Hillcrest Avenue", "Pine Street",
    "Broadway", "Highland Avenue", "River Road", "Church Street",
]  # fmt: skip

US_CITIES = [
    # city, state, postal code, latitude, longitude, phone area code
    ("Los Angeles", "CA", "90012", 34.0537, -118.2428, "213"),
    ("San Diego", "CA", "92101", 32.7157, -117.1611, "619"),
    ("Oakland", "CA", "94612", 37.8044, -122.2712, "510"),
    ("Brooklyn", "NY", "11201", 40.6943, -73.9903, "718"),
    ("Buffalo", "NY", "14202", 42.8864, -78.8784, "716"),
    ("Austin", "TX", "78701", 30.2672, -97.7431, "512"),
    ("Houston", "TX", "77002", 29.7604, -95.3698, "713"),
    ("Seattle", "WA", "98101", 47.6062, -122.3321, "206"),
    ("Spokane", "WA", "99201", 47.6588, -117.4260, "509"),
    ("Chicago", "IL", "60614", 41.9214, -87.6513, "312"),
    ("Boston", "MA", "02108", 42.3588, -71.0707, "617"),
    ("Miami", "FL", "33130", 25.7617, -80.1918, "305"),
    ("Denver", "CO", "80202", 39.7392, -104.9903, "303"),
    ("Atlanta", "GA", "30303", 33.7490, -84.3880, "404"),
    ("Portland", "OR", "97204", 45.5152, -122.6784, "503"),
    ("Phoenix", "AZ", "85004", 33.4484, -112.0740, "602"),
    ("Philadelphia", "PA", "19107", 39.9526, -75.1652, "215"),
    ("Jersey City", "NJ", "07302", 40.7178, -74.0431, "201"),
    ("Nashville", "TN", "37203", 36.1627, -86.7816, "615"),
    ("Minneapolis", "MN", "55401", 44.9778, -93.2650, "612"),
]


def _money(value: float | int | str) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _decimal(value: float, places: int) -> Decimal:
    return Decimal(str(round(value, places)))


class Command(BaseCommand):
    help = "Load demo data (idempotent) and print demo logins and a fresh API key per channel."

    def add_arguments(self, parser):
        parser.add_argument(
            "--quiet", action="store_true", help="Do not print the demo logins and API keys."
        )

    def handle(self, *args, quiet: bool = False, **options):
        # Everything random is drawn up front from one seeded generator, in a fixed order, so
        # the plan never depends on what the database already holds.
        rng = random.Random(SEED)
        sku_rows = self._plan_skus(rng)
        locations_by_type = {}
        for row in LOCATIONS:
            locations_by_type.setdefault(row["type"], []).append(row["code"])
        stock_plan = self._plan_stock(rng, locations_by_type)
        customer_rows = self._plan_customers(rng)

        with transaction.atomic():
            channels = self._seed_channels()
            self._seed_shipping_and_tax()
            locations = self._seed_locations()
            skus = self._seed_skus(sku_rows)
            receipts = self._seed_stock(stock_plan, skus, locations)
            self._seed_customers(customer_rows)
            seed_fulfillment()
            self._seed_users()
            keys = self._rotate_demo_keys(channels)

        if options["verbosity"] >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo data ready: {len(channels)} channels, {len(locations)} locations, "
                    f"{len(skus)} SKUs ({receipts} stock receipts this run), "
                    f"{len(customer_rows)} customers."
                )
            )
        if quiet:
            return
        self.stdout.write("Demo logins (demo only, never in production):")
        self.stdout.write("  admin / admin   superuser, /admin/")
        self.stdout.write("  agent / agent   call-center agent (Agents group), /desk/")
        self.stdout.write("API keys (new on every run; this command revokes older demo keys):")
        for code, key in keys:
            self.stdout.write(f"channel {code}: Api-Key {key}")

    # --- plans (pure, deterministic) ------------------------------------------------------

    def _plan_skus(self, rng: random.Random) -> list[dict]:
        names = rng.sample(
            [(adjective, product) for adjective in ADJECTIVES for product in PRODUCTS], SKU_COUNT
        )
        rows = []
        for number, (adjective, (noun, prices, weights)) in enumerate(names, start=1):
            price = _money(rng.randint(*prices)) - CENT  # shelf prices end in .99
            margin = Decimal(rng.randint(35, 70)) / 100
            rows.append(
                {
                    "code": f"SKU-{number:04d}",
                    "name": f"{adjective} {noun}",
                    "description": f"Demo product: {adjective.lower()} {noun.lower()}.",
                    "price_amount": price,
                    "cost_amount": (price * margin).quantize(CENT, rounding=ROUND_DOWN),
                    "currency": "USD",
                    "weight_kg": _decimal(rng.uniform(*weights), 3),
                    "is_sellable": True,
                }
            )
        return rows

    def _plan_stock(
        self, rng: random.Random, locations_by_type: dict[str, list[str]]
    ) -> list[tuple[str, str, int]]:
        """(sku code, location code, units) to receive."""
        all_codes = [row["code"] for row in LOCATIONS]
        plan = []
        for number in range(1, SKU_COUNT + 1):
            code = f"SKU-{number:04d}"
            if number >= FIRST_OUT_OF_STOCK:
                continue
            if number >= FIRST_LOW_STOCK:
                plan.append((code, rng.choice(all_codes), rng.randint(1, 3)))
                continue
            rows = []
            for location_type, (chance, low, high) in STOCKING.items():
                for location_code in locations_by_type.get(location_type, []):
                    if rng.random() < chance:
                        rows.append((code, location_code, rng.randint(low, high)))
            if not rows:  # every other SKU is sellable somewhere
                rows.append((code, "WH-EAST", rng.randint(20, 200)))
            plan.extend(rows)
        return plan

    def _plan_customers(self, rng: random.Random) -> list[dict]:
        pairs = zip(
            rng.sample(FIRST_NAMES, CUSTOMER_COUNT),
            rng.sample(LAST_NAMES, CUSTOMER_COUNT),
            strict=True,
        )
        vip_indexes = set(rng.sample(range(CUSTOMER_COUNT), 5))
        rows = []
        for index, (first_name, last_name) in enumerate(pairs):
            city, state, postal_code, latitude, longitude, area_code = rng.choice(US_CITIES)
            has_apartment = rng.random() < 0.3
            rows.append(
                {
                    "email": f"{first_name}.{last_name}@example.com".lower(),
                    "first_name": first_name,
                    "last_name": last_name,
                    # 555-01xx numbers are reserved for fiction.
                    "phone": f"+1 {area_code} 555 01{index:02d}",
                    "tier": Customer.Tier.VIP if index in vip_indexes else Customer.Tier.STANDARD,
                    "address": {
                        "label": "Home",
                        "recipient": f"{first_name} {last_name}",
                        "line1": f"{rng.randint(10, 9999)} {rng.choice(STREETS)}",
                        "line2": f"Apt {rng.randint(1, 30)}{rng.choice('ABCD')}"
                        if has_apartment
                        else "",
                        "city": city,
                        "region": state,
                        "postal_code": postal_code,
                        "country": "US",
                        "latitude": _decimal(latitude + rng.uniform(-0.03, 0.03), 6),
                        "longitude": _decimal(longitude + rng.uniform(-0.03, 0.03), 6),
                    },
                }
            )
        return rows

    # --- writes ---------------------------------------------------------------------------

    def _seed_channels(self) -> list[SalesChannel]:
        return [
            SalesChannel.objects.update_or_create(
                code=code,
                defaults={
                    "name": name,
                    "type": channel_type,
                    "currency": "USD",
                    "is_active": True,
                    "allows_backorders": allows_backorders,
                },
            )[0]
            for code, name, channel_type, allows_backorders in CHANNELS
        ]

    def _seed_shipping_and_tax(self) -> None:
        for code, name, transit_days, base_amount, per_kg_amount in SERVICE_LEVELS:
            ServiceLevel.objects.update_or_create(
                code=code,
                defaults={
                    "name": name,
                    "transit_days": transit_days,
                    "base_amount": Decimal(base_amount),
                    "per_kg_amount": Decimal(per_kg_amount),
                    "currency": "USD",
                    "is_active": True,
                },
            )
        for country, region, name, rate in TAX_RATES:
            TaxRate.objects.update_or_create(
                country=country, region=region, defaults={"name": name, "rate": Decimal(rate)}
            )

    def _seed_locations(self) -> dict[str, Location]:
        locations = {}
        for row in LOCATIONS:
            defaults = {key: value for key, value in row.items() if key != "code"}
            defaults.update(
                country="US",
                latitude=Decimal(row["latitude"]),
                longitude=Decimal(row["longitude"]),
                is_active=True,
            )
            locations[row["code"]], _ = Location.objects.update_or_create(
                code=row["code"], defaults=defaults
            )
        return locations

    def _seed_skus(self, rows: list[dict]) -> dict[str, SKU]:
        skus = {}
        for row in rows:
            defaults = {key: value for key, value in row.items() if key != "code"}
            skus[row["code"]], _ = SKU.objects.update_or_create(code=row["code"], defaults=defaults)
        return skus

    def _seed_stock(
        self,
        plan: list[tuple[str, str, int]],
        skus: dict[str, SKU],
        locations: dict[str, Location],
    ) -> int:
        # Any movement at all means this SKU was stocked here before (by a seed or by staff):
        # receiving again would double the demo stock, so leave it as it is.
        stocked = set(StockMovement.objects.values_list("sku_id", "location_id").distinct())
        receipts = 0
        for sku_code, location_code, quantity in plan:
            sku, location = skus[sku_code], locations[location_code]
            if (sku.pk, location.pk) in stocked:
                continue
            receive_stock(
                sku=sku,
                location=location,
                quantity=quantity,
                reference=STOCK_REFERENCE,
                reason="Initial demo stock",
            )
            stocked.add((sku.pk, location.pk))
            receipts += 1
        return receipts

    def _seed_customers(self, rows: list[dict]) -> None:
        for row in rows:
            fields = {key: value for key, value in row.items() if key not in {"email", "address"}}
            customer, _ = Customer.objects.update_or_create(email=row["email"], defaults=fields)
            Address.objects.update_or_create(
                customer=customer, is_default=True, defaults=row["address"]
            )

    def _seed_users(self) -> None:
        user_model = get_user_model()
        # Passwords are set only when the user is created: a re-run never undoes a change.
        admin, created = user_model.objects.get_or_create(
            username="admin",
            defaults={"email": "admin@example.com", "is_staff": True, "is_superuser": True},
        )
        if created:
            admin.set_password("admin")
            admin.save(update_fields=["password"])

        # The Agents group comes from a migration (fulfillment 0003); this repairs a demo
        # database whose group was edited by hand.
        group = ensure_agents_group()

        agent, created = user_model.objects.get_or_create(
            username="agent",
            defaults={
                "email": "agent@example.com",
                "first_name": "Demo",
                "last_name": "Agent",
            },
        )
        if created:
            agent.set_password("agent")
            agent.save(update_fields=["password"])
        # An agent works on the desk only: no admin, and no rights beyond the group's.
        if agent.is_staff or agent.is_superuser:
            agent.is_staff = agent.is_superuser = False
            agent.save(update_fields=["is_staff", "is_superuser"])
        agent.user_permissions.clear()
        agent.groups.set([group])

    def _rotate_demo_keys(self, channels: list[SalesChannel]) -> list[tuple[str, str]]:
        # Only a hash is stored, so an old key cannot be shown again: issue a new one.
        keys = []
        for channel in channels:
            ChannelAPIKey.objects.filter(channel=channel, name=DEMO_KEY_NAME, revoked=False).update(
                revoked=True
            )
            _, key = ChannelAPIKey.objects.create_key(name=DEMO_KEY_NAME, channel=channel)
            keys.append((channel.code, key))
        return keys
