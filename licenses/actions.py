"""The license actions staff can run: each declared once, here.

An action is a License method plus what the console and the API need to offer it: its
label, its input fields, the permission it needs, and (derived from the transition table
in choices.py) the statuses it is offered in. The console's buttons, list actions and
forms, the API's single and bulk endpoints, `License.available_actions()` and the API's
`available_actions` all read this registry.

Adding an action is one `LicenseAction` in ACTIONS plus its License method (taking
keyword-only `by` and the fields below); if it changes the status, its moves go in
ALLOWED_TRANSITIONS under the method's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from packages.choices import MAX_SEATS

from .choices import (
    ALLOWED_TRANSITIONS,
    MAX_RENEWAL_DAYS,
    RENEWAL_RULE,
    TERMINAL_STATUSES,
    statuses_allowing,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from .models import License, LicenseEvent

CHANGE_STATUS = "licenses.change_license_status"
CHANGE = "licenses.change_license"
MAX_REASON_LENGTH = 2000


@dataclass(frozen=True)
class ActionField:
    """One input of an action, as the License method names it.

    `kind` picks the widget and the checks: `seats` (1 to MAX_SEATS or -1), `days` (a term,
    1 to MAX_RENEWAL_DAYS), `datetime`
    (aware, UTC in the console) or `text`. A `nullable` datetime takes None for "does not
    expire"; when it is also `required`, the caller must say so explicitly.
    """

    name: str
    kind: Literal["seats", "days", "datetime", "text"]
    label: str
    help_text: str = ""
    required: bool = False
    nullable: bool = False
    default: Any = None


def _reason(*, required: bool = False) -> ActionField:
    return ActionField(
        "reason",
        "text",
        "Reason",
        "Written to the license's history." if not required else "Required: say why.",
        required=required,
        default="",
    )


SEATS_HELP = f"1 to {MAX_SEATS:,}, or -1 for a site license (every user of the org)."


@dataclass(frozen=True)
class LicenseAction:
    """One action: the License method `name`, and how to ask for and describe it."""

    name: str
    label: str
    done: str
    permission: str
    description: str
    fields: tuple[ActionField, ...] = ()
    # A move in the transition table (offered where the table allows `name`), or an edit of
    # a license that is not frozen.
    changes_status: bool = True
    example: Mapping[str, Any] = field(default_factory=dict)
    # Error codes the action may answer besides invalid input (for the API's docs).
    refusals: tuple[str, ...] = ("invalid_transition", "license_locked")

    @property
    def slug(self) -> str:
        """The API's name: `extend-trial` for `extend_trial`."""
        return self.name.replace("_", "-")

    def offered_in(self) -> frozenset[str]:
        """Statuses in which the action can succeed for some license, from the table."""
        if self.changes_status:
            return statuses_allowing(self.name)
        return frozenset(ALLOWED_TRANSITIONS) - TERMINAL_STATUSES

    def is_available(self, license: License) -> bool:
        """Can the action succeed on this license, for some input?"""
        if self.changes_status:
            return license.can(self.name)
        return not license.is_locked

    def allowed_for(self, user: AbstractBaseUser | None) -> bool:
        return user is not None and user.has_perm(self.permission)

    def run(self, license: License, *, by: Any, data: Mapping[str, Any]) -> LicenseEvent | None:
        """Call the License method with the action's fields (their defaults when absent)."""
        arguments = {f.name: data.get(f.name, f.default) for f in self.fields}
        return getattr(license, self.name)(by=by, **arguments)


