"""The locust users `bench.http` starts (headless, in its own process) against gunicorn.

Configured by environment variables that `bench.http` sets: BENCH_SCENARIO (availability-1,
availability-100, capture-uniform, capture-hot), BENCH_API_KEY and BENCH_SKUS (a file with
one SKU code a line). Every user sends its next request as soon as the last one is answered
(closed loop, no think time): the number of users is the number of concurrent clients.
"""

from __future__ import annotations

import json
import os
import random
import uuid
from pathlib import Path

from locust import FastHttpUser, constant, task

SCENARIO = os.environ.get("BENCH_SCENARIO", "availability-1")
API_KEY = os.environ.get("BENCH_API_KEY", "")
SKUS = Path(os.environ["BENCH_SKUS"]).read_text().split() if "BENCH_SKUS" in os.environ else []
CUSTOMERS = int(os.environ.get("BENCH_CUSTOMERS", "50000"))
HOT_SKU = "SC-HOT"
ADDRESS = {
    "line1": "1 Main St",
    "city": "New York",
    "region": "NY",
    "postal_code": "10006",
    "country": "US",
}


class BenchUser(FastHttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.auth = {"Authorization": f"Api-Key {API_KEY}"}

    @task
    def request(self) -> None:
        if SCENARIO.startswith("availability"):
            count = int(SCENARIO.split("-")[1])
            query = "&".join(f"sku={code}" for code in self.rng.sample(SKUS, count))
            self.client.get(f"/api/v1/availability/?{query}", headers=self.auth, name=SCENARIO)
            return
        if SCENARIO == "capture-hot":
            lines = [{"sku": HOT_SKU, "quantity": 1}]
        else:
            lines = [
                {"sku": code, "quantity": self.rng.randint(1, 2)}
                for code in self.rng.sample(SKUS, 3)
            ]
        body = {
            "customer": {"email": f"scale{self.rng.randint(1, CUSTOMERS)}@example.com"},
            "lines": lines,
            "delivery": {"method": "ship", "service_level": "standard", "address": ADDRESS},
            "payment": {"method": "card", "reference": "tok_visa"},
        }
        with self.client.post(
            "/api/v1/orders/",
            data=json.dumps(body),
            headers={
                **self.auth,
                "Content-Type": "application/json",
                "Idempotency-Key": str(uuid.uuid4()),
            },
            name=SCENARIO,
            catch_response=True,
        ) as response:
            if response.status_code != 201:
                response.failure(f"{response.status_code}: {response.text[:200]}")
