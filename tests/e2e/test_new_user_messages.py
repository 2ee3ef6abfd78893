"""A new user's findings about what amlmon says and refuses: selections, empty flags and variables, windows."""

from __future__ import annotations

from typing import Any


def test_an_empty_name_glob_is_named_as_typed_not_as_all(cli: Any, emulator: Any) -> None:
    ws = emulator.create_workspace("selwords", services=[{"name": "churn", "computeType": "ACI"}])
    for args in (["services", "list"], ["diagnostics", "enable", "--all", "--dry-run"]):
        result = cli(*args, "--name", "", *ws["scope"])
        assert result.exit_code == 3, result.stderr
        assert result.stderr.splitlines()[0] == "error: no service or deployment matched --name ''", (
            result.stderr
        )
    control = cli("services", "list", "--name", "ch*", *ws["scope"], "-o", "json")
    assert control.exit_code == 0 and [row["target"] for row in control.json()] == ["churn"]


def test_a_bad_amlmon_output_refuses_before_diagnostics_enable_writes(cli: Any, emulator: Any) -> None:
    """AMLMON_OUTPUT=xml once surfaced only when the result was printed: the service had already been
    changed, and the run said exit 2 (usage) as if nothing had happened."""
    ws = emulator.create_workspace("badout", services=[{"name": "churn", "computeType": "ACI"}])
    before = emulator.last_seq()
    refused = cli("diagnostics", "enable", "churn", *ws["scope"], env={"AMLMON_OUTPUT": "xml"})
    assert refused.exit_code == 2, refused.stderr
    assert refused.stderr.splitlines() == [
        "error: AMLMON_OUTPUT 'xml' is not one of table, json, jsonc, jsonl, tsv, yaml, none",
        "hint: set AMLMON_OUTPUT to one of them or unset it (e.g. --output table overrides it)",
    ]
    sent = [e for e in emulator.requests_since(before) if not str(e["path"]).startswith("/_emulator")]
    assert sent == [], "no request at all, let alone the patch"
    status = cli("diagnostics", "status", "churn", *ws["scope"], "-o", "json")
    assert status.json()[0]["diagnostics"] is False
    auth = cli("services", "list", *ws["scope"], env={"AMLMON_AUTH": "foo"})
    assert auth.exit_code == 2 and auth.stderr.startswith("error: AMLMON_AUTH 'foo' is not one of"), (
        auth.stderr
    )
    # control: the flag overrides the variable, and help is shown whatever it says
    flagged = cli("diagnostics", "enable", "churn", *ws["scope"], "-o", "json", env={"AMLMON_OUTPUT": "xml"})
    assert flagged.exit_code == 0 and flagged.json()["summary"]["changed"] == 1, flagged.stderr
    assert [e for e in emulator.requests_since(before) if not str(e["path"]).startswith("/_emulator")]
    helped = cli("diagnostics", "enable", "--help", env={"AMLMON_OUTPUT": "xml"})
    assert helped.exit_code == 0 and "Usage:" in helped.stdout


def test_an_empty_tables_list_is_refused_not_taken_as_the_defaults(cli: Any, emulator: Any) -> None:
    """`export enable --tables "$TABLES"` with TABLES unset once exported the four default tables."""
    ws = emulator.create_workspace(
        "emptytables", storageAccounts=[{"name": f"st{ws_suffix()}", "location": "westeurope"}]
    )
    account = ws["storageAccounts"][0]
    for tables in ("", ","):
        result = cli(
            "export", "enable", "--storage-account", account, "--tables", tables, "--dry-run", *ws["scope"]
        )
        assert result.exit_code == 2, result.stderr
        assert result.stderr.splitlines() == [
            "error: --tables is empty",
            "hint: e.g. --tables AppTraces,AppRequests or --tables all",
        ]
    control = cli("export", "enable", "--storage-account", account, "--dry-run", *ws["scope"], "-o", "json")
    assert control.exit_code == 0, control.stderr
    assert control.json()["categories"] == ["AppTraces", "AppRequests", "AppDependencies", "AppExceptions"]


def ws_suffix() -> str:
    import uuid

    return uuid.uuid4().hex[:10]


def test_an_empty_workspace_flag_is_refused_not_replaced_by_the_environment(cli: Any, emulator: Any) -> None:
    """`diagnostics enable churn -w "$WS"` with WS unset once changed the workspace AMLMON_WORKSPACE named."""
    ws = emulator.create_workspace("emptyflag", services=[{"name": "churn", "computeType": "ACI"}])
    env = {
        "AMLMON_SUBSCRIPTION": ws["subscription"],
        "AMLMON_RESOURCE_GROUP": ws["resourceGroup"],
        "AMLMON_WORKSPACE": ws["name"],
    }
    for flag in ("-w", "-g", "--subscription"):
        result = cli("diagnostics", "enable", "churn", flag, "", env=env)
        assert result.exit_code == 2, result.stderr
        assert result.stderr.splitlines()[0].endswith(" is empty"), result.stderr
    assert cli("diagnostics", "status", "churn", "-o", "json", env=env).json()[0]["diagnostics"] is False
    control = cli("diagnostics", "enable", "churn", "-o", "json", env=env)  # without the flag: the variables
    assert control.exit_code == 0 and control.json()["summary"]["changed"] == 1, control.stderr


