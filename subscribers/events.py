"""The subscriber event bodies, declared once as pydantic models (one per event type).

The webhook checks a body against `SubscriberEventBody` before storing it, the worker reads
the stored body back through the same models, and the OpenAPI schema documents the webhook
from their JSON schema. Unknown keys are ignored (subscriber systems may send more than we
read); every error is reported under its dotted field path (`data.org.id`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.utils import timezone
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    ValidationInfo,
    field_validator,
)
from pydantic import ValidationError as PydanticValidationError

from core.salesforce_ids import ORG_PREFIX, PACKAGE_PREFIX, VERSION_PREFIX, normalize_salesforce_id
from licenses.services import OrgDetails
from lmo import clock
from packages.models import parse_version_number

from .choices import EventType

# A subscriber clock may run a little ahead; a timestamp far in the future would otherwise
# make every later event look stale.
MAX_CLOCK_SKEW = dt.timedelta(hours=1)
MAX_USED_LICENSES = 2**31 - 1


def _salesforce_id(prefix: str, name: str):
    def check(value: Any) -> str:
        try:
            return normalize_salesforce_id(value, prefix=prefix, field=name)
        except DjangoValidationError as exc:
            raise ValueError(" ".join(exc.messages)) from None

    return BeforeValidator(check)


def _version_number(value: str) -> str:
    try:
        major, minor, patch = parse_version_number(value)
    except DjangoValidationError as exc:
        raise ValueError(" ".join(exc.messages)) from None
    return f"{major}.{minor}.{patch}"


def _email(value: str) -> str:
    if value:
        try:
            validate_email(value)
        except DjangoValidationError:
            raise ValueError("Enter a valid email address.") from None
    return value


def _aware_in_past(value: dt.datetime) -> dt.datetime:
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    # Event times follow the LMO's clock (a simulated one runs ahead of real time).
    if value > clock.now() + MAX_CLOCK_SKEW:
        raise ValueError("Lies in the future.")
    return value.astimezone(dt.UTC)


def _text(max_length: int):
    return Annotated[
        str, StringConstraints(strict=True, strip_whitespace=True, max_length=max_length)
    ]


OrgId = Annotated[str, _salesforce_id(ORG_PREFIX, "id")]
ParentOrgId = Annotated[str, _salesforce_id(ORG_PREFIX, "parent_org_id")]
PackageId = Annotated[str, _salesforce_id(PACKAGE_PREFIX, "package_id")]
VersionId = Annotated[str, _salesforce_id(VERSION_PREFIX, "version_id")]


def _iso_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("Expected an ISO 8601 date and time, e.g. 2026-11-28T10:15:00Z.")
    return value


Timestamp = Annotated[dt.datetime, BeforeValidator(_iso_text), AfterValidator(_aware_in_past)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)


class Org(_Body):
    """The subscriber org, as it describes itself (installs send it whole, others its id)."""

    id: OrgId
    name: _text(255) = ""
    edition: _text(100) = ""
    instance: _text(40) = ""
    # Optional, but not null: left out, is_sandbox alone decides.
    type: Literal["production", "sandbox"] = Field(default=None)
    is_sandbox: StrictBool = Field(default=False, validate_default=True)
    parent_org_id: ParentOrgId | None = None

    @field_validator("is_sandbox")
    @classmethod
    def _sandbox_agrees_with_type(cls, value: bool, info: ValidationInfo) -> bool:
        org_type = info.data.get("type")
        if org_type is not None and (org_type == "sandbox") != value:
            raise ValueError(f"Does not agree with type {org_type!r}.")
        return value


class Installer(_Body):
    """Who installed the package: becomes a Lead unless the org is already known."""

    first_name: _text(100) = ""
    last_name: _text(100) = ""
    email: Annotated[_text(254), AfterValidator(_email)] = ""
    phone: _text(40) = ""
    company: _text(255) = ""


class InstallData(_Body):
    package_id: PackageId
    org: Org
    version_id: VersionId
    version_number: Annotated[_text(23), AfterValidator(_version_number)]
    installer: Installer | None = None


class UninstallData(_Body):
    package_id: PackageId
    org: Org


class UsageData(_Body):
    package_id: PackageId
    org: Org
    used_licenses: Annotated[StrictInt, Field(ge=0, le=MAX_USED_LICENSES)] | None = None
    # Checked against the package's parameters when the event is applied.
    parameters: dict[str, Any] = Field(default_factory=dict)


class PackageInstalled(_Body):
    type: Literal["package.installed"]
    timestamp: Timestamp
    data: InstallData


class PackageUpgraded(_Body):
    type: Literal["package.upgraded"]
    timestamp: Timestamp
    data: InstallData


class PackageUninstalled(_Body):
    type: Literal["package.uninstalled"]
    timestamp: Timestamp
    data: UninstallData


class UsageReported(_Body):
    type: Literal["usage.reported"]
    timestamp: Timestamp
    data: UsageData


SubscriberEventBody = Annotated[
    PackageInstalled | PackageUpgraded | PackageUninstalled | UsageReported,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(SubscriberEventBody)


def event_json_schema() -> dict[str, Any]:
    """The JSON schema of a webhook body, self-contained (for the OpenAPI document)."""
    schema = EVENT_ADAPTER.json_schema(ref_template="{model}")
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return _openapi_30(inline(schema))


def _openapi_30(node: Any) -> Any:
    """JSON Schema as OpenAPI 3.0 spells it: one-value enums for "const", `nullable` for
    `anyOf [X, null]`."""
    if isinstance(node, list):
        return [_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _openapi_30(value) for key, value in node.items()}
    if "const" in node:
        node["enum"] = [node.pop("const")]
    node.pop("discriminator", None)
    options = node.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [option for option in options if option != {"type": "null"}]
        del node["anyOf"]
        if len(rest) == 1:
            node.update(rest[0])
        else:
            node["anyOf"] = rest
        node["nullable"] = True
    return node


@dataclass(frozen=True)
class IncomingEvent:
    """A subscriber event whose body passed validation: what the services work from."""

    event_id: str
    type: str
    occurred_at: dt.datetime
    package_id: str
    org: OrgDetails
    payload: dict[str, Any]
    version_id: str | None = None
    version_number: str | None = None
    installer: dict[str, str] | None = None
    used_licenses: int | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


class EventInvalid(Exception):
    """The body is not a valid subscriber event; `fields` holds the errors by field path."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields
        super().__init__("Invalid event: " + ", ".join(sorted(fields)) + ".")

    @property
    def message(self) -> str:
        return "; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in self.fields.items())


