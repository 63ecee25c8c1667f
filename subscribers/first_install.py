"""A package's first install in an org, written by one statement on PostgreSQL.

First installs are most of what subscribers send, and one writes six kinds of rows: the
installer's Lead, the License, its feature values, the history row, the outbox message and
the inbox row. Written by the ORM with the reads around them that is some twenty round
trips; here the same model instances, built by the same functions as on the ORM path, are
written by one prepared statement of data-modifying CTEs, each INSERT reading the ids the
ones before returned, sent with the org's advisory lock in one round trip.

Anything else (another event type, a reinstall, an org that already has a license of the
package, a sandbox with a parent org, a version this LMO has not seen, SQLite) gets None
back and goes through `subscribers.services`, which handles every case.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import itertools
import json
import re
import weakref
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import (
    DEFAULT_DB_ALIAS,
    OperationalError,
    connection,
    connections,
    models,
    transaction,
)
from django.utils import timezone
from psycopg2.errors import InvalidSqlStatementName
from psycopg2.extras import Json

from features.models import FeatureParameter, FeatureParameterValue
from jobs.choices import OutboxTopic
from jobs.models import OutboxMessage
from leads.models import OPEN_LEAD_STATUSES, Lead
from licenses.choices import Actor
from licenses.models import License, LicenseEvent
from licenses.services import license_build, license_created_event
from licenses.signals import LicenseChange, LicenseSnapshot, send_licenses_changed
from packages.catalog import catalog_forget, catalog_lookup
from packages.models import Package, PackageVersion

from .choices import EventType, Outcome
from .models import SubscriberEvent
from .org_lock import org_lock_key
from .serializers import IncomingEvent

_quote = connection.ops.quote_name
_LICENSES = _quote(License._meta.db_table)
_LEADS = _quote(Lead._meta.db_table)
_VALUES = _quote(FeatureParameterValue._meta.db_table)
_PARAMETERS = _quote(FeatureParameter._meta.db_table)
_PACKAGES = _quote(Package._meta.db_table)
_VERSIONS = _quote(PackageVersion._meta.db_table)
# The first install is written only if the package and version this process remembers are
# still as they are in the database, and the org has no license of the package yet.
_APPLIES = "facts.catalog_current AND NOT facts.has_license"


def installer_lead(event: IncomingEvent, package: Package) -> Lead | None:
    """The unsaved Lead for an install's installer; None when the event names nobody."""
    installer = event.installer or {}
    if not any(installer.get(k) for k in ("first_name", "last_name", "email", "company")):
        return None
    return Lead(
        first_name=installer.get("first_name", ""),
        last_name=installer.get("last_name", ""),
        email=installer.get("email", ""),
        phone=installer.get("phone", ""),
        company=installer.get("company", "") or event.org.name,
        org_id=event.org.org_id,
        package=package,
        owner_id=package.lead_manager_id,
    )


