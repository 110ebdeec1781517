"""API plumbing shared by every app: problem+json errors, pagination, throttling, strict input."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler

from oms.core.errors import DomainError, InvalidInput

PROBLEM_CONTENT_TYPE = "application/problem+json"
API_PREFIX = "/api/"

# Fields a client might send hoping to set them. Refusing them (rather than silently dropping)
# tells an integrator at once that the server owns prices, totals and status.
SERVER_OWNED_FIELDS = {
    "unit_price": "Prices are taken from the catalogue; do not send unit_price.",
    "price": "Prices are taken from the catalogue; do not send price.",
    "line_total": "Totals are computed by the server; do not send line_total.",
    "subtotal": "Totals are computed by the server; do not send subtotal.",
    "discount": "Discounts are computed by the server; do not send discount.",
    "tax": "Tax is computed by the server; do not send tax.",
    "shipping": "Shipping is computed by the server; do not send shipping.",
    "total": "Totals are computed by the server; do not send total.",
    "status": "Status is set by the server; do not send status.",
    "amount": "Payment amounts are computed by the server; do not send amount.",
}


def flatten_errors(detail: Any, path: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error structure into {"lines[0].quantity": ["..."]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            if key in ("non_field_errors", "__all__"):
                child = path
            elif isinstance(key, int):  # DRF reports list items as {index: errors}
                child = f"{path}[{key}]"
            elif path:
                child = f"{path}.{key}"
            else:
                child = str(key)
            for field, messages in flatten_errors(value, child).items():
                flat.setdefault(field, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            flat[path or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                if item:
                    for field, messages in flatten_errors(item, f"{path}[{index}]").items():
                        flat.setdefault(field, []).extend(messages)
    else:
        flat[path or "non_field_errors"] = [str(detail)]
    return flat


RESERVED_PROBLEM_KEYS = {"type", "title", "status", "code", "detail"}


def problem(
    *, status: int, code: str, title: str, detail: str = "", extra: dict | None = None
) -> Response:
    body: dict[str, Any] = {"type": f"/problems/{code}", "title": title, "status": status}
    body["code"] = code
    if detail:
        body["detail"] = detail
    for key, value in (extra or {}).items():
        # A detail named like a standard member (an order's `status`) must not overwrite it.
        if value is not None:
            body[f"order_{key}" if key in RESERVED_PROBLEM_KEYS else key] = value
    return Response(body, status=status, content_type=PROBLEM_CONTENT_TYPE)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, InvalidInput):
        return problem(
            status=400,
            code=exc.code,
            title="Invalid input",
            detail=exc.message,
            extra={"errors": exc.errors},
        )
    if isinstance(exc, DomainError):
        details = {k: v for k, v in exc.details.items() if k != "errors"}
        return problem(
            status=exc.status_code,
            code=exc.code,
            title=exc.message,
            detail=exc.message,
            extra=details,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        body = {
            "type": "/problems/invalid",
            "title": "Invalid input",
            "status": response.status_code,
            "code": "invalid",
            "errors": flatten_errors(exc.detail),
        }
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        body = {
            "type": f"/problems/{code}",
            "title": str(detail),
            "status": response.status_code,
            "code": code,
            "detail": str(detail),
        }
    response.data = body
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: a URL no route matches (`/api/v1/orders/0.5/`, an id that is not a number).

    Under /api/ it is the same problem+json 404 as an unknown object; an HTML page there would
    break every client that reads the error body.
    """
    if not request.path_info.startswith(API_PREFIX):
        return page_not_found(request, exception)
    detail = str(exceptions.NotFound.default_detail)
    body = {
        "type": "/problems/not_found",
        "title": detail,
        "status": 404,
        "code": exceptions.NotFound.default_code,
        "detail": detail,
    }
    return JsonResponse(body, status=404, content_type=PROBLEM_CONTENT_TYPE)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare, naming each one, instead of silently dropping it."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = [key for key in data if key not in self.fields]
            if unknown:
                raise exceptions.ValidationError(
                    {key: [SERVER_OWNED_FIELDS.get(key, "Unknown field.")] for key in unknown}
                )
        return super().to_internal_value(data)
