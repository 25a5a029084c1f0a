"""Input problems, collected and reported together.

Every check in blocmodel appends a `Problem` naming where the bad input is (file, row,
field) instead of raising at the first one, so a user fixes a file in one pass. Row
numbers count the header as row 1, as a spreadsheet shows them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    file: str
    message: str
    row: int | None = None
    field: str | None = None
    hint: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        text = f"{', '.join(where)}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class InputError(Exception):
    """Bad input: carries every problem found, each naming file, row and field."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class InfeasibleError(Exception):
    """A scenario with no equilibrium; `conflicts` names the constraints that clash."""

    def __init__(self, message: str, conflicts: list[str] | None = None):
        self.conflicts = conflicts or []
        super().__init__(message)


class EquilibriumCheckError(Exception):
    """A solution that fails the independent equilibrium check (never returned silently)."""

    def __init__(self, message: str, worst: list[str] | None = None):
        self.worst = worst or []
        super().__init__(message)


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """'did you mean ...?' for a misspelt name, or None."""
    close = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def plain_message(err: dict) -> str:
    """A pydantic validation error in plain words ('must be greater than 0')."""
    kind = err["type"]
    if kind == "missing":
        return "value is missing"
    if kind in ("float_parsing", "float_type"):
        return "is not a number"
    if kind == "finite_number":
        return "must be a finite number (not NaN or infinity)"
    ctx = err.get("ctx") or {}
    for key, word in (("gt", "greater than"), ("ge", "at least"), ("lt", "less than"), ("le", "at most")):
        if key in ctx:
            return f"must be {word} {ctx[key]}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}"
    if kind == "string_pattern_mismatch":
        return "must contain only letters, digits and '_'"
    if kind == "string_too_short":
        return "must not be blank"
    if kind == "value_error":           # our own validators: their message as written
        return str(err.get("msg", kind)).removeprefix("Value error, ")
    return str(err.get("msg", kind))
