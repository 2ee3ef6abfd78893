"""What a `--name`/`--kind` selection that matches nothing says: the selection as typed."""

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
