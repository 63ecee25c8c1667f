"""parse_event: what a valid body becomes, and which field each kind of bad body is blamed on.

No database: parsing is pure. The messages are pinned word for word, since clients see them.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.utils import timezone

from licenses.services import OrgDetails
from subscribers.events import EventInvalid, IncomingEvent, parse_event

PACKAGE_15, PACKAGE_18 = "033000000000001", "033000000000001AAA"
VERSION_15, VERSION_18 = "04t000000000001", "04t000000000001AAA"
ORG_15, ORG_18 = "00D5g000004AbCd", "00D5g000004AbCdEAK"
PARENT_15, PARENT_18 = "00D5g000004XyZw", "00D5g000004XyZwEAK"

DATETIME_FORMAT_ERROR = (
    "Datetime has wrong format. Use one of these formats instead: "
    "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
)
AT = dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.UTC)
AT_ISO = "2024-03-01T12:30:00Z"


def install(**data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "package.installed",
        "timestamp": AT_ISO,
        "data": {
            "package_id": PACKAGE_15,
            "version_id": VERSION_15,
            "version_number": "1.4.0",
            "org": {
                "id": ORG_15,
                "name": "Acme Corp",
                "edition": "Enterprise Edition",
                "instance": "NA135",
                "type": "production",
                "is_sandbox": False,
                "parent_org_id": None,
            },
            "installer": {
                "first_name": "Ada",
                "last_name": "Byron",
                "email": "ada@acme.example",
                "phone": "+1 555 0100",
                "company": "Acme Corp",
            },
        },
    }
    body["data"].update(data)
    return body


def minimal(event_type: str, **data: Any) -> dict[str, Any]:
    return {
        "type": event_type,
        "timestamp": AT_ISO,
        "data": {"package_id": PACKAGE_15, "org": {"id": ORG_15}, **data},
    }


def errors_of(body: Any) -> dict[str, list[str]]:
    with pytest.raises(EventInvalid) as caught:
        parse_event("evt_1", body)
    return caught.value.fields


# --- Valid bodies ---------------------------------------------------------------------------


def test_install__full_body__every_value_normalized():
    # Given a complete install with 15-character ids
    body = install()

    # When it is parsed
    event = parse_event("evt_1", body)

    # Then ids are in their 18-character form and everything else is carried over
    assert event == IncomingEvent(
        event_id="evt_1",
        type="package.installed",
        occurred_at=AT,
        package_id=PACKAGE_18,
        org=OrgDetails(
            org_id=ORG_18,
            name="Acme Corp",
            edition="Enterprise Edition",
            instance="NA135",
            is_sandbox=False,
            parent_org_id=None,
        ),
        payload=body,
        version_id=VERSION_18,
        version_number="1.4.0",
        installer={
            "first_name": "Ada",
            "last_name": "Byron",
            "email": "ada@acme.example",
            "phone": "+1 555 0100",
            "company": "Acme Corp",
        },
        used_licenses=None,
        parameters={},
    )
    assert event.payload is body
    assert type(event.type) is str
    assert isinstance(event.installer, dict)


def test_install__18_character_ids__same_event_as_15_character_ids():
    body = install(package_id=PACKAGE_18, version_id=VERSION_18)
    body["data"]["org"].update(id=ORG_18)

    event = parse_event("evt_1", body)

    assert (event.package_id, event.version_id, event.org.org_id) == (
        PACKAGE_18,
        VERSION_18,
        ORG_18,
    )


def test_install__ids_with_surrounding_spaces__stripped_and_normalized():
    body = install(package_id=f"  {PACKAGE_15} ")
    body["data"]["org"]["id"] = f"{ORG_18}\n"

    event = parse_event("evt_1", body)

    assert (event.package_id, event.org.org_id) == (PACKAGE_18, ORG_18)


def test_upgrade__same_data_as_install__parsed_alike():
    body = install(version_number="2.0.11")
    body["type"] = "package.upgraded"

    event = parse_event("evt_1", body)

    assert (event.type, event.version_id, event.version_number) == (
        "package.upgraded",
        VERSION_18,
        "2.0.11",
    )


def test_install__sandbox_with_parent__parent_id_normalized():
    body = install()
    body["data"]["org"].update(type="sandbox", is_sandbox=True, parent_org_id=PARENT_15)

    event = parse_event("evt_1", body)

    assert event.org.is_sandbox is True
    assert event.org.parent_org_id == PARENT_18


def test_install__only_required_fields__defaults_filled_in():
    # Given an install without installer and with the org reduced to its id
    body = minimal(
        "package.installed", version_id=VERSION_15, version_number="0.0.1", org={"id": ORG_15}
    )

    event = parse_event("evt_1", body)

    assert event.org == OrgDetails(org_id=ORG_18)
    assert event.installer is None
    assert event.version_number == "0.0.1"
    assert event.parameters == {}
    assert event.used_licenses is None


def test_install__installer_null__no_installer():
    assert parse_event("evt_1", install(installer=None)).installer is None


def test_install__installer_empty_object__installer_of_blanks():
    event = parse_event("evt_1", install(installer={}))

    assert event.installer == {
        "first_name": "",
        "last_name": "",
        "email": "",
        "phone": "",
        "company": "",
    }


def test_install__text_with_surrounding_spaces__trimmed():
    body = install()
    body["data"]["org"].update(name="  Acme  ", edition="   ", instance="")
    body["data"]["installer"].update(email="  ada@acme.example ", first_name=" Ada")
    body["data"]["version_number"] = " 1.4.0 "

    event = parse_event("evt_1", body)

    assert (event.org.name, event.org.edition, event.org.instance) == ("Acme", "", "")
    assert event.installer is not None
    assert (event.installer["email"], event.installer["first_name"]) == ("ada@acme.example", "Ada")
    assert event.version_number == "1.4.0"


def test_install__text_at_max_length__accepted():
    body = install(version_number="123456.123456.123456")
    body["data"]["org"]["name"] = "x" * 255
    body["data"]["installer"]["email"] = "a" * 64 + "@" + "b" * 63 + ".example"

    event = parse_event("evt_1", body)

    assert event.org.name == "x" * 255


def test_install__unknown_keys_anywhere__ignored():
    body = install(extra=1)
    body["extra"] = {"x": 1}
    body["data"]["org"]["extra"] = [1]
    body["data"]["installer"]["extra"] = None

    event = parse_event("evt_1", body)

    assert event.installer is not None and "extra" not in event.installer
    assert event.parameters == {}


def test_install__parameters_or_used_licenses_sent__not_taken():
    # Those belong to usage events only
    event = parse_event("evt_1", install(parameters={"Jobs_Run": 3}, used_licenses=4))

    assert (event.parameters, event.used_licenses) == ({}, None)


def test_uninstall__package_and_org_only__nothing_else_taken():
    body = minimal("package.uninstalled", version_id="junk", installer="junk")

    event = parse_event("evt_1", body)

    assert event == IncomingEvent(
        event_id="evt_1",
        type="package.uninstalled",
        occurred_at=AT,
        package_id=PACKAGE_18,
        org=OrgDetails(org_id=ORG_18),
        payload=body,
    )


def test_usage__licenses_and_parameters__carried_over():
    parameters = {"Jobs_Run": 3, "Last_Sync": "2024-03-01", "Nested": {"a": [1, None]}}
    body = minimal("usage.reported", used_licenses=7, parameters=parameters)

    event = parse_event("evt_1", body)

    assert event.type == "usage.reported"
    assert event.used_licenses == 7
    assert event.parameters == parameters
    assert event.parameters is not parameters
    assert (event.version_id, event.version_number, event.installer) == (None, None, None)


@pytest.mark.parametrize("used", [0, 2**31 - 1, None])
def test_usage__used_licenses_bounds_and_null__accepted(used):
    event = parse_event("evt_1", minimal("usage.reported", used_licenses=used))

    assert event.used_licenses == used


def test_usage__nothing_but_package_and_org__no_licenses_no_parameters():
    event = parse_event("evt_1", minimal("usage.reported"))

    assert (event.used_licenses, event.parameters) == (None, {})


# --- Timestamps -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2024-03-01T12:30:00Z", AT),
        ("2024-03-01T12:30:00+00:00", AT),
        ("2024-03-01T14:30:00+02:00", AT),
        ("2024-03-01T07:30:00-05:00", AT),
        ("2024-03-01T12:30:00.250000Z", AT.replace(microsecond=250000)),
        # Without an offset the time is read in the current time zone (UTC), as DRF does.
        ("2024-03-01T12:30:00", AT),
        ("2024-03-01 12:30", AT),
        ("2024-03-01", AT.replace(hour=0, minute=0)),
    ],
)
def test_timestamp__accepted_forms__aware_and_in_utc(timestamp, expected):
    body = install()
    body["timestamp"] = timestamp

    occurred_at = parse_event("evt_1", body).occurred_at

    assert occurred_at == expected
    assert occurred_at.utcoffset() == dt.timedelta(0)


def test_timestamp__within_the_allowed_clock_skew__accepted():
    body = install()
    body["timestamp"] = (timezone.now() + dt.timedelta(minutes=59)).isoformat()

    assert parse_event("evt_1", body).occurred_at > timezone.now()


def test_timestamp__more_than_an_hour_ahead__lies_in_the_future():
    body = install()
    body["timestamp"] = (timezone.now() + dt.timedelta(minutes=61)).isoformat()

    assert errors_of(body) == {"timestamp": ["Lies in the future."]}


@pytest.mark.parametrize(
    ("timestamp", "message"),
    [
        ("yesterday", DATETIME_FORMAT_ERROR),
        ("2024-02-30T00:00:00Z", DATETIME_FORMAT_ERROR),
        ("", DATETIME_FORMAT_ERROR),
        (1709296200, DATETIME_FORMAT_ERROR),
        ([AT_ISO], DATETIME_FORMAT_ERROR),
        (None, "This field may not be null."),
        ("9999-12-31T23:59:59-05:00", "Datetime value out of range."),
    ],
)
def test_timestamp__invalid__error_on_timestamp(timestamp, message):
    body = install()
    body["timestamp"] = timestamp

    errors = errors_of(body)

    assert list(errors) == ["timestamp"]
    assert errors["timestamp"]


# --- Invalid bodies: one bad field each -----------------------------------------------------

Mutation = Callable[[dict[str, Any]], object]


def _set(path: str, value: Any) -> Mutation:
    """A mutation that sets the dotted `path` of a body to `value`."""
    *parents, key = path.split(".")

    def mutate(body: dict[str, Any]) -> None:
        for part in parents:
            body = body[part]
        body[key] = value

    return mutate


def _drop(path: str) -> Mutation:
    *parents, key = path.split(".")

    def mutate(body: dict[str, Any]) -> None:
        for part in parents:
            body = body[part]
        del body[key]

    return mutate


REQUIRED = "This field is required."
NULL = "This field may not be null."
BLANK = "This field may not be blank."

INSTALL_CASES: list[tuple[Mutation, str, list[str]]] = [
    # Envelope
    (_drop("type"), "type", [REQUIRED]),
    (_set("type", None), "type", [NULL]),
    (_set("type", "package.exploded"), "type", ['"package.exploded" is not a valid choice.']),
    (_set("type", ""), "type", ['"" is not a valid choice.']),
    (_set("type", True), "type", ['"True" is not a valid choice.']),
    (
        _set("type", ["package.installed"]),
        "type",
        ["\"['package.installed']\" is not a valid choice."],
    ),
    (_drop("timestamp"), "timestamp", [REQUIRED]),
    (_drop("data"), "data", [REQUIRED]),
    (_set("data", None), "data", [NULL]),
    (_set("data", []), "data", ['Expected a dictionary of items but got type "list".']),
    (_set("data", "x"), "data", ['Expected a dictionary of items but got type "str".']),
    # Ids
    (_drop("data.package_id"), "data.package_id", [REQUIRED]),
    (_set("data.package_id", None), "data.package_id", [NULL]),
    (_set("data.package_id", 33), "data.package_id", ["package_id: must be a string."]),
    (
        _set("data.package_id", ORG_15),
        "data.package_id",
        [f"package_id: must start with '033'; got '{ORG_15}'."],
    ),
    (
        _set("data.package_id", "0330000000"),
        "data.package_id",
        ["package_id: a Salesforce id has 15 or 18 letters and digits; got '0330000000'."],
    ),
    (
        _set("data.package_id", "033000000000001AAB"),
        "data.package_id",
        [
            "package_id: '033000000000001AAB' is not a valid 18-character Salesforce id "
            "(its last three characters do not match the first fifteen)."
        ],
    ),
    (_drop("data.version_id"), "data.version_id", [REQUIRED]),
    (
        _set("data.version_id", PACKAGE_15),
        "data.version_id",
        [f"version_id: must start with '04t'; got '{PACKAGE_15}'."],
    ),
    (_drop("data.org.id"), "data.org.id", [REQUIRED]),
    (_set("data.org.id", 12), "data.org.id", ["id: must be a string."]),
    (
        _set("data.org.id", ""),
        "data.org.id",
        ["id: a Salesforce id has 15 or 18 letters and digits; got ''."],
    ),
    (
        _set("data.org.id", "00D5g000004AbC-"),
        "data.org.id",
        ["id: a Salesforce id has 15 or 18 letters and digits; got '00D5g000004AbC-'."],
    ),
    (
        _set("data.org.parent_org_id", PACKAGE_15),
        "data.org.parent_org_id",
        [f"parent_org_id: must start with '00D'; got '{PACKAGE_15}'."],
    ),
    (
        _set("data.org.parent_org_id", ""),
        "data.org.parent_org_id",
        ["parent_org_id: a Salesforce id has 15 or 18 letters and digits; got ''."],
    ),
    # Version number
    (_drop("data.version_number"), "data.version_number", [REQUIRED]),
    (_set("data.version_number", None), "data.version_number", [NULL]),
    (_set("data.version_number", ""), "data.version_number", [BLANK]),
    (_set("data.version_number", "   "), "data.version_number", [BLANK]),
    (_set("data.version_number", 1.4), "data.version_number", ["Expected a string."]),
    (
        _set("data.version_number", "1.4"),
        "data.version_number",
        ["version_number: expected major.minor.patch (e.g. 1.4.0); got '1.4'."],
    ),
    (
        _set("data.version_number", "01.4.0"),
        "data.version_number",
        ["version_number: expected major.minor.patch (e.g. 1.4.0); got '01.4.0'."],
    ),
    (
        _set("data.version_number", "1.2.3" + "0" * 19),
        "data.version_number",
        ["Ensure this field has no more than 23 characters."],
    ),
    (
        _set("data.version_number", "1.2.3\x00"),
        "data.version_number",
        ["Null characters are not allowed."],
    ),
    (
        _set("data.version_number", "1.2.3\ud800"),
        "data.version_number",
        ["Surrogate characters are not allowed: U+D800."],
    ),
    # Org
    (_drop("data.org"), "data.org", [REQUIRED]),
    (_set("data.org", None), "data.org", [NULL]),
    (_set("data.org", ORG_15), "data.org", ["Invalid data. Expected a dictionary, but got str."]),
    (
        _set("data.org", [ORG_15]),
        "data.org",
        ["Invalid data. Expected a dictionary, but got list."],
    ),
    (_set("data.org.name", 12), "data.org.name", ["Expected a string."]),
    (_set("data.org.name", True), "data.org.name", ["Expected a string."]),
    (_set("data.org.name", {}), "data.org.name", ["Expected a string."]),
    (_set("data.org.name", None), "data.org.name", [NULL]),
    (
        _set("data.org.name", "x" * 256),
        "data.org.name",
        ["Ensure this field has no more than 255 characters."],
    ),
    (
        _set("data.org.name", "\x00" * 300),
        "data.org.name",
        ["Ensure this field has no more than 255 characters.", "Null characters are not allowed."],
    ),
    (
        _set("data.org.edition", "x" * 101),
        "data.org.edition",
        ["Ensure this field has no more than 100 characters."],
    ),
    (
        _set("data.org.instance", "x" * 41),
        "data.org.instance",
        ["Ensure this field has no more than 40 characters."],
    ),
    (_set("data.org.type", "scratch"), "data.org.type", ['"scratch" is not a valid choice.']),
    (_set("data.org.type", ""), "data.org.type", ['"" is not a valid choice.']),
    (_set("data.org.type", None), "data.org.type", [NULL]),
    (_set("data.org.is_sandbox", "yes"), "data.org.is_sandbox", ["Expected true or false."]),
    (_set("data.org.is_sandbox", "false"), "data.org.is_sandbox", ["Expected true or false."]),
    (_set("data.org.is_sandbox", 0), "data.org.is_sandbox", ["Expected true or false."]),
    (_set("data.org.is_sandbox", None), "data.org.is_sandbox", [NULL]),
    (
        _set("data.org.is_sandbox", True),
        "data.org.is_sandbox",
        ["Does not agree with type 'production'."],
    ),
    # Installer
    (
        _set("data.installer", []),
        "data.installer",
        ["Invalid data. Expected a dictionary, but got list."],
    ),
    (
        _set("data.installer", "ada@acme.example"),
        "data.installer",
        ["Invalid data. Expected a dictionary, but got str."],
    ),
    (_set("data.installer.first_name", 1), "data.installer.first_name", ["Expected a string."]),
    (
        _set("data.installer.last_name", "x" * 101),
        "data.installer.last_name",
        ["Ensure this field has no more than 100 characters."],
    ),
    (
        _set("data.installer.phone", "1" * 41),
        "data.installer.phone",
        ["Ensure this field has no more than 40 characters."],
    ),
    (
        _set("data.installer.company", "x" * 256),
        "data.installer.company",
        ["Ensure this field has no more than 255 characters."],
    ),
    (_set("data.installer.company", None), "data.installer.company", [NULL]),
    (
        _set("data.installer.email", "not-an-email"),
        "data.installer.email",
        ["Enter a valid email address."],
    ),
    (_set("data.installer.email", True), "data.installer.email", ["Enter a valid email address."]),
    (_set("data.installer.email", 12), "data.installer.email", ["Enter a valid email address."]),
    (
        _set("data.installer.email", ["a@b.co"]),
        "data.installer.email",
        ["Enter a valid email address."],
    ),
    (_set("data.installer.email", None), "data.installer.email", [NULL]),
    (
        _set("data.installer.email", "a" * 250 + "@x.com"),
        "data.installer.email",
        ["Ensure this field has no more than 254 characters."],
    ),
    (
        _set("data.installer.email", "a" * 320 + "@x.com"),
        "data.installer.email",
        ["Ensure this field has no more than 254 characters.", "Enter a valid email address."],
    ),
]


@pytest.mark.parametrize(("mutate", "path", "messages"), INSTALL_CASES)
def test_install__one_bad_field__only_that_path_with_its_messages(mutate, path, messages):
    # Given an otherwise valid install with one bad field
    body = install()
    mutate(body)

    # When it is parsed, then exactly that field is blamed, with a reason
    errors = errors_of(body)
    assert list(errors) == [path]
    assert errors[path]
    # The id and version rules are ours, and so are their messages
    if messages[0].split(":")[0] in ("package_id", "version_id", "id", "version_number"):
        assert errors[path] == messages


USAGE_CASES: list[tuple[Any, str, list[str]]] = [
    ("12", "data.used_licenses", ["Expected an integer."]),
    (12.0, "data.used_licenses", ["Expected an integer."]),
    (True, "data.used_licenses", ["Expected an integer."]),
    ([1], "data.used_licenses", ["Expected an integer."]),
    (-1, "data.used_licenses", ["Ensure this value is greater than or equal to 0."]),
    (2**31, "data.used_licenses", ["Ensure this value is less than or equal to 2147483647."]),
]


@pytest.mark.parametrize(("used", "path", "messages"), USAGE_CASES)
def test_usage__bad_used_licenses__error_on_used_licenses(used, path, messages):
    assert list(errors_of(minimal("usage.reported", used_licenses=used))) == [path]


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        (None, NULL),
        ([["Jobs_Run", 3]], 'Expected a dictionary of items but got type "list".'),
        ("Jobs_Run=3", 'Expected a dictionary of items but got type "str".'),
    ],
)
def test_usage__parameters_not_an_object__error_on_parameters(parameters, message):
    body = minimal("usage.reported", parameters=parameters)

    assert list(errors_of(body)) == ["data.parameters"]


@pytest.mark.parametrize("event_type", ["package.uninstalled", "usage.reported"])
def test_uninstall_and_usage__org_missing__error_on_org(event_type):
    body = minimal(event_type)
    del body["data"]["org"]

    assert list(errors_of(body)) == ["data.org"]


# --- Bodies with several problems -----------------------------------------------------------


@pytest.mark.parametrize("body", [[], "event", 1, None, True])
def test_body_not_an_object__non_field_error(body):
    with pytest.raises(EventInvalid) as caught:
        parse_event("evt_1", body)

    assert caught.value.fields == {"non_field_errors": ["The body must be a JSON object."]}
    assert str(caught.value) == "Invalid event: non_field_errors."


def test_envelope_errors__unknown_type__only_type_named():
    # Given a bad type, timestamp and data together
    body = {"type": "x", "timestamp": "y", "data": 1}

    # Then the type is named: it decides which model checks the rest
    errors = errors_of(body)
    assert list(errors) == ["type"]
    assert "package.installed" in errors["type"][0]


def test_envelope_errors__valid_type__timestamp_and_data_both_named():
    body = {"type": "package.installed", "timestamp": "y", "data": 1}

    assert set(errors_of(body)) == {"timestamp", "data"}


def test_envelope_invalid__broken_data_not_reported():
    body = install(package_id=None, org="x")
    body["type"] = "nope"

    assert list(errors_of(body)) == ["type"]


def test_data_errors__every_bad_field_reported_in_schema_order():
    # Given several bad fields, nested ones among them
    body = install(version_number="1", installer={"email": "nope", "phone": 5})
    del body["data"]["package_id"]
    body["data"]["org"].update(id="x", is_sandbox="y")

    with pytest.raises(EventInvalid) as caught:
        parse_event("evt_1", body)

    # Then each is named once, in the order the models declare them
    fields = caught.value.fields
    assert list(fields) == [
        "data.package_id",
        "data.org.id",
        "data.org.is_sandbox",
        "data.version_number",
        "data.installer.email",
        "data.installer.phone",
    ]
    assert fields["data.org.id"] == [
        "id: a Salesforce id has 15 or 18 letters and digits; got 'x'."
    ]
    assert fields["data.version_number"] == [
        "version_number: expected major.minor.patch (e.g. 1.4.0); got '1'."
    ]
    assert fields["data.installer.email"] == ["Enter a valid email address."]
    assert str(caught.value) == (
        "Invalid event: data.installer.email, data.installer.phone, data.org.id, "
        "data.org.is_sandbox, data.package_id, data.version_number."
    )


@pytest.mark.parametrize(
    ("org_type", "sandbox_flag", "message"),
    [
        ("sandbox", {"is_sandbox": False}, "Does not agree with type 'sandbox'."),
        # Left out, is_sandbox defaults to false, which a sandbox disagrees with too
        ("sandbox", {}, "Does not agree with type 'sandbox'."),
        ("production", {"is_sandbox": True}, "Does not agree with type 'production'."),
    ],
)
def test_org__sandbox_flag_disagrees_with_type__error_on_is_sandbox(
    org_type, sandbox_flag, message
):
    body = install()
    del body["data"]["org"]["is_sandbox"]
    body["data"]["org"].update(type=org_type, **sandbox_flag)

    assert errors_of(body) == {"data.org.is_sandbox": [message]}


def test_org__no_type__is_sandbox_alone_decides():
    body = install()
    del body["data"]["org"]["type"]
    body["data"]["org"]["is_sandbox"] = True

    assert parse_event("evt_1", body).org.is_sandbox is True


def test_org__field_error_and_type_disagreement__both_named():
    body = install()
    body["data"]["org"].update(type="sandbox", is_sandbox=False, name=1)

    assert list(errors_of(body)) == ["data.org.name", "data.org.is_sandbox"]


def test_org_and_other_errors__both_reported():
    body = install(version_id=None)
    body["data"]["org"].update(type="sandbox", is_sandbox=False)

    errors = errors_of(body)
    assert list(errors) == ["data.org.is_sandbox", "data.version_id"]
    assert errors["data.org.is_sandbox"] == ["Does not agree with type 'sandbox'."]


# --- Threads --------------------------------------------------------------------------------


def test_parse_event__many_threads_at_once__each_gets_its_own_answer():
    # Given valid and invalid bodies of each kind
    bodies: list[tuple[dict[str, Any], str | None]] = []
    for n in range(40):
        body = install(version_number=f"1.{n}.0")
        body["data"]["org"]["name"] = f"Org {n}"
        bodies.append((body, None))
        bad = copy.deepcopy(body)
        bad["data"]["org"]["is_sandbox"] = n
        bodies.append((bad, "data.org.is_sandbox"))
        bodies.append((minimal("usage.reported", used_licenses=n), None))

    def parse(item: tuple[dict[str, Any], str | None]) -> bool:
        body, bad_path = item
        try:
            event = parse_event("evt", body)
        except EventInvalid as exc:
            return list(exc.fields) == [bad_path]
        if body["type"] == "usage.reported":
            return bad_path is None and event.used_licenses == body["data"]["used_licenses"]
        return (
            bad_path is None
            and event.org.name == body["data"]["org"]["name"]
            and event.version_number == body["data"]["version_number"]
        )

    # When they are parsed from many threads at once, repeatedly
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(parse, bodies * 20))

    # Then every thread saw its own body's result
    assert all(results)
