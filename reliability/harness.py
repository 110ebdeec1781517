"""What every scenario uses: outcomes, HTTP clients, concurrency, processes, seed data."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


# --- Outcomes -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What a scenario tried, what it found, and each broken invariant (empty: it held)."""

    name: str
    tried: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    skipped: str = ""

    @property
    def passed(self) -> bool:
        return not self.broken

    def attempt(self, text: str) -> None:
        self.tried.append(text)
        print(f"  tried: {text}", flush=True)

    def note(self, text: str) -> None:
        self.found.append(text)
        print(f"  found: {text}", flush=True)

    def expect(self, holds: bool, invariant: str, detail: str = "") -> bool:
        """Record an invariant; print it either way so a reader sees what was checked."""
        if holds:
            print(f"  ok:    {invariant}", flush=True)
        else:
            self.broken.append(f"{invariant}: {detail}" if detail else invariant)
            print(f"  BROKEN: {invariant}" + (f" — {detail}" if detail else ""), flush=True)
        return holds

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "skipped": self.skipped,
            "tried": self.tried,
            "found": self.found,
            "broken": self.broken,
            "data": self.data,
        }


# --- Clients --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None


class Client(Protocol):
    """One caller (one connection); `send` may be called from one thread at a time."""

    def send(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Reply: ...


ClientFactory = Callable[[str | None], Client]  # API key (or None) → a new client


class HttpClient:
    """A keep-alive HTTP/1.1 connection to a running server; reconnects once if it dropped."""

    def __init__(self, base_url: str, api_key: str | None = None, timeout: float = 60) -> None:
        host_port = base_url.removeprefix("http://").rstrip("/")
        self.host, _, port = host_port.partition(":")
        self.port = int(port or 80)
        self.api_key = api_key
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def send(self, method, path, body=None, headers=None) -> Reply:
        all_headers = {"Accept": "application/json", **(headers or {})}
        if self.api_key:
            all_headers["Authorization"] = f"Api-Key {self.api_key}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout
                )
            try:
                self._connection.request(method, path, body=payload, headers=all_headers)
                response = self._connection.getresponse()
                data = response.read()
            except (ConnectionError, http.client.RemoteDisconnected, BrokenPipeError):
                self.close()
                if attempt == 2:
                    raise
                continue
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class DjangoClient:
    """The same interface over Django's test client: the in-process fast subset (pytest)."""

    def __init__(self, api_key: str | None = None) -> None:
        from rest_framework.test import APIClient

        self._client = APIClient()
        if api_key:
            self._client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key}")

    def send(self, method, path, body=None, headers=None) -> Reply:
        extra = {
            "HTTP_" + name.upper().replace("-", "_"): value
            for name, value in (headers or {}).items()
        }
        response = getattr(self._client, method.lower())(
            path, body, format="json" if body is not None else None, **extra
        )
        return Reply(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
        )


def run_together(count: int, work: Callable[[int], Any], *, workers: int | None = None) -> list:
    """Run work(0..count-1) on `workers` threads (default: one each) released at one instant.

    Each slot holds the result or the exception; every thread closes its database connection
    (in-process clients open one per thread).
    """
    workers = min(workers or count, count)
    barrier = threading.Barrier(workers)
    results: list[Any] = [None] * count
    started = threading.local()

    def runner(index: int) -> None:
        if not getattr(started, "yes", False):
            started.yes = True
            barrier.wait(timeout=60)
        try:
            results[index] = work(index)
        except Exception as error:
            results[index] = error

    def close_connection() -> None:
        from django.db import connection

        connection.close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(runner, range(count)))
        # Threads of a pool keep their connection; close each one on its own thread.
        closers = threading.Barrier(workers)
        list(pool.map(lambda _: (closers.wait(timeout=60), close_connection()), range(workers)))
    return results


# --- Processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_environment(**extra: str) -> dict[str, str]:
    """The environment of every process a scenario starts: our settings and database."""
    from django.db import connection

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "reliability.settings",
        "RELIABILITY_DATABASE_NAME": connection.settings_dict["NAME"],
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen
    log: Path

    def client(self, api_key: str | None = None) -> HttpClient:
        return HttpClient(self.base_url, api_key)


GUNICORN_WORKERS = 2
GUNICORN_THREADS = 8