def test_drift_of_two_files_checks_the_target_when_a_workspace_is_named(
    cli: Any, emulator: Any, tmp_path: Any
) -> None:
    """`drift credit-ep/gren --baseline F --current F --emit-monitor m.yml` once wrote a monitor for a
    deployment the workspace does not have, exit 0."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ws = emulator.create_workspace(
        "driftfiles",
        deployments=[{"endpoint": "credit-ep", "name": "blue", "endpointComputeType": "Managed"}],
    )
    data = tmp_path / "data.parquet"
    pq.write_table(pa.table({"a": [float(i % 10) for i in range(100)]}), data)
    monitor = tmp_path / "monitor.yml"
    args = ["--baseline", str(data), "--current", str(data), "--emit-monitor", str(monitor), *ws["scope"]]
    typo = cli("drift", "credit-ep/gren", *args, "-o", "none")
    assert typo.exit_code == 3, typo.stderr
    assert typo.stderr.splitlines() == [
        "error: no service, endpoint or deployment named 'credit-ep/gren' in the workspace",
        "hint: did you mean credit-ep/blue or credit-ep?",
    ]
    assert not monitor.exists()
    right = cli("drift", "credit-ep/blue", *args, "-o", "none")  # control
    assert right.exit_code == 0, right.stderr
    assert "azureml:credit-ep:blue" in monitor.read_text()
    # a workspace that cannot be asked (here: no emulator) does not stop a comparison of two files
    offline = cli(
        "drift", "credit-ep/gren", *args, "--overwrite", "-o", "none",
        env={"AMLMON_EMULATOR_DIR": str(tmp_path / "no-emulator")},
    )  # fmt: skip
    assert offline.exit_code == 0, offline.stderr
    assert offline.stderr.startswith("warning: credit-ep/gren not checked against the workspace (")


def test_stopping_an_emulator_that_is_not_running_says_what_to_do(tmp_path: Any) -> None:
    from tests.conftest import run_cli

    result = run_cli(["emulator", "stop", "--data", str(tmp_path / "none")])
    assert result.exit_code == 3, result.stderr
    lines = result.stderr.splitlines()
    assert (
        len(lines) == 2
        and lines[0].startswith("error: no emulator is running")
        and lines[1].startswith("hint: ")
    )


def test_doctor_names_a_window_of_seconds_in_seconds(cli: Any, emulator: Any) -> None:
    """`doctor --since 30s` once said "no request rows … in the last 0m"."""
    ws = emulator.create_workspace("doctorsecs", services=[{"name": "churn", "computeType": "ACI"}])
    for since, said in (("30s", "30s"), ("90s", "90s"), ("10m", "10m"), ("2h", "2h")):
        result = cli("doctor", "churn", "--since", since, *ws["scope"], "-o", "json")
        assert result.exit_code in (0, 1), result.stderr
        newest = next(row for row in result.json() if row["check"] == "v1.newest-request")
        assert newest["evidence"] == f"no request rows ingested for churn in the last {said}", newest


def test_export_enable_of_a_setting_named_by_the_user_reruns_unchanged(cli: Any, emulator: Any) -> None:
    """`export enable --name team-export` created the setting, then refused the very same command again
    ("not created by amlmon", exit 1): a CI step could not be rerun."""
    ws = emulator.create_workspace(
        "exportname", storageAccounts=[{"name": f"st{ws_suffix()}", "location": "westeurope"}]
    )
    args = ["export", "enable", "--storage-account", ws["storageAccounts"][0], "--name", "team-export",
            "--tables", "AppTraces", *ws["scope"], "-o", "json"]  # fmt: skip
    created = cli(*args)
    assert created.exit_code == 0 and created.json()["action"] == "created", created.stderr
    assert "warning: 'team-export' is not named amlmon…" in created.stderr
    again = cli(*args)
    assert again.exit_code == 0 and again.json()["action"] == "unchanged", again.stderr
    changed = cli(*[a if a != "AppTraces" else "AppRequests" for a in args])  # control: a change is refused
    assert changed.exit_code == 1, changed.stderr
    assert "was not created by amlmon" in changed.stderr.splitlines()[0]


def test_tsv_of_a_multiselect_list_is_one_tab_separated_line_per_row(cli: Any, emulator: Any) -> None:
    """`--query "[].[target,kind]" -o tsv` once printed `["churn","ACI"]` per line (JSON), where `az -o tsv`
    prints `churn<TAB>ACI` — what `while read name kind` in a script needs."""
    ws = emulator.create_workspace(
        "tsvrows", services=[{"name": "churn", "computeType": "ACI"}, {"name": "fraud", "computeType": "AKS"}]
    )
    rows = cli("services", "list", *ws["scope"], "--query", "[].[target,kind,diagnostics]", "-o", "tsv")
    assert rows.exit_code == 0, rows.stderr
    assert rows.stdout.splitlines() == ["churn\tACI\tFalse", "fraud\tAKS\tFalse"]
    names = cli("services", "list", *ws["scope"], "--query", "[].target", "-o", "tsv")  # control: scalars
    assert names.stdout.splitlines() == ["churn", "fraud"]


def test_a_service_that_keeps_failing_is_an_error_line_with_its_hint(cli: Any, clear_faults: Any) -> None:
    """A persistent 5xx from ARM or the query API ended in a bare `error:` line, without the `hint:` README
    promises."""
    emulator = clear_faults
    ws = emulator.create_workspace("fivexx", services=[{"name": "churn", "computeType": "ACI"}])
    status, _ = emulator.admin(
        "POST",
        "/_emulator/faults",
        {"kind": "status", "status": 500, "path": "onlineEndpoints", "count": None},
    )
    assert status in (200, 201)
    result = cli("services", "list", *ws["scope"], "-o", "json", env={"AMLMON_TIMEOUT": "20s"})
    assert result.exit_code == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("error: ") and "(HTTP 500)" in lines[0], lines
    assert (
        lines[1]
        == "hint: the service kept failing after amlmon's retries: retry later (--debug shows each request)"
    )
    emulator.admin("DELETE", "/_emulator/faults")
    assert cli("services", "list", *ws["scope"], "-o", "json").exit_code == 0  # control
