"""Output formats for scripts, and secrets scrubbed from anything amlmon prints."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from amlmon.errors import UsageError
from amlmon.redact import redact
from amlmon.render import emit

ROWS = [
    {
        "target": "churn-aci",
        "kind": "ACI",
        "diagnostics": True,
        "updated": dt.datetime(2026, 11, 25, tzinfo=dt.UTC),
    },
    {"target": "credit-ep/blue", "kind": "Managed", "diagnostics": False, "updated": None},
]


def render(data: object, fmt: str | None, query: str | None = None) -> str:
    stream = io.StringIO()
    emit(data, output=fmt, query=query, stream=stream, no_color=True)
    return stream.getvalue()


def test_json_is_the_default_when_piped() -> None:
    parsed = json.loads(render(ROWS, None))
    assert parsed[0]["updated"] == "2026-11-25T00:00:00Z"
    assert parsed[1]["diagnostics"] is False


def test_jsonl_one_object_per_line() -> None:
    lines = render(ROWS, "jsonl").splitlines()
    assert [json.loads(line)["target"] for line in lines] == ["churn-aci", "credit-ep/blue"]


def test_tsv_has_no_header_and_tabs_between_values() -> None:
    lines = render(ROWS, "tsv").splitlines()
    # Like `az -o tsv`: values only, booleans as True/False, nulls empty.
    assert lines == ["churn-aci\tACI\tTrue\t2026-11-25T00:00:00Z", "credit-ep/blue\tManaged\tFalse\t"]


def test_yaml_and_none() -> None:
    assert yaml.safe_load(render(ROWS, "yaml"))[1]["kind"] == "Managed"
    assert render(ROWS, "none") == ""


def test_jmespath_query_applies_to_the_json_result() -> None:
    assert json.loads(render(ROWS, "json", "[?diagnostics].target")) == ["churn-aci"]
    assert render(ROWS, "tsv", "[].kind").splitlines() == ["ACI", "Managed"]


def test_table_without_colour_escape_codes() -> None:
    text = render(ROWS, "table")
    assert "churn-aci" in text and "\x1b[" not in text


def test_bad_query_and_format_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        render(ROWS, "json", "[?")
    with pytest.raises(UsageError):
        render(ROWS, "xml")


SECRETS = [
    ("Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi.abc.def", "eyJ0eXAi"),
    ('{"access_token": "tok-123456789", "expires_in": 3599}', "tok-123456789"),
    ("https://acct.blob.core.windows.net/c?sv=2021&sig=AbC%2Bdef%3D&se=2026", "AbC%2Bdef"),
    (
        "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0a2V5==;EndpointSuffix=x",
        "c2VjcmV0a2V5",
    ),
    ("InstrumentationKey=0f8fad5b-d9cb-469f-a165-70867728950e;IngestionEndpoint=https://x/", "0f8fad5b"),
    ('{"ConnectionString": "InstrumentationKey=abc;IngestionEndpoint=https://x/"}', "abc;"),
    ('{"primaryKey": "k3y-value"}', "k3y-value"),
    ("client_secret=s3cr3t&grant_type=client_credentials", "s3cr3t"),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_redact_removes_secrets(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned and "***" in cleaned


@given(
    token=st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/",
        min_size=8,
        max_size=60,
    )
)
def test_any_bearer_token_is_redacted(token: str) -> None:
    assert token not in redact(f"Authorization: Bearer {token}\n")


CONTROLS = {*map(chr, range(0x20)), "\x7f", *map(chr, range(0x80, 0xA0))}


def _unescape_tsv(field: str) -> str:
    import re

    named = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r"}
    return re.sub(r"\\x[0-9a-f]{2}|\\[\\tnr]", lambda m: named.get(m[0]) or chr(int(m[0][2:], 16)), field)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_visible_text_and_tsv_fields_carry_no_control_character_and_lose_nothing(text: str) -> None:
    """The one rule of amlmon/render/text.py: no control character reaches the terminal, except those a
    format lays out itself; TSV's escapes decode back to the exact text."""
    from amlmon.render.text import tsv_field, visible

    assert not CONTROLS & set(visible(text))
    assert not (CONTROLS - {"\n", "\t"}) & set(visible(text, "\n\t"))
    plain = "".join(ch for ch in text if ch not in CONTROLS)
    assert visible(plain) == plain  # text without control characters is shown as it is
    field = tsv_field(text)
    assert not CONTROLS & set(field) and _unescape_tsv(field) == text


@given(
    natural=st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=10),
    available=st.integers(min_value=0, max_value=300),
    first_kept=st.booleans(),
)
def test_kept_columns_are_never_cut_while_the_others_can_give_way(
    natural: list[int], available: int, first_kept: bool
) -> None:
    """A kept (name) column keeps its whole width whenever the other columns at their minimum leave room
    for it; otherwise it gets at least the minimum and folds. The others never exceed their natural width."""
    from amlmon.render.table import _MIN_WIDTH, fit_keeping

    keep = {0} if first_kept else set()
    widths = fit_keeping(natural, available, keep)
    assert all(1 <= w <= n for w, n in zip(widths, natural, strict=True))
    others_min = sum(min(n, _MIN_WIDTH) for i, n in enumerate(natural) if i not in keep)
    if keep and others_min + natural[0] <= available:
        assert widths[0] == natural[0]
    if keep:
        assert widths[0] >= min(natural[0], _MIN_WIDTH)
    if sum(natural) <= available:
        assert widths == natural
