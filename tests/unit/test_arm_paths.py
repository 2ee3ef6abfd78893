"""Every user value that lands in an ARM URL path: refused (exit 2, with Azure's rule) or one segment.

The property: for any name, the path amlmon builds either is never built (a UsageError, exit 2) or,
read back the way a server reads it (split on `/` after dropping any query/fragment, then decoded),
has exactly the intended segments — nothing climbs out (`..`), nothing cuts the path (`?`, `#`).
"""

from __future__ import annotations

import posixpath
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from amlmon.azure import paths
from amlmon.azure.diagnostic_settings import _path as diagnostic_setting_path
from amlmon.errors import EXIT_USAGE, ConfigError, UsageError
from amlmon.resolve import resolve_workspace

SUB = "00000000-0000-0000-0000-00000000a1a1"
COMPONENT = f"/subscriptions/{SUB}/resourceGroups/rg/providers/microsoft.insights/components/ws-ai"
CASES: Counter[str] = Counter()

# Characters that change how a URL path is read, plus Unicode, whitespace and control characters.
HOSTILE = st.sampled_from(
    ["/", "..", ".", "%", "%2F", "%2e%2e", "?", "#", "&", "=", "\\", " ", "\t", "\n", "\x00", "\x7f",
     "\u202e", "\u00e9", "\u6f22", "\U0001f600", "\u3000", "+", ":", "*", "(", ")", "-", "_", "~", "@"]
)  # fmt: skip
# Names close to valid ones (Unicode letters and digits, the punctuation some rules allow), so that
# every property also sees names that are built, not only refused.
NEAR_VALID = st.text(
    alphabet=st.one_of(st.characters(whitelist_categories=("L", "Nd")), st.sampled_from("-_.() ")),
    min_size=1,
    max_size=20,
)
NAMES = st.one_of(
    NEAR_VALID,
    st.lists(st.one_of(HOSTILE, st.text(alphabet="abcXYZ019-_", min_size=1, max_size=4)), max_size=8).map(
        "".join
    ),
    st.text(max_size=12),
    st.sampled_from(["..", ".", "", "amlmon-export/../foreign-setting", "nope-rg/../rg", "rg?x=1", "a#b"]),
)


def read_back(path: str) -> list[str]:
    """The segments a server sees: query and fragment dropped, dot segments resolved, each decoded."""
    server_path = urlsplit("https://management.azure.com" + path).path
    assert posixpath.normpath(server_path) == server_path, f"dot segments in {path!r}"
    return [unquote(part) for part in server_path.split("/")[1:]]


def built_or_refused(build: Any, intended: list[str], label: str) -> None:
    try:
        path = build()
    except UsageError as exc:
        assert exc.exit_code == EXIT_USAGE and exc.hint, "exit 2 with a hint (the rule or the form)"
        CASES[f"{label}: refused"] += 1
        return
    assert read_back(path) == intended, (path, intended)
    CASES[f"{label}: built"] += 1


FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(name=NAMES, where=st.sampled_from(["subscription", "resource_group", "workspace"]))
def test_workspace_path_segments_are_exactly_the_names(name: str, where: str) -> None:
    values = {"subscription": SUB, "resource_group": "rg", "workspace": "ws1", where: name}
    intended = ["subscriptions", values["subscription"], "resourceGroups", values["resource_group"],
                "providers", "Microsoft.MachineLearningServices", "workspaces", values["workspace"]]  # fmt: skip
    built_or_refused(
        lambda: paths.workspace_path(values["subscription"], values["resource_group"], values["workspace"]),
        intended,
        f"workspace path ({where})",
    )


@FAST
@given(name=NAMES)
def test_diagnostic_setting_path_segments_are_exactly_the_name(name: str) -> None:
    intended = [
        *COMPONENT.strip("/").split("/"),
        "providers",
        "Microsoft.Insights",
        "diagnosticSettings",
        name,
    ]
    built_or_refused(lambda: diagnostic_setting_path(COMPONENT, name), intended, "diagnostic setting")


