"""Domain errors: services raise these; every entry point maps them the same way.

API: DomainError -> 409 (or its own status), InvalidInput -> 400 naming the fields.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule refused the request (illegal state change, not enough stock, ...)."""

    status_code = 409
    code = "conflict"

    def __init__(self, message: str, *, code: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class InvalidInput(DomainError):
    """Input a service checked and refused; `errors` maps field paths to messages."""

    status_code = 400
    code = "invalid"

    def __init__(self, errors: dict[str, list[str] | str], message: str = "Invalid input.") -> None:
        normalized = {k: [v] if isinstance(v, str) else list(v) for k, v in errors.items()}
        super().__init__(message, errors=normalized)
        self.errors = normalized


class IllegalTransition(DomainError):
    code = "illegal_transition"


class InsufficientStock(DomainError):
    code = "insufficient_stock"


class IdempotencyKeyReused(DomainError):
    """The same Idempotency-Key came back with a different request body."""

    status_code = 422
    code = "idempotency_key_reused"


class RequestInFlight(DomainError):
    code = "request_in_flight"


class PaymentDeclined(DomainError):
    status_code = 402
    code = "payment_declined"
