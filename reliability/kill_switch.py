"""Test-only middleware for the web_killed scenario: die between commit and response.

reliability.settings installs it (outermost) only when RELIABILITY_KILL_SWITCH_DIR is set,
which only web_killed does for the gunicorn it starts; oms.settings never names it. A request
carrying the KILL_HEADER runs normally: the view's transaction commits and the response is
rendered. Then, instead of answering, the process writes the body it would have sent to
<dir>/<Idempotency-Key>.json and SIGKILLs itself, so the client sees the connection drop
and the scenario can compare the body of the client's retry with the one that was lost.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

from django.db import connection

KILL_HEADER = "X-Reliability-Kill-After-Commit"


class KillAfterCommitMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.directory = Path(os.environ["RELIABILITY_KILL_SWITCH_DIR"])

    def __call__(self, request):
        response = self.get_response(request)
        if not request.headers.get(KILL_HEADER):
            return response
        if connection.in_atomic_block:  # ATOMIC_REQUESTS: nothing committed yet; not our case
            return response
        key = re.sub(r"[^A-Za-z0-9_.-]", "_", request.headers.get("Idempotency-Key", "none"))
        (self.directory / f"{key}.json").write_bytes(
            f"{response.status_code}\n".encode() + response.content
        )
        os.kill(os.getpid(), signal.SIGKILL)
        return response  # unreachable: SIGKILL is not delivered later than now
