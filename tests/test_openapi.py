"""The API's published shape: integrators read it before they have a key."""

import re

import pytest
from rest_framework.test import APIClient

from tests import factories

PUBLISHED_PATHS = ["/api/v1/orders/", "/api/v1/orders/{number}/cancel/", "/api/v1/availability/"]


@pytest.fixture
def anonymous(db):
    return APIClient()


@pytest.mark.parametrize(
    "request_kwargs",
    [{"data": {"format": "json"}}, {"HTTP_ACCEPT": "application/vnd.oai.openapi+json"}],
    ids=["format-param", "accept-header"],
)
def test_the_schema_is_an_openapi_3_document_open_to_anyone(anonymous, request_kwargs):
    response = anonymous.get("/api/schema/", **request_kwargs)

    assert response.status_code == 200
    assert "json" in response["Content-Type"]
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "OMS API"
    for path in PUBLISHED_PATHS:
        assert path in schema["paths"], path
    create = schema["paths"]["/api/v1/orders/"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in create["parameters"] if p["in"] == "header"]
    assert "ApiKeyAuth" in schema["components"]["securitySchemes"]


def test_the_schema_is_the_same_for_staff(anonymous, staff_user):
    public = anonymous.get("/api/schema/", {"format": "json"}).json()
    anonymous.force_login(staff_user)

    assert anonymous.get("/api/schema/", {"format": "json"}).json() == public


def test_the_docs_page_is_html_open_to_anyone(anonymous):
    response = anonymous.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "swagger" in page.lower()
    assert "/api/schema/" in page


# --- Error answers ------------------------------------------------------------------------

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
STAFF_PREFIXES = ("/api/v1/fulfillments/", "/api/v1/locations/", "/api/v1/purchase-orders/")


@pytest.fixture
def schema(anonymous):
    return anonymous.get("/api/schema/", {"format": "json"}).json()


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", method, path, operation


def test_every_operation_lists_its_error_answers_as_problems(schema):
    missing = {}
    for label, method, path, operation in operations(schema):
        responses = operation["responses"]
        expected = {"401", "403", "406", "429"}
        if "requestBody" in operation:
            expected |= {"400", "415"}
        if "{" in path:
            expected.add("404")
        if method != "get":
            expected.add("409")
        if expected - set(responses):
            missing[label] = sorted(expected - set(responses))
        for code, response in responses.items():
            if code.startswith("4"):
                assert response["content"] == {
                    "application/problem+json": {"schema": PROBLEM_REF}
                }, (label, code)
                assert response["description"], (label, code)
        assert responses["401"]["headers"]["WWW-Authenticate"]["required"] is True, label
        assert "Retry-After" in responses["429"]["headers"], label
    assert missing == {}


def test_operations_list_the_errors_only_they_give(schema):
    paths = schema["paths"]
    capture = paths["/api/v1/orders/"]["post"]["responses"]
    assert {"402", "422"} <= set(capture)
    assert set(capture["201"]["headers"]) == {"Location", "Idempotent-Replayed"}
    # A bad filter is a 400, a page past the end a 404.
    assert {"400", "404"} <= set(paths["/api/v1/orders/"]["get"]["responses"])
    assert "400" in paths["/api/v1/availability/"]["get"]["responses"]
    # A body-less action reads nothing it could refuse as input.
    deliver = paths["/api/v1/fulfillments/{id}/deliver/"]["post"]["responses"]
    assert not {"400", "415"} & set(deliver)
    assert "400" not in paths["/api/v1/fulfillments/{id}/label.pdf"]["get"]["responses"]


def test_the_problem_component_is_what_the_api_writes(schema):
    problem = schema["components"]["schemas"]["Problem"]

    assert set(problem["required"]) == {"type", "title", "status", "code"}
    assert set(problem["properties"]) >= {"type", "title", "status", "code", "detail", "errors"}


def test_each_operation_names_only_the_credentials_its_route_takes(schema):
    for label, _, path, operation in operations(schema):
        schemes = {name for requirement in operation["security"] for name in requirement}
        if path.startswith(STAFF_PREFIXES) or path.startswith("/api/v1/vendors/"):
            assert "ApiKeyAuth" not in schemes, label
            assert "basicAuth" in schemes, label
        else:
            assert "ApiKeyAuth" in schemes, label


def test_request_bodies_refuse_undeclared_members(schema):
    for label, _, _, operation in operations(schema):
        if "requestBody" not in operation:
            continue
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        body = schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]
        assert body["additionalProperties"] is False, label


def assert_problem(schema, response, status):
    """The answer is documented for its operation and its body matches the Problem schema."""
    import jsonschema

    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    validator = jsonschema.Draft4Validator(
        {**PROBLEM_REF, "components": schema["components"]},
    )
    validator.validate(response.json())
    return response.json()


