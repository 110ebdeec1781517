"""Hostile input: schemathesis against our own OpenAPI schema, all checks (issue 6 §2).

Two passes over gunicorn: the storefront operations with a channel's API key, and the
location/purchasing operations with a staff user's HTTP Basic credentials. At least 1,000
generated cases per operation (`--max-examples`). Broken invariants: any 5xx, any answer that
breaks the schema (body, status code, content type, headers), an ignored authentication, and a
table change that the accepted requests do not explain. schemathesis' other findings (a valid
-looking request refused, e.g. an unknown SKU; an invalid one accepted) are listed for a
reader to judge, not counted as broken.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections import Counter
from pathlib import Path

from reliability.harness import BIN, Outcome

NAME = "hostile_input"
EXAMPLES = 1000
# The SKU of the order API's request example (orders.serializers.ORDER_EXAMPLE): seeded, so the
# example phase places a real order and the table checks below have something to explain.
SKU = "TEE-RED-M"
BROKEN_CHECKS = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "ignored_auth",
}
STAFF_PATHS = r"^/api/v1/(fulfillments|locations|purchase-orders|vendors)/"


def setup() -> dict:
    from django.contrib.auth import get_user_model

    from reliability.harness import seed_channel, seed_reference, seed_sku

    seed_reference()
    _, api_key = seed_channel("hostile")
    seed_sku(SKU, 500)
    user = get_user_model().objects.create_superuser(
        "hostile-staff", "hostile@example.com", "hostile-pass-7"
    )
    return {"api_key": api_key, "staff": (user.username, "hostile-pass-7")}


def snapshot() -> dict:
    from django.db.models import Sum

    from inventory.models import StockLevel, StockMovement
    from orders.models import Order, Payment

    levels = StockLevel.objects.aggregate(on_hand=Sum("on_hand"), reserved=Sum("reserved"))
    return {
        "order_ids": set(Order.objects.values_list("id", flat=True)),
        "payments": Payment.objects.count(),
        "movements": StockMovement.objects.count(),
        "on_hand": levels["on_hand"] or 0,
        "reserved": levels["reserved"] or 0,
    }


def schemathesis(
    base_url: str, report_dir: Path, *, auth: list[str], paths: list[str], examples: int
):
    report_dir.mkdir(parents=True, exist_ok=True)
    command = [
        str(BIN / "st"),
        "run",
        f"{base_url}/api/schema/",
        "--checks",
        "all",
        "--max-examples",
        str(examples),
        "--seed",
        "6",
        "--workers",
        "4",
        "--no-shrink",
        "--continue-on-failure",
        "--generation-database",
        "none",
        "--report",
        "ndjson,vcr",
        "--report-dir",
        str(report_dir),
        "--no-color",
        *auth,
        *paths,
    ]
    # Its replay cache (.schemathesis/) goes beside the reports, not into the checkout.
    return subprocess.run(command, cwd=report_dir, capture_output=True, text=True, timeout=3600)


def read_cassette(report_dir: Path) -> list[dict]:
    """(method, path, status, body) of every request the cassette recorded."""
    import yaml

    interactions = []
    for path in report_dir.glob("*.yaml"):
        data = yaml.safe_load(path.read_text()) or {}
        for item in data.get("http_interactions", []):
            request, response = item.get("request", {}), item.get("response") or {}
            body = (response.get("body") or {}).get("string", "")
            interactions.append(
                {
                    "method": request.get("method", "").upper(),
                    "uri": request.get("uri", ""),
                    "status": int((response.get("status") or {}).get("code") or 0),
                    "headers": {k.lower(): v for k, v in (response.get("headers") or {}).items()},
                    "body": body,
                }
            )
    return interactions


def read_failures(report_dir: Path) -> Counter:
    """(check name, operation) → count, from the NDJSON event stream."""
    failures: Counter = Counter()
    for path in report_dir.glob("*.ndjson"):
        for line in path.read_text().splitlines():
            text = line.strip()
            if '"failure' not in text and "Failure" not in text:
                continue
            for name in _check_names(json.loads(text)):
                failures[name] += 1
    return failures


def _check_names(event) -> list[tuple[str, str]]:
    """Walk an event for check results with a failure: (check name, operation label)."""
    found = []

    def walk(node, label=""):
        if isinstance(node, dict):
            label = node.get("label") or node.get("operation") or label
            if node.get("status") in ("FAILURE", "failure") and node.get("name"):
                found.append((node["name"], str(label)))
            for value in node.values():
                walk(value, label)
        elif isinstance(node, list):
            for value in node:
                walk(value, label)

    walk(event)
    return found


def check(base_url: str, ids: dict, report_root: Path, *, examples: int = EXAMPLES) -> Outcome:
    from orders.models import Order, Payment

    outcome = Outcome(NAME)
    before = snapshot()
    passes = [
        (
            "channel",
            ["-H", f"Authorization: Api-Key {ids['api_key']}"],
            ["--exclude-path-regex", STAFF_PATHS],
        ),
        ("staff", ["-a", ":".join(ids["staff"])], ["--include-path-regex", STAFF_PATHS]),
    ]
    interactions = []
    for name, auth, paths in passes:
        report_dir = report_root / f"schemathesis-{name}"
        outcome.attempt(
            f"schemathesis, {name} credentials, all checks, {examples} cases per operation "
            f"(report in {report_dir})"
        )
        result = schemathesis(base_url, report_dir, auth=auth, paths=paths, examples=examples)
        summary = [line for line in result.stdout.splitlines() if line.strip()][-25:]
        outcome.data[f"{name}_summary"] = summary
        print("\n".join(f"    | {line}" for line in summary), flush=True)
        failures = read_failures(report_dir)
        broken = {key: n for key, n in failures.items() if key[0] in BROKEN_CHECKS}
        other = {key: n for key, n in failures.items() if key[0] not in BROKEN_CHECKS}
        for (check_name, operation), count in sorted(other.items()):
            outcome.note(f"{name}: {check_name} on {operation} ({count}×) — to judge")
        outcome.expect(
            not broken,
            f"{name}: no 5xx, schema, content-type, header or auth failure",
            "; ".join(f"{c} on {o} ({n}×)" for (c, o), n in sorted(broken.items())),
        )
        interactions += read_cassette(report_dir)

    statuses = Counter(item["status"] for item in interactions)
    outcome.note(
        f"{len(interactions)} requests recorded; statuses {dict(sorted(statuses.items()))}"
    )
    outcome.expect(
        not [s for s in statuses if s >= 500], "zero 5xx in the recorded answers", str(statuses)
    )
    _explain_changes(outcome, before, interactions, Order, Payment)
    return outcome


def _explain_changes(outcome, before, interactions, Order, Payment) -> None:
    """Every new order was answered 201 to someone; nothing else moved without a 2xx."""
    after = snapshot()
    new_orders = Order.objects.exclude(id__in=before["order_ids"])
    new_numbers = set(new_orders.values_list("number", flat=True))
    answered = set()
    writes_accepted = Counter()
    for item in interactions:
        path = item["uri"].split("://", 1)[-1].split("/", 1)[-1].split("?")[0]
        if item["method"] in {"POST", "PUT", "PATCH", "DELETE"} and 200 <= item["status"] < 300:
            writes_accepted["/" + path] += 1
        if item["method"] == "POST" and path == "api/v1/orders/" and item["status"] == 201:
            with contextlib.suppress(ValueError, KeyError, TypeError):
                answered.add(json.loads(item["body"])["number"])
    outcome.note(f"accepted writes: {dict(writes_accepted) or 'none'}")
    outcome.expect(
        new_numbers == answered,
        f"orders: {len(new_numbers)} new, each one answered 201 (and no answer without a row)",
        f"unanswered {sorted(new_numbers - answered)[:5]}, "
        f"phantom {sorted(answered - new_numbers)[:5]}",
    )
    payments = after["payments"] - before["payments"]
    outcome.expect(
        payments == Payment.objects.filter(order__in=new_orders).count() == len(new_numbers),
        f"payments: {payments} new, one per new order",
    )
    stock_writes = sum(
        n for path, n in writes_accepted.items() if "receipts" in path or "shipment" in path
    )
    outcome.expect(
        after["movements"] == before["movements"] or stock_writes > 0,
        "stock movements only from accepted receipts or shipments",
        f"{after['movements'] - before['movements']} movements, {stock_writes} such requests",
    )
    from django.db.models import Sum

    from inventory.models import Reservation

    reserved_by_new = (
        Reservation.objects.filter(order_line__order__in=new_orders, state="active").aggregate(
            total=Sum("quantity")
        )["total"]
        or 0
    )
    outcome.expect(
        after["reserved"] - before["reserved"] == reserved_by_new,
        f"reserved units rose by exactly what the new orders hold ({reserved_by_new})",
        f"rose by {after['reserved'] - before['reserved']}",
    )


def run(context) -> Outcome:
    ids = setup()
    server = context.server()
    return check(server.base_url, ids, context.log_dir, examples=context.examples)
