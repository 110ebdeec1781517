"""Production settings: `manage.py check --deploy` is clean with the README's environment.

The environment is read from the README's "Production environment" block (the fenced block
after the `<!-- production-env -->` marker), so the check proves what the README tells an
operator to set — not a copy of it that could drift.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys

from reliability.harness import ROOT, Outcome

NAME = "production_settings"
NEEDS_DATABASE = False
MARKER = "<!-- production-env -->"


def documented_environment() -> dict[str, str]:
    """VAR=value lines of the README's production block; `$(...)` values get a fresh secret."""
    readme = (ROOT / "README.md").read_text()
    _, found, rest = readme.partition(MARKER)
    if not found:
        raise LookupError(f"README.md has no {MARKER} block")
    block = re.search(r"```\w*\n(.*?)```", rest, re.DOTALL)
    environment = {}
    for line in (block.group(1) if block else "").splitlines():
        match = re.match(r"\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)=(\S*)", line)
        if match:
            name, value = match.groups()
            value = value.strip("'\"")
            if value.startswith("$(") or value.startswith("<"):
                value = secrets.token_urlsafe(50)
            environment[name] = value
    return environment


def check_deploy(environment: dict[str, str]) -> subprocess.CompletedProcess:
    # Only the documented variables (and PATH): nothing leaks in from the caller's shell.
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **environment},
        capture_output=True,
        text=True,
        timeout=120,
    )


def check(outcome: Outcome | None = None) -> Outcome:
    outcome = outcome or Outcome(NAME)
    environment = documented_environment()
    shown = {k: ("<secret>" if k == "SECRET_KEY" else v) for k, v in environment.items()}
    outcome.attempt(f"manage.py check --deploy --fail-level WARNING with {shown}")
    result = check_deploy(environment)
    issues = [
        line
        for line in result.stdout.splitlines() + result.stderr.splitlines()
        if "?:" in line or "(security." in line or "ERROR" in line
    ]
    for issue in issues:
        outcome.note(issue)
    outcome.expect(
        result.returncode == 0 and not issues,
        "check --deploy is clean with the documented production environment",
        (result.stdout + result.stderr)[-2000:],
    )
    return outcome


def run(context) -> Outcome:
    return check()