ACTIONS: dict[str, LicenseAction] = {
    action.name: action
    for action in (
        LicenseAction(
            "activate",
            "Activate (customer bought)",
            "Activated",
            CHANGE_STATUS,
            "The customer bought: from trial, expired or suspended. `seats` and `expires_at` "
            "are optional; without `expires_at` the license does not expire.",
            fields=(
                ActionField("seats", "seats", "Seats", SEATS_HELP),
                ActionField(
                    "expires_at",
                    "datetime",
                    "Expires at (UTC)",
                    "Empty: the license does not expire.",
                    nullable=True,
                ),
                _reason(),
            ),
            example={
                "seats": 50,
                "expires_at": "2027-09-20T00:00:00Z",
                "reason": "Invoice 2026-118 paid",
            },
        ),
        LicenseAction(
            "suspend",
            "Suspend",
            "Suspended",
            CHANGE_STATUS,
            "Blocks the org's access without uninstalling. `reason` is required.",
            fields=(_reason(required=True),),
            example={"reason": "Payment overdue 60 days"},
        ),
        LicenseAction(
            "reinstate",
            "Reinstate (lift suspension)",
            "Reinstated",
            CHANGE_STATUS,
            "Back to the status before the suspension (expired if its end passed meanwhile).",
            fields=(_reason(),),
            example={"reason": "Paid"},
        ),
        LicenseAction(
            "extend_trial",
            "Extend trial",
            "Trial extended",
            CHANGE_STATUS,
            "Moves a trial's end, or reopens an expired trial, never past 90 days from its "
            "start (422 beyond).",
            fields=(
                ActionField(
                    "until",
                    "datetime",
                    "Trial ends at (UTC)",
                    "At most 90 days after the trial started.",
                    required=True,
                ),
                _reason(),
            ),
            example={"until": "2026-11-25T12:00:00Z", "reason": "Evaluation needs two more weeks"},
            refusals=("invalid_transition", "license_locked", "trial_limit_exceeded"),
        ),
        LicenseAction(
            "renew",
            "Renew (add a term)",
            "Renewed",
            CHANGE_STATUS,
            f"Adds a term to a license that was bought. {RENEWAL_RULE} A trial cannot be "
            "renewed (activate it); `days` defaults to the package's `license_days`.",
            fields=(
                ActionField(
                    "days",
                    "days",
                    "Term (days)",
                    f"1 to {MAX_RENEWAL_DAYS}; empty: the package's license_days. {RENEWAL_RULE}",
                ),
                _reason(),
            ),
            example={"days": 365, "reason": "Renewal invoice 2027-031 paid"},
        ),
        LicenseAction(
            "set_seats",
            "Set seats",
            "Seats set",
            CHANGE,
            "1 to 99,000,000, or -1 for a site license.",
            fields=(ActionField("seats", "seats", "Seats", SEATS_HELP, required=True), _reason()),
            changes_status=False,
            example={"seats": 75, "reason": "Upsell"},
            refusals=("license_locked",),
        ),
        LicenseAction(
            "set_expiration",
            "Set expiration",
            "Expiration set",
            CHANGE,
            "null: does not expire (refused for a trial). A trial stays within its 90 days.",
            fields=(
                ActionField(
                    "expires_at",
                    "datetime",
                    "Expires at (UTC)",
                    "New end; none: does not expire (not for trials).",
                    required=True,
                    nullable=True,
                ),
                _reason(),
            ),
            changes_status=False,
            example={"expires_at": "2028-01-01T00:00:00Z", "reason": "Two-year renewal"},
            refusals=("license_locked", "trial_limit_exceeded"),
        ),
    )
}

ACTIONS_BY_SLUG: dict[str, LicenseAction] = {action.slug: action for action in ACTIONS.values()}
# The API's names of the actions (one enum in the OpenAPI schema).
ACTION_SLUGS: tuple[str, ...] = tuple(ACTIONS_BY_SLUG)


def actions_available(
    license: License, *, user: AbstractBaseUser | None = None
) -> list[LicenseAction]:
    """The actions that can succeed on `license` for some input, in registry order; with a
    user, only those the user's role may run."""
    return [
        action
        for action in ACTIONS.values()
        if action.is_available(license) and (user is None or action.allowed_for(user))
    ]


def action_fields(actions: Iterable[LicenseAction]) -> dict[str, ActionField]:
    """Every field the given actions take, by name (the first declaration of each name)."""
    fields: dict[str, ActionField] = {}
    for action in actions:
        for spec in action.fields:
            fields.setdefault(spec.name, spec)
    return fields
