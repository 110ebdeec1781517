"""The API's published shape: integrators read it before they have a key."""

import pytest
from rest_framework.test import APIClient

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