@FAST
@given(endpoint=NAMES, deployment=NAMES)
def test_names_from_the_service_are_encoded_as_one_segment_each(endpoint: str, deployment: str) -> None:
    # Endpoint, deployment and v1 service names come from the service's lists: encoded, never judged.
    built_or_refused(
        lambda: paths.join("onlineEndpoints", endpoint, "deployments", deployment),
        ["onlineEndpoints", endpoint, "deployments", deployment],
        "endpoint/deployment",
    )


@FAST
@given(name=NAMES, position=st.integers(min_value=0, max_value=3))
def test_user_resource_ids_are_checked_segment_by_segment(name: str, position: int) -> None:
    names = [SUB, "rg", "Microsoft.Storage", "account1"]
    names[position] = name
    text = (
        f"/subscriptions/{names[0]}/resourceGroups/{names[1]}/providers/{names[2]}/storageAccounts/{names[3]}"
    )
    intended = ["subscriptions", names[0], "resourceGroups", names[1], "providers", names[2],
                "storageAccounts", names[3]]  # fmt: skip
    built_or_refused(
        lambda: paths.resource_path(
            text, option="--storage-account", expect_type="Microsoft.Storage/storageAccounts", strict=True
        ),
        intended,
        "storage account ID",
    )


@FAST
@given(name=NAMES, where=st.sampled_from(["subscription", "resource_group", "workspace"]))
def test_resolved_workspace_is_refused_at_require_with_exit_2(
    name: str, where: str, tmp_path_factory: Any
) -> None:
    home = Path(tmp_path_factory.getbasetemp()) / "home"
    home.mkdir(exist_ok=True)
    flags = {"subscription": SUB, "resource_group": "rg", "workspace": "ws1", where: name}
    if where == "workspace" and name.startswith("/"):
        flags["workspace"] = "ws-" + name.replace(
            "/", ""
        )  # a leading / means "resource ID": tested elsewhere
    if not flags[where].strip():  # a flag given empty is refused as such (not taken as missing)
        with pytest.raises(ConfigError, match="is empty"):
            resolve_workspace(env={}, cwd=home, home=home, **flags)
        return
    ref = resolve_workspace(env={}, cwd=home, home=home, **flags)
    if not all(s.found for s in (ref.subscription, ref.resource_group, ref.workspace)):
        return  # a value that resolves to nothing is "missing", its own error
    intended = ["subscriptions", str(ref.subscription.value), "resourceGroups", str(ref.resource_group.value),
                "providers", "Microsoft.MachineLearningServices", "workspaces", str(ref.workspace.value)]  # fmt: skip
    built_or_refused(lambda: ref.require().resource_id, intended, "require()")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: paths.workspace_path(SUB, "nope-rg/../rg", "ws"), "-g/--resource-group 'nope-rg/../rg'"),
        (lambda: paths.workspace_path(SUB, "rg?x=1", "ws"), "is not a valid resource group name"),
        (lambda: paths.workspace_path("s", "rg", "ws"), "is not a valid subscription ID"),
        (lambda: diagnostic_setting_path(COMPONENT, "amlmon-export/../foreign"), "diagnostic setting name"),
        (lambda: paths.resource_path("/subscriptions/x", option="--log-analytics"), "is not a resource ID"),
        (
            lambda: paths.resource_path(
                f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Web/sites/a",
                expect_type="Microsoft.Storage/storageAccounts",
            ),
            "not a Microsoft.Storage/storageAccounts one",
        ),
    ],
)
def test_the_reported_inputs_are_usage_errors_with_the_rule(build: Any, message: str) -> None:
    with pytest.raises(UsageError) as info:
        build()
    assert message in info.value.message and info.value.hint and info.value.exit_code == 2


def test_valid_names_pass_and_encode_the_unicode_azure_allows() -> None:
    assert paths.workspace_path(SUB, "rg.(prod)_ü", "ws_1-a").endswith(
        "/resourceGroups/rg.(prod)_%C3%BC/providers/Microsoft.MachineLearningServices/workspaces/ws_1-a"
    )
    assert diagnostic_setting_path(COMPONENT, "amlmon export").endswith("/diagnosticSettings/amlmon%20export")


def test_generated_case_counts(capsys: Any) -> None:
    """Run last in this file: prints how many generated names each property saw (for the issue note)."""
    with capsys.disabled():
        print("\ngenerated cases:", dict(sorted(CASES.items())), "total", sum(CASES.values()))