def first_install_apply(event: IncomingEvent) -> int | None:
    """Apply a first install in one round trip and return the new license's id, or None
    (nothing written) when the event is not a first install of a known version on
    PostgreSQL. A redelivered event raises IntegrityError on the inbox's unique webhook id,
    with nothing written, as on the ORM path."""
    org = event.org
    if (
        connection.vendor != "postgresql"
        or event.type != EventType.INSTALLED
        or (org.is_sandbox and org.parent_org_id)
    ):
        return None
    package, version = catalog_lookup(package_id=event.package_id, version_id=event.version_id)
    if package is None or version is None:
        return None
    if not package.license_manager_linked or version.package_id != package.pk:
        # Linked a moment ago, perhaps: read again next time rather than keep refusing.
        catalog_forget(package_id=package.package_id, version_id=version.version_id)
        return None

    license = license_build(
        package=package, version=version, org=org, installed_at=event.occurred_at
    )
    license.last_event_at = event.occurred_at
    # The checks license_create makes; the database enforces the constraints.
    license.full_clean(
        exclude=["package", "lead", "account", "version", "previous_license"],
        validate_constraints=False,
    )
    kind, after = license_created_event(license)
    history = LicenseEvent(
        at=event.occurred_at,
        actor=Actor.SUBSCRIBER,
        kind=kind,
        after=after,
        source_event_id=event.event_id,
    )
    message = OutboxMessage(topic=OutboxTopic.LICENSE_EVENT, created_at=event.occurred_at)
    inbox = SubscriberEvent(
        event_id=event.event_id,
        type=event.type,
        occurred_at=event.occurred_at,
        package_id=event.package_id,
        org_id=org.org_id,
        payload=event.payload,
        outcome=Outcome.APPLIED,
    )
    lead = installer_lead(event, package)

    # Who the license belongs to, decided as services._account_or_lead decides it: the
    # account of the org's newest license that has one, else the oldest open lead with the
    # installer's email, else a new lead.
    email = (event.installer or {}).get("email", "")
    facts = (
        f"""facts AS MATERIALIZED (SELECT
          -- The package's columns this install is built from are still what this process
          -- remembers (compared one by one: an UPDATE need not touch updated_at).
          EXISTS (SELECT 1 FROM {_PACKAGES}
                  WHERE id = CAST(%s AS bigint) AND license_manager_linked
                    AND default_status = %s
                    AND default_seats = CAST(%s AS integer) AND trial_days = CAST(%s AS integer)
                    AND license_days IS NOT DISTINCT FROM CAST(%s AS integer)
                    AND lead_manager_id IS NOT DISTINCT FROM CAST(%s AS bigint))
            AND EXISTS (SELECT 1 FROM {_VERSIONS}
                        WHERE id = CAST(%s AS bigint) AND package_id = CAST(%s AS bigint)
                          AND version_number = %s)
            AS catalog_current,
          -- Over the org's few licenses (its index), not "org and package": a plan that
          -- intersects with the package's index reads every license of the package.
          COALESCE((SELECT bool_or(package_id = CAST(%s AS bigint)) FROM {_LICENSES}
                    WHERE org_id = %s), false)
            AS has_license,
          (SELECT account_id FROM {_LICENSES}
            WHERE org_id = %s AND account_id IS NOT NULL ORDER BY id DESC LIMIT 1)
            AS account_id,
          (SELECT id FROM {_LEADS}
            WHERE lower(email) = %s AND status = ANY(CAST(%s AS text[]))
            ORDER BY created_at LIMIT 1)
            AS open_lead_id)""",
        [
            package.pk,
            package.default_status,
            package.default_seats,
            package.trial_days,
            package.license_days,
            package.lead_manager_id,
            version.pk,
            package.pk,
            version.version_number,
            package.pk,
            org.org_id,
            org.org_id,
            email.lower() or None,
            list(OPEN_LEAD_STATUSES),
        ],
    )
    parts = [facts]
    lead_id = "facts.open_lead_id"
    if lead is not None:
        parts.append(
            _insert(
                "new_lead",
                lead,
                source=f"facts WHERE {_APPLIES} AND facts.account_id IS NULL "
                "AND facts.open_lead_id IS NULL",
            )
        )
        lead_id = "COALESCE(facts.open_lead_id, (SELECT id FROM new_lead))"
    parts.append(
        _insert(
            "new_license",
            license,
            {
                "account_id": ("facts.account_id", []),
                "lead_id": (f"CASE WHEN facts.account_id IS NULL THEN {lead_id} END", []),
            },
            source=f"facts WHERE {_APPLIES}",
        )
    )
    parts.append(_feature_values_insert(package))
    parts.append(
        _insert("new_event", history, {"license_id": ("new_license.id", [])}, source="new_license")
    )
    # The payload the notification consumer reads: jobs.outbox.license_event_payload.
    payload = (
        "jsonb_build_object('event_id', new_event.id, 'license_id', new_license.id, "
        "'kind', %s::text)",
        [kind],
    )
    parts.append(
        _insert("new_message", message, {"payload": payload}, source="new_license, new_event")
    )
    parts.append(
        _insert("new_inbox", inbox, {"license_id": ("new_license.id", [])}, source="new_license")
    )
    statement = _prepared(
        "WITH "
        + ",\n".join(part for part, _ in parts)
        + "\nSELECT (SELECT id FROM new_license), catalog_current FROM facts"
    )
    params = [param for _, part_params in parts for param in part_params]
    license_id, catalog_current = _execute(statement, org_lock_key(package, org.org_id), params)
    if license_id is not None:
        # Listeners (the dashboards' rollup) write in a round trip of their own.
        created = LicenseChange(None, LicenseSnapshot.of(license), license.installed_at)
        send_licenses_changed([created])
    if not catalog_current:
        # The package or version changed since this process read it: read it again next time.
        catalog_forget(package_id=package.package_id, version_id=version.version_id)
    # Nothing to drop from the license-check cache: it holds only answers about licenses,
    # and this org had none of this package (a "no license" answer is never cached). The
    # notification is relayed by the outbox poller (jobs.outbox.outbox_relay_pending)
    # rather than published here.
    return license_id  # None: the org already has a license of the package, the ORM decides


