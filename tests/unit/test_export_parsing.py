"""Parsers behind `export` and `data extract`: --tables, setting ownership, container URLs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon.azure import diagnostic_settings as ds
from amlmon.azure.blobs import split_container_url
from amlmon.errors import UsageError


def test_tables_default_all_and_any_case() -> None:
    assert ds.parse_categories(None) == ["AppTraces", "AppRequests", "AppDependencies", "AppExceptions"]
    assert ds.parse_categories("apptraces, APPREQUESTS,AppTraces") == ["AppTraces", "AppRequests"]
    assert ds.parse_categories("AppTraces,all") == list(ds.COMPONENT_CATEGORIES)
    with pytest.raises(UsageError, match="AppTrace'"):
        ds.parse_categories("AppTrace")
    with pytest.raises(UsageError):
        ds.parse_categories(" , ")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_tables_parser_returns_known_categories_or_a_usage_error(text: str) -> None:
    try:
        chosen = ds.parse_categories(text)
    except UsageError:
        return
    assert chosen and set(chosen) <= set(ds.COMPONENT_CATEGORIES) and len(chosen) == len(set(chosen))


def test_ownership_is_by_name() -> None:
    assert ds.is_amlmon_setting("amlmon-export") and ds.is_amlmon_setting("AMLMON-2")
    assert not ds.is_amlmon_setting("ops-audit") and not ds.is_amlmon_setting("export-amlmon")


def test_regions_compare_like_azure() -> None:
    assert ds.same_region("East US", "eastus") and ds.same_region(None, "westus")
    assert not ds.same_region("westeurope", "eastus")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://acct.blob.core.windows.net/insights-logs-apptraces/resourceId=/SUB",
            ("https://acct.blob.core.windows.net", "insights-logs-apptraces", "resourceId=/SUB"),
        ),
        ("https://acct.blob.core.windows.net", ("https://acct.blob.core.windows.net", None, "")),
        (
            "https://acct.blob.core.windows.net/am-apptraces?sv=2024&sig=abc",
            ("https://acct.blob.core.windows.net?sv=2024&sig=abc", "am-apptraces", ""),
        ),
        (
            "http://127.0.0.1:10000/devstoreaccount1/insights-logs-apptraces",
            ("http://127.0.0.1:10000/devstoreaccount1", "insights-logs-apptraces", ""),
        ),
        ("http://127.0.0.1:10000/devstoreaccount1", ("http://127.0.0.1:10000/devstoreaccount1", None, "")),
    ],
)
def test_container_urls_both_host_styles(url: str, expected: tuple[str, str | None, str]) -> None:
    assert split_container_url(url) == expected


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(r"[a-z0-9]{3,24}", fullmatch=True),
    st.from_regex(r"[a-z0-9](-?[a-z0-9]){2,20}", fullmatch=True),
    st.lists(st.from_regex(r"[A-Za-z0-9=._-]{1,12}", fullmatch=True), max_size=4),
)
def test_container_url_round_trip(account: str, container: str, prefix: list[str]) -> None:
    url = f"https://{account}.blob.core.windows.net/{container}" + "".join("/" + p for p in prefix)
    base, got_container, got_prefix = split_container_url(url)
    assert base == f"https://{account}.blob.core.windows.net"
    assert got_container == container and got_prefix == "/".join(prefix)
