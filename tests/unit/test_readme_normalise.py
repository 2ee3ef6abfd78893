"""The README check's normaliser: it makes two runs' output equal where only volatile parts differ, and
it keeps everything else — otherwise the check could not fail."""

from __future__ import annotations

from pathlib import Path

from tests.readme import comparable, console_blocks, matches, normalise


def test_volatile_parts_of_two_runs_compare_equal() -> None:
    pairs = [
        (
            "churn-aci   ACI    changed   appInsightsEnabled: off → on   operation ee44f5fa-61c0-4af1-a2d8-cd913957abd7",
            "churn-aci ACI changed appInsightsEnabled: off → on operation 0b4e5c2a-1111-4af1-a2d8-000000000000",
        ),
        ("churn-aci: changed (1.1s)", "churn-aci: changed (12.0s)"),
        (
            "gate passed (2026-11-24T06:51:05Z .. 2026-11-25T06:51:05Z)",
            "gate passed (2026-12-01T00:00:00Z .. 2026-12-02T00:00:00Z)",
        ),
        ("start       2026-11-25T05:22:27.103370+00:00", "start 2026-11-30T12:00:00.000001+00:00"),
        ("discoveryUrl   https://127.0.0.1:35013/discovery", "discoveryUrl https://127.0.0.1:4443/discovery"),
        ("requests    28807 (20.0/min)  ▅▇█████▇▇▇", "requests 28790 (19.9/min) ▃▇██▇"),
        ("p50/p95/p99   100ms/314ms/467ms", "p50/p95/p99 99ms/300ms/1.2s"),
        ("──────────────", "────"),
        ('churn-aci req=4cead3e9 in={"data":[[0,0.0]]}', 'churn-aci req=dda2a36c in={"data":[[1,0.5]]}'),
        ("wrote /tmp/amlmon-demo-k2j3/x.parquet", "wrote /var/tmp/amlmon-demo-abc/x.parquet"),
    ]
    for first, second in pairs:
        assert normalise(first) == normalise(second), (first, second)


def test_what_a_reader_relies_on_is_kept() -> None:
    """Words, names, verdicts, symbols, field order: each pair differs after normalising."""
    pairs = [
        ("PASS fraud-aks: failure rate 2.03% <= 3%", "FAIL fraud-aks: failure rate 2.03% > 3%"),
        ("churn-aci: changed (1.1s)", "churn-aci: unchanged (1.1s)"),
        ("churn-aci   ACI   Healthy   off", "fraud-aks   AKS   Healthy   off"),
        ("churn-aci   ACI   Healthy   off", "churn-aci   ACI   Healthy   on"),
        ("gate passed", "gate FAILED"),
        ("error: no service named 'churn-ac'", "hint: did you mean churn-aci?"),
        ("target kind result", "kind target result"),
        ("rows        7", "truncated   7"),
        ("2 changed", "2 would-change"),
    ]
    for first, second in pairs:
        assert normalise(first) != normalise(second), (first, second)
    assert normalise("requests 28807 (20.0/min)") != "", "a line never normalises to nothing"


def test_side_by_side_progress_lines_may_come_in_either_order() -> None:
    one = ["churn-aci: changed (1.1s)", "fraud-aks: changed (1.2s)", "target kind"]
    two = ["fraud-aks: changed (0.9s)", "churn-aci: changed (1.0s)", "target kind"]
    assert comparable(one) == comparable(two)
    assert comparable(one) != comparable(["target kind", *one[:2]]), "but not past other lines"


def test_elisions() -> None:
    real = comparable(["a 1", "b 2", "c 3", "skip export.delivery: blobs not readable: long reason"])
    assert matches(comparable(["a 1", "…", "skip export.delivery: blobs not readable: …"]), real)
    assert matches(comparable(["…", "c 3", "…"]), real)
    assert not matches(comparable(["a 1", "c 3", "…"]), real), "a missing line without … is caught"
    assert not matches(comparable(["…", "d 4"]), real)
    assert not matches(comparable(["a 1", "b 2", "c 3"]), real), "so is an extra real line"


def test_console_blocks_are_read_with_commands_comments_and_continuations(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "text\n```console\n$ amlmon stats --since 24h   # a comment\nout 1\n\n$ curl -s \\\n"
        "    -d '{}' https://x\n{}\n```\n```sh\n$ amlmon not-a-console-block\n```\n"
    )
    [block] = console_blocks(readme)
    assert [step.argv for step in block] == [
        ["amlmon", "stats", "--since", "24h"],
        ["curl", "-s", "-d", "{}", "https://x"],
    ]
    assert block[0].output == ["out 1", ""] and block[1].output == ["{}"]
    assert block[0].line == 3


def test_an_access_log_line_is_the_same_in_any_month() -> None:
    """The README's `logs` examples hold gunicorn access lines; recorded in November, checked in December."""
    line = '127.0.0.1 - - [{}:15:23:02 +0000] "POST /score HTTP/1.1" 200 25 "-" "-"'
    assert normalise(line.format("30/Nov/2026")) == normalise(line.format("01/Dec/2026"))
    assert normalise(line.format("30/Nov/2026")) != normalise(
        line.replace("POST", "GET").format("30/Nov/2026")
    )
