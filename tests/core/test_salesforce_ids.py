import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from core.salesforce_ids import normalize_salesforce_id, try_normalize

ID15 = "00D5g000004AbCd"
ID18 = "00D5g000004AbCdEAK"


def test_normalize__15_chars__gets_the_case_suffix():
    assert normalize_salesforce_id(ID15, prefix="00D") == ID18


def test_normalize__18_chars__is_unchanged():
    assert normalize_salesforce_id(ID18, prefix="00D") == ID18


def test_normalize__18_chars_in_wrong_case__case_is_restored_from_suffix():
    assert normalize_salesforce_id(ID18.lower(), prefix="00D") == ID18
    assert normalize_salesforce_id(ID18.upper(), prefix="00D") == ID18


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("00D5g000004AbC", "15 or 18"),
        ("00D5g000004AbCd1", "15 or 18"),
        ("00D5g000004Ab-d", "15 or 18"),
        ("0335g000004AbCd", "must start with '00D'"),
        ("00D5g000004AbCd999", "do not match"),
    ],
)
def test_normalize__bad_ids__name_the_field(value, needle):
    with pytest.raises(ValidationError) as excinfo:
        normalize_salesforce_id(value, prefix="00D", field="org_id")
    message = excinfo.value.messages[0]
    assert message.startswith("org_id:")
    assert needle in message


def test_try_normalize__non_strings__are_none():
    assert try_normalize(None, prefix="00D") is None
    assert try_normalize(12345, prefix="00D") is None


@given(
    st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        min_size=12,
        max_size=12,
    )
)
def test_normalize__15_and_18_forms_always_agree(body):
    id15 = "00D" + body
    id18 = normalize_salesforce_id(id15, prefix="00D")
    assert id18[:15] == id15
    assert normalize_salesforce_id(id18, prefix="00D") == id18
    assert normalize_salesforce_id(id18.swapcase(), prefix="00D") == id18


def test_normalize__same_bad_id_twice__each_error_names_its_own_field():
    # The checks are remembered per value; the message must still name the caller's field.
    for field in ("org_id", "parent_org_id"):
        with pytest.raises(ValidationError) as excinfo:
            normalize_salesforce_id("0335g000004AbCd", prefix="00D", field=field)
        assert excinfo.value.messages[0].startswith(f"{field}:")


def test_normalize__same_id_under_another_prefix__refused():
    assert normalize_salesforce_id(ID15, prefix="00D") == ID18
    with pytest.raises(ValidationError, match="must start with '033'"):
        normalize_salesforce_id(ID15, prefix="033")
