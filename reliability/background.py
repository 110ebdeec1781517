"""Background processes for the fault scenarios: a private Redis, a Celery worker and beat.

The broker is a redis-server of the scenario's own, on a free port, without persistence, so
a scenario may kill and restart it (and the worker) freely; the shared Redis (REDIS_URL, the
cache) is never touched. Gunicorn, the worker and beat find it in RELIABILITY_BROKER_URL.
"""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from reliability.harness import (
    BIN,
    ROOT,
    Outcome,
    Server,
    child_environment,
    free_port,
    gunicorn,
    stop,
)

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
# Beat runs the two sweeps this often (reliability.settings); in production they run every
# 30 and 60 s. The sourcing sweep still leaves orders younger than its grace (30 s) alone.
SWEEP_SECONDS = 5
WORKER_CONCURRENCY = 2
TASK_LINE = re.compile(r"Task [\w.]+\[(?P<id>[\w-]+)\] (?P<what>received|succeeded|failed|retry)")


class RedisServer:
    """redis-server on one port, stopped and started again on that same port."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log = log_dir / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = [
            REDIS_SERVER,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(self.log),
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on {self.port}; see {self.log}")

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """SIGKILL by default: an outage, not a clean shutdown; nothing is saved to disk, so
        whatever the queue held is lost and only the sweeps can bring that work back."""
        if self.process is not None:
            stop(self.process, sig)
            self.process = None


@dataclass
class Worker:
    """`celery -A oms worker` (prefork) in its own session: SIGKILL takes its pool too."""

    log_dir: Path
    env: dict[str, str]
    concurrency: int = WORKER_CONCURRENCY
    name: str = "reliability"
    # bench/worker.py: undo the bench process's pinning to one core in the child
    preexec_fn: Callable[[], None] | None = None
    process: subprocess.Popen | None = None
    starts: int = 0
    kills: list[str] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.log_dir / f"worker-{self.starts}.log"

    def start(self, *, timeout: float = 60) -> None:
        """Start it and wait until it consumes (a worker boots in seconds on this machine)."""
        self.starts += 1
        log = self.log
        command = [
            str(BIN / "celery"),
            "-A",
            "oms",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(self.concurrency),
            "--loglevel",
            "INFO",
            "--hostname",
            f"{self.name}-{self.starts}@%h",
            "--without-gossip",
            "--without-mingle",
        ]
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=self.preexec_fn,
            )
        deadline = time.monotonic() + timeout
        while " ready." not in log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not become ready; see {log}")
            time.sleep(0.2)

    def in_flight(self) -> list[str]:
        """Tasks this worker received and has not finished (per its log): a kill now is a
        kill mid-job."""
        received, finished = set(), set()
        for line in self.log.read_text(errors="replace").splitlines():
            task = TASK_LINE.search(line)
            if task:
                (received if task["what"] == "received" else finished).add(task["id"])
        return sorted(received - finished)

    def pool_children(self) -> list[int]:
        if self.process is None or self.process.poll() is not None:
            return []
        found = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in found.stdout.split()]

    def kill_child(self) -> bool:
        """SIGKILL one pool process: the worker sees WorkerLostError and, with
        task_reject_on_worker_lost, puts the message it was running back on the queue."""
        children = self.pool_children()
        if not children:
            return False
        try:
            signal_pid(children[0], signal.SIGKILL)
        except ProcessLookupError:
            return False
        self.kills.append("pool process")
        return True

    def kill(self) -> None:
        """SIGKILL the whole worker: what it had taken stays unacknowledged in Redis (for the
        visibility timeout, an hour), so the sweeps have to find that work."""
        if self.process is not None:
            stop(self.process, signal.SIGKILL)
            self.process = None
            self.kills.append("whole worker")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


def signal_pid(pid: int, sig: int) -> None:
    import os

    os.kill(pid, sig)


@contextmanager
def beat(log_dir: Path, env: dict[str, str]) -> Iterator[subprocess.Popen]:
    log = log_dir / "beat.log"
    command = [
        str(BIN / "celery"),
        "-A",
        "oms",
        "beat",
        "--loglevel",
        "INFO",
        "--schedule",
        str(log_dir / "celerybeat-schedule"),
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop(process)


@dataclass
class Stack:
    redis: RedisServer
    server: Server
    worker: Worker


@contextmanager
def background_stack(log_dir: Path) -> Iterator[Stack]:
    """A private Redis, gunicorn and a worker publishing to it, and beat running the sweeps."""
    with ExitStack() as stack:
        redis = RedisServer(log_dir)
        redis.start()
        stack.callback(redis.stop)
        extra = {
            "RELIABILITY_BROKER_URL": redis.url,
            "RELIABILITY_SWEEP_SECONDS": str(SWEEP_SECONDS),
        }
        server = stack.enter_context(gunicorn(log_dir, env=extra))
        worker = Worker(log_dir, child_environment(**extra))
        worker.start()
        stack.callback(worker.stop)
        stack.enter_context(beat(log_dir, child_environment(**extra)))
        yield Stack(redis, server, worker)


# --- Waiting and checking -------------------------------------------------------------------


def unsourced(channel_code: str) -> int:
    """Orders of the channel the sourcing job has not released yet."""
    from orders.models import Order

    return (
        Order.objects.filter(channel__code=channel_code)
        .exclude(status=Order.Status.RELEASED)
        .count()
    )


def wait_for(
    condition: Callable[[], int], *, timeout: float, what: str, every: float = 1.0
) -> tuple[int, float]:
    """Poll until condition() is 0; returns (what remained, seconds waited)."""
    started = time.monotonic()
    last_print = started
    remaining = condition()
    while remaining and time.monotonic() - started < timeout:
        time.sleep(every)
        remaining = condition()
        if time.monotonic() - last_print >= 10:
            print(f"  …{remaining} {what} after {time.monotonic() - started:.0f} s", flush=True)
            last_print = time.monotonic()
    return remaining, round(time.monotonic() - started, 1)


def sourced_exactly_once(outcome: Outcome, channel_code: str, expected_orders: int) -> None:
    """Every order of the channel released once: one fulfillment order per order (one
    warehouse), each reservation in exactly one fulfillment line, one reservation per line,
    one release on the timeline, one `fulfillment.released` outbox row, nothing left in the
    outbox."""
    from django.db.models import Count, Q

    from fulfillment.models import FulfillmentLine, FulfillmentOrder
    from inventory.models import Reservation
    from oms.core.models import OutboxMessage
    from orders.models import Order, OrderEvent, OrderLine

    orders = Order.objects.filter(channel__code=channel_code)
    order_ids = list(orders.values_list("pk", flat=True))
    outcome.expect(
        len(order_ids) == expected_orders,
        f"{expected_orders} orders captured",
        f"{len(order_ids)} orders",
    )
    statuses = Counter(orders.values_list("status", flat=True))
    outcome.note(f"order statuses {dict(statuses)}")
    outcome.expect(
        set(statuses) == {Order.Status.RELEASED},
        "every order ends released (sourced)",
        f"{dict(statuses)}",
    )
    fulfillment_orders = Counter(
        FulfillmentOrder.objects.filter(order_id__in=order_ids).values_list("order_id", flat=True)
    )
    wrong = {pk: fulfillment_orders.get(pk, 0) for pk in order_ids if fulfillment_orders[pk] != 1}
    outcome.expect(
        not wrong,
        "every order has exactly one fulfillment order",
        f"{len(wrong)} orders differ, e.g. {dict(list(wrong.items())[:5])} (order id: count)",
    )
    per_line = OrderLine.objects.filter(order_id__in=order_ids).annotate(
        n_reservations=Count("reservations"),
        n_active=Count("reservations", filter=Q(reservations__state="active")),
    )
    doubled = [line.pk for line in per_line if line.n_reservations != 1 or line.n_active != 1]
    outcome.expect(
        not doubled,
        "every order line has exactly one reservation, active",
        f"{len(doubled)} lines differ, e.g. {doubled[:5]}",
    )
    covered = Counter(
        FulfillmentLine.objects.filter(fulfillment_order__order_id__in=order_ids).values_list(
            "reservation_id", flat=True
        )
    )
    reservations = set(
        Reservation.objects.filter(order_line__order_id__in=order_ids).values_list("pk", flat=True)
    )
    outcome.expect(
        set(covered) == reservations and set(covered.values()) == {1},
        "every reservation is in exactly one fulfillment line",
        f"{sum(1 for n in covered.values() if n > 1)} in several, "
        f"{len(reservations - set(covered))} in none",
    )
    events = Counter(
        OrderEvent.objects.filter(order_id__in=order_ids).values_list("order_id", "kind")
    )
    for kind in (OrderEvent.Kind.PLACED, OrderEvent.Kind.SOURCED):
        off = [pk for pk in order_ids if events[(pk, kind)] != 1]
        outcome.expect(
            not off,
            f"exactly one {kind.value!r} event per order",
            f"{len(off)} orders differ, e.g. {[(pk, events[(pk, kind)]) for pk in off[:5]]}",
        )
    # The job writes the same fulfillment events for every one-line, one-location order; a
    # job run twice would write them twice.
    fulfillment_events = Counter(events[(pk, OrderEvent.Kind.FULFILLMENT)] for pk in order_ids)
    outcome.note(f"fulfillment events per order → orders: {dict(fulfillment_events)}")
    outcome.expect(
        len(fulfillment_events) == 1,
        "every order has the same number of fulfillment events (none written twice)",
        f"{dict(fulfillment_events)}",
    )
    released = OrderEvent.objects.filter(
        order_id__in=order_ids,
        kind=OrderEvent.Kind.STATUS_CHANGED,
        data__to=Order.Status.RELEASED,
    ).values_list("order_id", flat=True)
    twice = [pk for pk, n in Counter(released).items() if n != 1]
    outcome.expect(
        not twice and len(set(released)) == len(order_ids),
        "every order moved to released exactly once on its timeline",
        f"{len(twice)} more than once, {len(order_ids) - len(set(released))} never",
    )
    fo_ids = list(
        FulfillmentOrder.objects.filter(order_id__in=order_ids).values_list("pk", flat=True)
    )
    relayed = Counter(
        OutboxMessage.objects.filter(
            topic="fulfillment.released", aggregate_id__in=[str(pk) for pk in fo_ids]
        ).values_list("aggregate_id", flat=True)
    )
    outcome.expect(
        set(relayed.values()) <= {1} and len(relayed) == len(fo_ids),
        "one fulfillment.released outbox row per fulfillment order",
        f"{sum(1 for n in relayed.values() if n > 1)} doubled, {len(fo_ids) - len(relayed)} none",
    )
    placed = Counter(
        OutboxMessage.objects.filter(
            topic="order.placed", aggregate_id__in=[str(pk) for pk in order_ids]
        ).values_list("aggregate_id", flat=True)
    )
    outcome.expect(
        len(placed) == len(order_ids) and set(placed.values()) <= {1},
        "one order.placed outbox row per order",
    )
    pending = OutboxMessage.objects.filter(published_at__isnull=True).count()
    outcome.expect(pending == 0, "the outbox is empty (every message published)", f"{pending}")
