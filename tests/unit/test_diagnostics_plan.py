"""Pure parts of `diagnostics`: rows, target resolution, the plan, the write body, summary and exit code."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlmon import diagnostics as diag
from amlmon.azure.deployments_v2 import with_app_insights
from amlmon.errors import NotFound, Throttled, UsageError
from amlmon.targets import parse_targets, suggest

SERVICE = {
    "name": "churn-aci",
    "computeType": "ACI",
    "state": "Healthy",
    "appInsightsEnabled": False,
    "dataCollection": {"storageEnabled": False, "eventHubEnabled": False},
    "scoringUri": "https://x/api/v1/service/churn-aci/score",
    "updatedTime": "2026-11-20T10:00:00Z",
}
ENDPOINT = {"name": "credit-ep", "properties": {"scoringUri": "https://credit-ep/score"}}


def _deployment(name: str, compute: str = "Managed", enabled: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "properties": {
            "endpointComputeType": compute,
            "appInsightsEnabled": enabled,
            "provisioningState": "Succeeded",
        },
        "systemData": {"lastModifiedAt": "2026-11-21T09:00:00Z"},
    }


INVENTORY = [
    diag.service_item(SERVICE),
    diag.service_item({**SERVICE, "name": "fraud-aks", "computeType": "AKSENDPOINT"}),
    diag.deployment_item(ENDPOINT, _deployment("blue")),
    diag.deployment_item(ENDPOINT, _deployment("green", "Kubernetes", True)),
]


def test_rows_have_the_stable_fields() -> None:
    assert INVENTORY[0].row() == {
        "target": "churn-aci",
        "kind": "ACI",
        "state": "Healthy",
        "diagnostics": False,
        "modelData": False,
        "scoringUri": "https://x/api/v1/service/churn-aci/score",
        "updated": "2026-11-20T10:00:00Z",
        "dataCollector": None,
        "endpointLogs": None,
    }
    assert INVENTORY[1].kind == "AKS"
    blue = INVENTORY[2].row()
    assert blue["target"] == "credit-ep/blue" and blue["kind"] == "Managed" and blue["modelData"] is False
    assert blue["scoringUri"] == "https://credit-ep/score" and blue["updated"] == "2026-11-21T09:00:00Z"


def test_an_endpoint_means_all_its_deployments_and_kind_glob_narrow() -> None:
    got = diag.resolve(parse_targets(["credit-ep"]), INVENTORY, kinds=set(), name_glob=None)
    assert [i.target for i in got.items] == ["credit-ep/blue", "credit-ep/green"]
    got = diag.resolve(parse_targets(["credit-ep"]), INVENTORY, kinds={"Kubernetes"}, name_glob=None)
    assert [i.target for i in got.items] == ["credit-ep/green"]
    got = diag.resolve([], INVENTORY, kinds=set(), name_glob="*-A*")
    assert [i.target for i in got.items] == ["churn-aci", "fraud-aks"]
    got = diag.resolve([], INVENTORY, kinds={"ACI", "Managed"}, name_glob=None)
    assert [i.target for i in got.items] == ["churn-aci", "credit-ep/blue"]


def test_unknown_targets_get_suggestions() -> None:
    got = diag.resolve(
        parse_targets(["churn-ac", "credit-ep/blu", "churn-aci"]), INVENTORY, kinds=set(), name_glob=None
    )
    assert [i.target for i in got.items] == ["churn-aci"]
    assert got.unknown[0] == ("churn-ac", ["churn-aci"])
    assert got.unknown[1][0] == "credit-ep/blu" and got.unknown[1][1][0] == "credit-ep/blue", "closest first"
    error = diag.not_found_error(got.unknown)
    assert isinstance(error, NotFound) and error.exit_code == 3
    assert "churn-aci" in (error.hint or "") and "1 more" in error.message
    assert diag.not_found_error([("zzz", [])]).hint == (
        "list the workspace's services and deployments with `amlmon services list`"
    )


def test_suggest_is_case_insensitive_and_keeps_spelling() -> None:
    assert suggest("CHURN-ACI", ["churn-aci", "other"]) == ["churn-aci"]
    assert suggest("x", []) == []


def test_kinds_parse_case_insensitively_and_reject_others() -> None:
    assert diag.parse_kinds(["aci,AKS", "managed"]) == {"ACI", "AKS", "Managed"}
    with pytest.raises(UsageError):
        diag.parse_kinds(["IOT"])


@pytest.mark.parametrize(
    ("service", "enable", "model_data", "expected"),
    [
        (SERVICE, True, None, [("appInsightsEnabled", False, True)]),
        (
            SERVICE,
            True,
            True,
            [("appInsightsEnabled", False, True), ("dataCollection.storageEnabled", False, True)],
        ),
        ({**SERVICE, "appInsightsEnabled": True}, True, None, []),
        ({**SERVICE, "appInsightsEnabled": True, "dataCollection": {"storageEnabled": True}}, True, True, []),
        (
            {**SERVICE, "appInsightsEnabled": True, "dataCollection": {"storageEnabled": True}},
            False,
            False,
            [("appInsightsEnabled", True, False), ("dataCollection.storageEnabled", True, False)],
        ),
        ({"name": "bare"}, False, None, []),  # a service without the fields is off
    ],
)
def test_plan_v1(service: dict[str, Any], enable: bool, model_data: bool | None, expected: list[Any]) -> None:
    changes = diag.plan_v1(service, enable=enable, model_data=model_data)
    assert [(c.field, c.old, c.new) for c in changes] == expected


def test_json_patch_for_a_v1_plan() -> None:
    changes = diag.plan_v1(SERVICE, enable=True, model_data=True)
    assert diag.json_patch(changes) == [
        {"op": "replace", "path": "/appInsightsEnabled", "value": True},
        {"op": "replace", "path": "/dataCollection/storageEnabled", "value": True},
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)


def test_plan_v2() -> None:
    want = diag.V2Want(app_insights=True)
    changes, body = diag.plan_v2(_deployment("b"), want)
    assert [(c.field, c.old, c.new) for c in changes] == [("properties.appInsightsEnabled", False, True)]
    assert body["properties"]["appInsightsEnabled"] is True and "dataCollector" not in body["properties"]
    assert diag.plan_v2(_deployment("b", enabled=True), want)[0] == []


COLLECTOR = "properties.dataCollector"


def test_plan_v2_collections_compare_modes_without_case_and_keep_own_data_ids() -> None:
    body = _deployment("b")
    body["properties"]["dataCollector"] = {
        "collections": {"model_inputs": {"dataCollectionMode": "enabled", "dataId": "mine"}},
        "rollingRate": "hour",
    }
    want = diag.V2Want(model_data=True, rolling_rate="Hour")
    changes, new = diag.plan_v2(body, want, {"model_inputs": "asset-in", "model_outputs": "asset-out"})
    assert [(c.field, c.old, c.new) for c in changes] == [
        (f"{COLLECTOR}.collections.model_outputs.dataCollectionMode", None, "Enabled"),
        (f"{COLLECTOR}.collections.model_outputs.dataId", None, "asset-out"),
    ]
    assert new["properties"]["dataCollector"]["collections"]["model_inputs"]["dataId"] == "mine"
    assert new["properties"]["dataCollector"]["rollingRate"] == "hour", "same rate in another case: kept"
    off, _ = diag.plan_v2(body, diag.V2Want(payloads=False))
    assert off == [], "turning off collections that do not exist changes nothing"


def test_rolling_rates_parse_to_the_enum_spelling() -> None:
    assert diag.parse_rolling_rate("DAY") == "Day" and diag.parse_rolling_rate(None) is None
    with pytest.raises(UsageError) as caught:
        diag.parse_rolling_rate("weekly")
    assert "minute, hour, day, month, year" in str(caught.value.hint)


@pytest.mark.parametrize(
    ("version", "knows"),
    [
        ("2023-04-01-preview", True),
        ("2024-01-01-preview", True),
        ("2024-04-01", True),
        ("2025-06-01", True),
        ("2023-04-01", False),
        ("2023-10-01", False),
        ("2023-02-01-preview", False),
        ("", False),
        ("garbage", False),
    ],
)
def test_which_api_versions_model_the_data_collector(version: str, knows: bool) -> None:
    from amlmon.emulator.arm.common import knows_data_collector

    assert knows_data_collector(version) is knows


wants = st.builds(
    diag.V2Want,
    app_insights=st.none() | st.booleans(),
    model_data=st.none() | st.booleans(),
    payloads=st.none() | st.booleans(),
    sampling_rate=st.none() | st.floats(min_value=0, max_value=1),
    rolling_rate=st.none() | st.sampled_from(diag.ROLLING_RATES),
    capture_headers=st.none() | st.lists(st.sampled_from(["x-a", "x-b"]), max_size=2),
)


@given(
    extra=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    props=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    want=wants,
)
def test_plan_v2_changes_only_what_it_reports_and_is_idempotent(
    extra: dict[str, Any], props: dict[str, Any], want: diag.V2Want
) -> None:
    from amlmon.azure.deployments_v2 import differences

    props.pop("dataCollector", None)
    body = {**extra, "properties": {**props}}
    before = copy.deepcopy(body)
    changes, new = diag.plan_v2(body, want, {name: f"id-{name}" for name in diag.ALL_COLLECTIONS})
    assert body == before, "the read body is not mutated"
    changed = [change.field for change in changes]
    assert differences(before, new, skip=changed) == [], "nothing else differs"
    again, _ = diag.plan_v2(new, want, {name: f"id-{name}" for name in diag.ALL_COLLECTIONS})
    assert again == [], "planning from the result changes nothing"


@given(
    extra=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    props=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    enabled=st.booleans(),
)
def test_the_write_body_changes_only_app_insights(
    extra: dict[str, Any], props: dict[str, Any], enabled: bool
) -> None:
    body = {**extra, "properties": {**props}}
    before = copy.deepcopy(body)
    new = with_app_insights(body, enabled)
    assert body == before, "the read body is not mutated"
    assert new["properties"]["appInsightsEnabled"] is enabled
    new["properties"].pop("appInsightsEnabled")
    before["properties"].pop("appInsightsEnabled", None)
    assert new == before


def test_summary_and_exit_code() -> None:
    ok = diag.Result("a", "ACI", "changed")
    same = diag.Result("b", "ACI", "unchanged")
    bad = diag.Result("c", "AKS", "failed", error=Throttled("timed out"))
    assert diag.summary([ok, same, bad]) == {
        "changed": 1,
        "unchanged": 1,
        "would-change": 0,
        "submitted": 0,
        "failed": 1,
    }
    assert diag.exit_code([ok, same]) == 0
    assert diag.exit_code([ok, bad]) == 1, "a bulk run with a failure exits 1"
    assert diag.exit_code([bad]) == 5, "a single target keeps its own exit code"
    assert bad.to_dict()["status"] == "failed" and "error" not in bad.to_dict()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-25T06:11:38.0000000Z", "2026-11-25T06:11:38Z"),
        ("2026-11-25T06:11:38.000000+00:00", "2026-11-25T06:11:38Z"),
        ("2026-11-25T08:11:38+02:00", "2026-11-25T06:11:38Z"),
        ("2026-11-25T06:11:38", "2026-11-25T06:11:38Z"),
        ("yesterday", "yesterday"),
        (None, None),
    ],
)
def test_updated_times_share_one_format(text: str | None, expected: str | None) -> None:
    assert diag.utc_instant(text) == expected


def test_differences_treat_null_as_absent_and_report_both_values() -> None:
    from amlmon.azure.deployments_v2 import ABSENT, describe, differences

    read = {"properties": {"a": 1, "b": None}, "tags": {}, "systemData": {"lastModifiedAt": "x"}}
    same = {"properties": {"a": 1, "c": None}, "systemData": {"lastModifiedAt": "y"}}
    assert differences(read, same) == [], "null, {} and absent are the same; systemData is the service's"
    moved = {"properties": {"a": 2}, "tags": {"k": "v"}}
    diffs = differences(read, moved)
    assert diffs == [("properties.a", 1, 2), ("tags.k", ABSENT, "v")]
    assert describe(diffs, "read", "now") == 'properties.a: read 1, now 2; tags.k: read (absent), now "v"'
