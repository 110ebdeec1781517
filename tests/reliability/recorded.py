"""Requests made as schemathesis' cassette records them, for the hostile_input checks."""

from rest_framework.test import APIClient


def recorded_post(authorization: str, path: str, body=None) -> dict:
    """POST with this Authorization header; the interaction as `read_cassette` returns it."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=authorization)
    response = client.post(path, body, format="json")
    return {
        "method": "POST",
        "uri": f"http://testserver{path}",
        "path": path,
        "status": response.status_code,
        "headers": {},
        "body": response.content.decode(),
    }
