"""What schemathesis recorded (its VCR cassettes): the requests and answers of a pass, read
back by hostile_input to explain every table change."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path


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
                    "path": "/"
                    + request.get("uri", "").split("://", 1)[-1].split("/", 1)[-1].split("?")[0],
                    "status": int((response.get("status") or {}).get("code") or 0),
                    "headers": {k.lower(): v for k, v in (response.get("headers") or {}).items()},
                    "body": body,
                }
            )
    return interactions


def answers(interactions: list[dict]):
    """(method, path, status, JSON body or None) of each recorded request, in order."""
    for item in interactions:
        body = None
        with contextlib.suppress(ValueError, TypeError):
            body = json.loads(item["body"])
        yield item["method"], item["path"], item["status"], body
