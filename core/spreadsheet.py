"""Cells for CSV files that people open in spreadsheets.

A text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return is read as a
formula by Excel, LibreOffice and Google Sheets; subscriber-supplied text (an org name such
as `=HYPERLINK(...)`) would then run in the reader's spreadsheet. Such cells get a leading
single quote, as OWASP's "CSV Injection" advice says, so they show as the text they are.
Numbers are written as numbers (a site license's -1 stays -1).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """The value, or for text that a spreadsheet would run, the text behind a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    return [csv_cell(value) for value in values]