@contextmanager
def gunicorn(
    log_dir: Path, *, workers: int = GUNICORN_WORKERS, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """gunicorn oms.wsgi on a free port, as production runs it (gthread workers); `env` adds
    to child_environment (a private broker, the web_killed kill switch)."""
    port = free_port()
    log = log_dir / f"gunicorn-{port}.log"
    command = [
        str(BIN / "gunicorn"),
        "oms.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(GUNICORN_THREADS),
        "--timeout",
        "60",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=child_environment(**(env or {})),
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until_healthy(server)
        yield server
    finally:
        stop(process)


def wait_until_healthy(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited; see {server.log}")
        try:
            if HttpClient(server.base_url, timeout=2).send("GET", "/health/").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn not healthy after {timeout:.0f} s; see {server.log}")


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Stop a process we started (its own session: its children go too)."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)
    except ProcessLookupError:
        pass


# --- Seed data ------------------------------------------------------------------------------

SHIP_TO = {
    "line1": "1 Liberty Plaza",
    "city": "New York",
    "region": "NY",
    "postal_code": "10006",
    "country": "US",
}


def seed_reference() -> None:
    """Service level, carrier, rate band, tax and one warehouse; safe to call again."""
    from fulfillment.models import Carrier, CarrierService, ShippingRate
    from inventory.models import Location
    from orders.models import ServiceLevel, TaxRate

    level, _ = ServiceLevel.objects.get_or_create(
        code="standard",
        defaults={
            "name": "Standard",
            "transit_days": 3,
            "base_amount": Decimal("5.00"),
            "per_kg_amount": Decimal("1.00"),
        },
    )
    carrier, _ = Carrier.objects.get_or_create(code="parcelco", defaults={"name": "ParcelCo"})
    service, _ = CarrierService.objects.get_or_create(
        carrier=carrier,
        code="ground",
        defaults={"name": "Ground", "service_level": level},
    )
    ShippingRate.objects.get_or_create(
        carrier_service=service,
        max_distance_km=5000,
        max_weight_kg=Decimal("70"),
        defaults={
            "base_amount": Decimal("4.00"),
            "per_kg_amount": Decimal("0.50"),
            "transit_days": 3,
        },
    )
    TaxRate.objects.get_or_create(
        country="US", region="NY", defaults={"name": "NY sales tax", "rate": Decimal("0.08")}
    )
    Location.objects.get_or_create(
        code="WH-REL",
        defaults={
            "name": "Reliability warehouse",
            "type": "warehouse",
            "city": "Newark",
            "region": "NJ",
            "country": "US",
            "latitude": Decimal("40.735700"),
            "longitude": Decimal("-74.172400"),
            "handling_days": 1,
            "priority": 10,
        },
    )


def seed_channel(code: str) -> tuple[Any, str]:
    """A web channel and a fresh API key for it."""
    from orders.models import ChannelAPIKey, SalesChannel

    channel, _ = SalesChannel.objects.get_or_create(
        code=code, defaults={"name": code.title(), "type": "web", "currency": "USD"}
    )
    _, key = ChannelAPIKey.objects.create_key(name=f"reliability {code}", channel=channel)
    return channel, key


def seed_sku(code: str, units: int, *, location_code: str = "WH-REL") -> Any:
    """A SKU with `units` on hand at the reliability warehouse, received as the business does."""
    from inventory.models import SKU, Location
    from inventory.services import receive_stock

    sku, _ = SKU.objects.get_or_create(
        code=code,
        defaults={
            "name": f"Reliability {code}",
            "price_amount": Decimal("10.00"),
            "cost_amount": Decimal("4.00"),
            "weight_kg": Decimal("0.500"),
        },
    )
    if units:
        receive_stock(
            sku=sku,
            location=Location.objects.get(code=location_code),
            quantity=units,
            reference="reliability",
        )
    return sku


def order_body(sku: str, quantity: int = 1, *, email: str = "storm@example.com") -> dict:
    return {
        "customer": {"email": email, "first_name": "Rel", "last_name": "Iability"},
        "lines": [{"sku": sku, "quantity": quantity}],
        "delivery": {"method": "ship", "service_level": "standard", "address": SHIP_TO},
        "payment": {"method": "card", "reference": "tok_visa"},
    }


def stock_consistency(outcome: Outcome, sku_codes: list[str]) -> None:
    """reserved ≤ on hand, reserved = Σ active reservations, on hand = Σ movements."""
    from django.db.models import Sum

    from inventory.models import Reservation, StockLevel, StockMovement

    for level in StockLevel.objects.filter(sku__code__in=sku_codes).select_related(
        "sku", "location"
    ):
        where = f"{level.sku.code}@{level.location.code}"
        active = (
            Reservation.objects.filter(
                sku=level.sku, location=level.location, state="active"
            ).aggregate(total=Sum("quantity"))["total"]
            or 0
        )
        moved = (
            StockMovement.objects.filter(sku=level.sku, location=level.location).aggregate(
                total=Sum("quantity")
            )["total"]
            or 0
        )
        outcome.expect(
            0 <= level.reserved <= level.on_hand,
            f"{where}: 0 ≤ reserved ≤ on hand",
            f"reserved {level.reserved}, on hand {level.on_hand}",
        )
        outcome.expect(
            level.reserved == active,
            f"{where}: reserved = Σ active reservations ({active})",
            f"reserved {level.reserved}",
        )
        outcome.expect(
            level.on_hand == moved,
            f"{where}: on hand = Σ movements ({moved})",
            f"on hand {level.on_hand}",
        )
