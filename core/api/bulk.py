"""The answer of a bulk endpoint: one result per requested id, in the order asked."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar


class LicenseOutcome(Protocol):
    license_name: str
    message: str


OutcomeT = TypeVar("OutcomeT", bound=LicenseOutcome)


def bulk_results(
    ids: Iterable[int],
    outcomes: Mapping[int, OutcomeT],
    *,
    succeeded: Callable[[OutcomeT], bool],
) -> dict[str, Any]:
    """`applied`, `refused` and `results` for `ids`; an id with no outcome was not found
    (or not visible to the caller, which must not learn the difference)."""
    results = []
    for pk in ids:
        outcome = outcomes.get(pk)
        if outcome is None:
            results.append(
                {"id": pk, "license": None, "outcome": "not_found", "message": "No such license."}
            )
            continue
        ok = succeeded(outcome)
        results.append(
            {
                "id": pk,
                "license": outcome.license_name,
                "outcome": "applied" if ok else "refused",
                "message": "" if ok else outcome.message,
            }
        )
    applied = sum(1 for result in results if result["outcome"] == "applied")
    return {"applied": applied, "refused": len(results) - applied, "results": results}