def _error_fields(exc: PydanticValidationError) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        # The discriminated union adds the tag ("package.installed") as a path step.
        loc = [str(part) for part in error["loc"] if part not in EventType.values]
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = ["type"]
        path = ".".join(loc) or "non_field_errors"
        message = error["msg"].removeprefix("Value error, ")
        fields.setdefault(path, []).append(message)
    return fields


def parse_event(event_id: str, body: Any) -> IncomingEvent:
    """Check a decoded JSON body against the event models; raise EventInvalid with field errors."""
    if not isinstance(body, dict):
        raise EventInvalid({"non_field_errors": ["The body must be a JSON object."]})
    try:
        event = EVENT_ADAPTER.validate_python(body)
    except PydanticValidationError as exc:
        raise EventInvalid(_error_fields(exc)) from None
    data = event.data
    org = data.org
    installer = getattr(data, "installer", None)
    return IncomingEvent(
        event_id=event_id,
        type=event.type,
        occurred_at=event.timestamp,
        package_id=data.package_id,
        org=OrgDetails(
            org_id=org.id,
            name=org.name,
            edition=org.edition,
            instance=org.instance,
            is_sandbox=org.is_sandbox,
            parent_org_id=org.parent_org_id,
        ),
        payload=body,
        version_id=getattr(data, "version_id", None),
        version_number=getattr(data, "version_number", None),
        installer=installer.model_dump() if installer is not None else None,
        used_licenses=getattr(data, "used_licenses", None),
        parameters=dict(getattr(data, "parameters", None) or {}),
    )