def test_real_error_answers_match_the_problem_schema(schema, channel_client, api_client, catalogue):
    from tests.factories import order_payload

    headers = {"HTTP_IDEMPOTENCY_KEY": "k-1"}
    orders = "/api/v1/orders/"

    body = assert_problem(
        schema, channel_client.post(orders, {"lines": []}, format="json", **headers), 400
    )
    assert body["errors"]
    response = api_client.get(orders)
    assert_problem(schema, response, 401)
    assert response["WWW-Authenticate"] == "Api-Key"
    assert_problem(schema, channel_client.get(f"{orders}SO-404/"), 404)
    assert_problem(schema, channel_client.get(orders, HTTP_ACCEPT="text/html"), 406)
    assert_problem(
        schema, channel_client.post(orders, "x", content_type="text/plain", **headers), 415
    )

    placed = channel_client.post(orders, order_payload(), format="json", **headers)
    assert placed.status_code == 201
    assert_problem(
        schema,
        channel_client.post(orders, order_payload(external_id="other"), format="json", **headers),
        422,
    )
    short = channel_client.post(
        orders,
        order_payload(lines=[{"sku": "SKU-A", "quantity": 11}]),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-2",
    )
    assert assert_problem(schema, short, 409)["code"] == "insufficient_stock"
    # Staff routes refuse a storefront key: 401 naming HTTP Basic.
    work = channel_client.get("/api/v1/locations/WH-EAST/work/")
    assert_problem(schema, work, 401)
    assert work["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize(
    "path", ["/api/v1/orders/0.5/", "/api/v1/orders//", "/api/v1/fulfillments/AAA/deliver/"]
)
def test_an_api_url_no_route_matches_is_a_problem_404(schema, channel_client, path):
    body = assert_problem(schema, channel_client.post(path), 404)

    assert body["code"] == "not_found"


def test_other_unmatched_urls_keep_the_html_404(anonymous):
    response = anonymous.get("/desk/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_request_bodies_publish_the_limits_the_serializers_check(schema):
    schemas = schema["components"]["schemas"]
    lines = schemas["OrderCreateInputRequest"]["properties"]["lines"]
    latitude = schemas["DestinationInputRequest"]["properties"]["latitude"]["pattern"]
    key = next(
        p
        for p in schema["paths"]["/api/v1/orders/"]["post"]["parameters"]
        if p["name"] == "Idempotency-Key"
    )

    assert (lines["minItems"], lines["maxItems"]) == (1, 100)
    assert schemas["PackInputRequest"]["properties"]["packages"]["minItems"] == 1
    assert [bool(re.match(latitude, v)) for v in ("40.7", "-.5", "", "-", ".")] == [
        True,
        True,
        False,
        False,
        False,
    ]
    assert key["schema"]["maxLength"] == 255
    assert not re.search(key["schema"]["pattern"], "   ")


@pytest.mark.parametrize("page_size", ["AAA", "0", "201", "0.5", ""])
def test_a_bad_page_size_is_refused_naming_the_parameter(channel_client, page_size):
    response = channel_client.get("/api/v1/orders/", {"page_size": page_size})

    assert response.status_code == 400
    assert "page_size" in response.json()["errors"]


def test_a_good_page_size_is_used(channel_client):
    response = channel_client.get("/api/v1/orders/", {"page_size": "3"})

    assert response.status_code == 200


def test_the_order_example_in_the_schema_places_an_order(
    channel_client, warehouse, standard_service, ny_tax
):
    from orders.serializers import ORDER_EXAMPLE

    factories.stock(factories.SKUFactory(code="TEE-RED-M"), warehouse, 5)
    schema = channel_client.get("/api/schema/", {"format": "json"}).json()
    body = schema["paths"]["/api/v1/orders/"]["post"]["requestBody"]["content"]["application/json"]
    example = next(iter(body["examples"].values()))["value"]
    assert example == ORDER_EXAMPLE

    response = channel_client.post(
        "/api/v1/orders/", example, format="json", HTTP_IDEMPOTENCY_KEY="example-1"
    )

    assert response.status_code == 201, response.json()


def test_the_order_delivery_is_published_as_one_shape_per_method(schema, channel_client, catalogue):
    """A `ship` delivery needs a service and an address, a `pickup` the store; the schema says
    so (one shape per method), and the API refuses what the schema leaves out, naming it."""
    import jsonschema

    schemas = schema["components"]["schemas"]
    delivery = schemas["OrderCreateInputRequest"]["properties"]["delivery"]
    shapes = schemas[delivery["$ref"].rsplit("/", 1)[-1]]
    by_method = {
        method: schemas[ref.rsplit("/", 1)[-1]]
        for method, ref in shapes["discriminator"]["mapping"].items()
    }
    validator = jsonschema.Draft4Validator({**delivery, "components": schema["components"]})
    ship = factories.order_payload()["delivery"]
    without_address = {"method": "ship", "service_level": "standard"}

    assert len(shapes["oneOf"]) == 2
    assert sorted(by_method["ship"]["required"]) == ["address", "method", "service_level"]
    assert sorted(by_method["pickup"]["required"]) == ["location", "method"]
    assert validator.is_valid(ship)
    assert validator.is_valid({"method": "pickup", "location": "STORE-NYC"})
    assert not validator.is_valid(without_address)
    response = channel_client.post(
        "/api/v1/orders/",
        factories.order_payload(delivery=without_address),
        format="json",
        HTTP_IDEMPOTENCY_KEY="delivery-shape-1",
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["delivery.address"]
