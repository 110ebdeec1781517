"""The OpenAPI schema states every answer an operation gives, errors included.

Every error goes out through `oms.core.api.problem_exception_handler` as
application/problem+json. Integrators generate clients from the schema and schemathesis
(reliability/hostile_input.py) counts an undocumented status code as a broken contract, so each
operation lists the errors its view can really give, worked out from what the view does:

- 400 when it reads a JSON body or validates query parameters (filters, `sku`, ...);
- 401 when its first authenticator asks for credentials (`WWW-Authenticate`), 403 when a
  permission or a session's CSRF check can refuse;
- 404 on a route naming an object, and on a paginated list (a page past the end);
- 406 always: only the documented media types are rendered;
- 409 on writes: services refuse illegal state changes and stock shortfalls with a DomainError;
- 415 when it reads a JSON body; 429 when a throttle applies (`Retry-After`).

Codes only one view gives (402, 422 on order capture) are declared on the view with
`problem_response()`; any 4xx declared there gets the Problem body too.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent, force_instance
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers

from oms.core.api import PROBLEM_CONTENT_TYPE, StrictSerializer

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "An error (RFC 9457 problem details). `code` is stable and meant for programs; "
        "`title` and `detail` are for people. Other members carry the error's specifics "
        "(e.g. `sku`, `field`, `order_status`)."
    ),
    "properties": {
        "type": {"type": "string", "example": "/problems/invalid"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "code": {"type": "string", "example": "invalid"},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "description": 'Invalid input only: messages by field path, e.g. "lines[0].quantity".',
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["type", "title", "status", "code"],
    "additionalProperties": True,
}

ERROR_DESCRIPTIONS = {
    "400": "Invalid input: `errors` names each refused field by its path.",
    "401": "No credentials, or unknown, revoked or expired ones.",
    "402": "The payment was declined.",
    "403": "Authenticated but not allowed, or a session request without its CSRF token.",
    "404": "Not found (another channel's objects are not found either).",
    "406": "The Accept header asks for a media type this operation does not answer in.",
    "409": "A business rule refused the request (`code` says which, e.g. "
    "`illegal_transition`, `insufficient_stock`).",
    "415": "The body is not application/json.",
    "422": "Unprocessable.",
    "429": "Too many requests from this caller; retry after `Retry-After` seconds.",
}

ERROR_HEADERS = {
    "401": {
        "WWW-Authenticate": {
            "schema": {"type": "string"},
            "required": True,
            "description": "The scheme to authenticate with.",
        }
    },
    "429": {
        "Retry-After": {
            "schema": {"type": "integer"},
            "description": "Seconds until this caller's budget allows another request.",
        }
    },
}

# Query parameters no view validates into a 400: a page past the end or an unknown `format`
# is a 404. (A bad page_size is a 400: oms.core.throttling.Pagination.)
UNVALIDATED_PARAMETERS = {"page", "format"}
PAGINATION_PARAMETERS = {"page", "page_size"}

PROBLEM_COMPONENT = ResolvedComponent(
    name="Problem", type=ResolvedComponent.SCHEMA, schema=PROBLEM_SCHEMA, object="Problem"
)


def problem_response(description: str) -> OpenApiResponse:
    """A view's own error answer in `extend_schema(responses=...)`, e.g. `{422: ...}`."""
    return OpenApiResponse(description=description)


class ProblemAutoSchema(AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        self.registry.register_on_missing(PROBLEM_COMPONENT)
        responses = operation["responses"]
        for code in self._error_codes(operation):
            responses.setdefault(code, {})
        for code, response in responses.items():
            if not code.startswith("4"):
                continue
            response["description"] = response.get("description") or ERROR_DESCRIPTIONS[code]
            response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": PROBLEM_COMPONENT.ref}}
            if code in ERROR_HEADERS:
                response["headers"] = {**ERROR_HEADERS[code], **response.get("headers", {})}
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_codes(self, operation: dict) -> list[str]:
        view = self.view
        has_body = "requestBody" in operation
        query = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        codes = ["406"]
        if has_body or query - UNVALIDATED_PARAMETERS:
            codes.append("400")
        if has_body:
            codes.append("415")
        permission_classes = [type(p) for p in view.get_permissions()]
        if permissions.AllowAny not in permission_classes:
            authenticators = view.get_authenticators()
            # DRF answers 401 only when the first authenticator names a scheme, else 403.
            if authenticators and authenticators[0].authenticate_header(view.request):
                codes.append("401")
            codes.append("403")
        if "{" in self.path or query & PAGINATION_PARAMETERS:
            codes.append("404")
        if self.method not in permissions.SAFE_METHODS:
            codes.append("409")
        if view.get_throttles():
            codes.append("429")
        return codes

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction != "request" or not isinstance(schema, dict):
            return schema
        # Constraints DRF checks but drf-spectacular does not publish: without them the schema
        # calls `"lines": []` or `"weight_kg": "."` valid and the API answers 400.
        if isinstance(field, serializers.ListSerializer | serializers.ListField):
            if not field.allow_empty:
                schema["minItems"] = max(schema.get("minItems", 0), 1)
            if field.min_length is not None:
                schema["minItems"] = max(schema.get("minItems", 0), field.min_length)
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
        elif isinstance(field, serializers.DecimalField) and "pattern" in schema:
            whole, places = field.max_whole_digits, field.decimal_places
            # At least one digit: "", "-" and "." are not numbers.
            schema["pattern"] = (
                rf"^-?(?:\d{{1,{whole}}}(?:\.\d{{0,{places}}})?|\.\d{{1,{places}}})$"
                if whole
                else rf"^-?0?\.\d{{1,{places}}}$"
            )
        return schema

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(force_instance(serializer), StrictSerializer):
            # The serializer refuses undeclared fields (400); say so, or generated clients and
            # fuzzers believe extra members are welcome.
            schema["additionalProperties"] = False
        return schema
