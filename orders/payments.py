"""The payment gateway seam. Real providers plug in through settings.PAYMENT_GATEWAY."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from oms.core.money import Money


@dataclass(frozen=True, slots=True)
class AuthorizationResult:
    approved: bool
    gateway_reference: str = ""
    decline_reason: str = ""


class PaymentGateway(Protocol):
    def authorize(
        self, *, amount: Money, method: str, reference: str, idempotency_key: str
    ) -> AuthorizationResult: ...

    def void(self, *, gateway_reference: str) -> None: ...

    def capture(self, *, gateway_reference: str, amount: Money) -> None: ...


class FakePaymentGateway:
    """An in-process stand-in for a card/PayPal provider, deterministic for tests and demos.

    Tokens starting with `tok_decline` are declined; everything else is approved. The gateway
    reference is derived from the idempotency key, as a real provider's would be for a retry.
    """

    def authorize(
        self, *, amount: Money, method: str, reference: str, idempotency_key: str
    ) -> AuthorizationResult:
        if reference.startswith("tok_decline"):
            return AuthorizationResult(approved=False, decline_reason="Card declined by issuer.")
        digest = hashlib.sha256(f"{idempotency_key}:{amount}".encode()).hexdigest()[:16]
        return AuthorizationResult(approved=True, gateway_reference=f"fake_auth_{digest}")

    def void(self, *, gateway_reference: str) -> None:
        return None

    def capture(self, *, gateway_reference: str, amount: Money) -> None:
        return None


@cache
def get_gateway() -> PaymentGateway:
    return import_string(settings.PAYMENT_GATEWAY)()