@dataclass(frozen=True)
class _Prepared:
    name: str
    prepare: str
    execute: str


@functools.lru_cache(maxsize=8)
def _prepared(sql: str) -> _Prepared:
    """The statement as a server-side prepared statement: parsing and planning six INSERTs
    cost PostgreSQL more than executing them. Named after its text, so a changed statement
    never runs under an old name."""
    numbers = itertools.count(0)
    body = re.sub(r"%s", lambda _: f"($1->>{next(numbers)})", sql)
    name = "lmo_first_install_" + hashlib.sha256(sql.encode()).hexdigest()[:16]
    return _Prepared(name, f"PREPARE {name}(jsonb) AS {body}", f"EXECUTE {name}(%s)")


def _json_params(params: list[Any]) -> str:
    """The statement's parameters as one JSON array, its single argument: psycopg2 quotes
    each parameter on its own, about 100 us for these eighty, where json encodes them all
    at C speed in under half that. Each is read back as text and cast to its column's type
    in the statement, as a quoted literal would have been."""
    return json.dumps([_json_param(param) for param in params], ensure_ascii=False)


def _json_param(value: Any) -> Any:
    if value is None or type(value) in (str, int, bool):
        return value
    if isinstance(value, str):  # a choices enum: its value
        return str(value)
    if isinstance(value, datetime.date):  # and datetimes, with their offset
        return value.isoformat()
    if isinstance(value, Json):  # a JSONField's value, encoded by the field's encoder
        return value.dumps(value.adapted)
    if isinstance(value, list | tuple):  # an array literal, for `= ANY(CAST(.. AS text[]))`
        return "{" + ",".join('"' + _array_escape(str(item)) + '"' for item in value) + "}"
    raise TypeError(f"No JSON form for a {type(value).__name__} parameter")


def _array_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


# Which statements each database session has prepared (a session ends with its connection).
_prepared_in_session: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _execute(statement: _Prepared, lock_keys: tuple[int, int], params: list[Any]) -> tuple:
    """Take the org's lock and run the statement: one round trip, and a second the first
    time a session runs it (to prepare it). A session that lost its prepared statements
    (a pooler in transaction mode, DISCARD ALL) prepares them again, once."""
    for attempt in (1, 2):
        try:
            with _transaction(), connection.cursor() as cursor:
                prepared = _prepared_in_session.setdefault(connection.connection, set())
                if statement.name not in prepared:
                    # The generic plan is the same whatever the ids, but PostgreSQL's cost
                    # guess keeps choosing to re-plan each execution, which costs more than
                    # the execution itself. The setting only concerns prepared statements,
                    # and the ORM prepares none.
                    cursor.execute(
                        statement.prepare + ";\nSET plan_cache_mode = force_generic_plan"
                    )
                    prepared.add(statement.name)
                # One query string: the lock is taken before the EXECUTE takes its snapshot,
                # so it sees every event for this org committed before.
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s);\n" + statement.execute,
                    [*lock_keys, _json_params(params)],
                )
                return cursor.fetchone()
        except OperationalError as exc:
            if attempt == 2 or not isinstance(exc.__cause__, InvalidSqlStatementName):
                raise
            _prepared_in_session.get(connection.connection, set()).discard(statement.name)
    raise AssertionError("unreachable")


def _transaction():
    """Outside a transaction, the two statements sent together run as one implicit
    transaction (no BEGIN or COMMIT round trip); inside one, a savepoint keeps a duplicate's
    IntegrityError from breaking the caller's transaction."""
    return transaction.atomic() if connection.in_atomic_block else nullcontext()


