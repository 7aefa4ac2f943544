from __future__ import annotations

from pydantic import ValidationError


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as ``[{"field": "child.nhs_number", "message": ...}]`` (DESIGN §4).

    Cross-field rules raise ``ValueError("field.path: message")`` so that they too name
    the field they are about.
    """
    out: list[dict[str, str]] = []
    for item in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if not field and ": " in message:
            field, message = message.split(": ", 1)
        out.append({"field": field or "(body)", "message": message})
    return out
