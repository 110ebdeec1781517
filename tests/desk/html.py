"""Small readers of desk HTML for view tests (no HTML parser dependency)."""

import re


def field_block(content: bytes | str, name: str) -> str:
    """The markup of one form field's block: label, input and the errors beside it."""
    text = content.decode() if isinstance(content, bytes) else content
    match = re.search(
        rf'<div class="field[^"]*" data-field="{re.escape(name)}">(.*?)</div>', text, re.S
    )
    assert match, f"no field {name!r} on the page"
    return match.group(1)


def field_error(content: bytes | str, name: str) -> str:
    """The error text shown beside a field ('' when there is none)."""
    block = field_block(content, name)
    errors = re.findall(r'<ul class="errorlist field-errors"[^>]*>(.*?)</ul>', block, re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", e) for e in errors).strip()


def input_value(content: bytes | str, name: str) -> str:
    block = field_block(content, name)
    textarea = re.search(r"<textarea[^>]*>(.*?)</textarea>", block, re.S)
    if textarea:
        return textarea.group(1).strip()
    match = re.search(r'<input[^>]*name="' + re.escape(name) + r'"[^>]*value="([^"]*)"', block)
    return match.group(1) if match else ""