def _feature_values_insert(package: Package) -> tuple[str, list[Any]]:
    """Each parameter of the package at its default, as feature_values_create_for_license
    does; read in the statement, so a parameter added a moment ago is included."""
    sql = f"""new_values AS (
        INSERT INTO {_VALUES} (license_id, parameter_id, data_type, value_boolean, value_integer,
                              value_date, updated_at, updated_by_id)
        SELECT new_license.id, p.id, p.data_type, p.default_boolean, p.default_integer,
               p.default_date, CAST(%s AS timestamp with time zone), NULL
        FROM new_license CROSS JOIN {_PARAMETERS} p
        WHERE p.package_id = CAST(%s AS bigint))"""
    return sql, [timezone.now(), package.pk]


def _insert(
    name: str,
    instance: models.Model,
    refs: dict[str, tuple[str, list[Any]]] | None = None,
    *,
    source: str,
) -> tuple[str, list[Any]]:
    """`name AS (INSERT ... SELECT ... FROM source RETURNING id)` for an unsaved instance,
    with the values the ORM would write (pre_save hooks such as auto_now included); `refs`
    maps attnames to SQL (and its parameters) that reads an earlier CTE."""
    refs = refs or {}
    sql = _insert_sql(name, type(instance), tuple((k, v[0]) for k, v in refs.items()), source)
    db = connections[DEFAULT_DB_ALIAS]  # once, rather than through the proxy per field
    params = []
    for field, _, plain_type in _insert_fields(type(instance)):
        ref = refs.get(field.attname)
        if ref is not None:
            params.extend(ref[1])
            continue
        if plain_type is not None:
            value = getattr(instance, field.attname)
            if value is None or (
                type(value) is plain_type
                # an aware datetime is written as it is; a naive one gets Django's warning
                and (plain_type is not datetime.datetime or value.tzinfo is not None)
            ):
                params.append(value)
                continue
        params.append(field.get_db_prep_save(field.pre_save(instance, True), db))
    return sql, params


@functools.lru_cache(maxsize=32)
def _insert_sql(
    name: str, model: type[models.Model], refs: tuple[tuple[str, str], ...], source: str
) -> str:
    """The text of `_insert`'s CTE, which depends only on the model and the statement's shape."""
    ref_sql = dict(refs)
    fields = _insert_fields(model)
    columns = ", ".join(_quote(field.column) for field, _, _ in fields)
    values = ", ".join(ref_sql.get(field.attname, cast) for field, cast, _ in fields)
    return (
        f"{name} AS (INSERT INTO {_quote(model._meta.db_table)} ({columns}) "
        f"SELECT {values} FROM {source} RETURNING {_quote(model._meta.pk.column)} AS id)"
    )


# Field classes (exactly these, not subclasses) that write a value of this type as it is:
# their pre_save reads the attribute and their conversions return such a value unchanged.
_PLAIN_FIELDS: dict[type[models.Field], type] = {
    models.CharField: str,
    models.TextField: str,
    models.EmailField: str,
    models.BooleanField: bool,
    models.IntegerField: int,
    models.SmallIntegerField: int,
    models.BigIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveSmallIntegerField: int,
}


@functools.cache
def _insert_fields(model: type[models.Model]) -> list[tuple[models.Field, str, type | None]]:
    """The columns an INSERT writes, each with its placeholder (in INSERT ... SELECT a bare
    literal would be typed text rather than the column's type, so each one is cast) and,
    where the field writes values of some type unchanged, that type: for those the field's
    conversion chain is skipped (some sixty fields per install: about 50 us)."""
    return [
        (field, f"CAST(%s AS {field.cast_db_type(connection)})", _plain_type(field))
        for field in model._meta.local_concrete_fields
        if not field.primary_key
    ]


def _plain_type(field: models.Field) -> type | None:
    if type(field) is models.DateTimeField:
        # auto_now fields take their value in pre_save; without USE_TZ Django converts
        plain = settings.USE_TZ and not (field.auto_now or field.auto_now_add)
        return datetime.datetime if plain else None
    if isinstance(field, models.ForeignKey):
        target = type(field.target_field)
        return int if target in (models.AutoField, models.BigAutoField) else None
    return _PLAIN_FIELDS.get(type(field))
