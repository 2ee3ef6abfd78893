"""`data pull --datastore-url` and the --out it writes (Azurite): one pull at a time per --out — a second
pull to the same file, while the first writes it, must neither break the first nor lose its own rows."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.azurite import DEV_ACCOUNT_KEY, Azurite, start_azurite, stop_azurite
from tests.conftest import run_cli
from tests.helpers import kill_once_parts_saved, parts_done

pytestmark = pytest.mark.azurite

CONTAINER = "azureml-blobstore-00000000-0000-0000-0000-0000000c0de5"
SOURCE = (
    "/subscriptions/00000000-0000-0000-0000-0000000c0de5/resourceGroups/rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/ws-out/onlineEndpoints/ep-out/deployments/blue"
)
HOURS = 12
PER_HOUR = 300


@pytest.fixture(scope="module")
def pulled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """HOURS folders of PER_HOUR answered requests each; the pull's arguments (all but --out) and env."""
    handle: Azurite = start_azurite(tmp_path_factory.mktemp("azurite-collector-out"))
    try:
        container = handle.service().get_container_client(CONTAINER)
        container.create_container()
        first = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(
            hours=HOURS + 1
        )
        for index in range(HOURS):
            hour = first + dt.timedelta(hours=index)
            for collection, value in (("model_inputs", {"x": "v" * 200}), ("model_outputs", {"p": 0.5})):
                blob = container.get_blob_client(
                    f"modelDataCollector/ep-out/blue/{collection}/{hour:%Y/%m/%d/%H}/i.jsonl"
                )
                blob.create_append_blob()
                blob.append_block(
                    "".join(
                        _record(collection, hour, f"{index}-{n}", value) for n in range(PER_HOUR)
                    ).encode()
                )
        args = [
            *("data", "pull", "ep-out/blue", "--datastore-url", f"{handle.blob_endpoint}/{CONTAINER}"),
            *("--since", f"{HOURS + 2}h"),
        ]
        yield {"args": args, "env": {"AZURE_STORAGE_CONNECTION_STRING": handle.connection_string}}
    finally:
        stop_azurite(handle)


def _record(collection: str, when: dt.datetime, correlation: str, value: Any) -> str:
    record = {
        "specversion": "1.0",
        "id": f"id-{correlation}-{collection}",
        "source": SOURCE,
        "time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "data": [value],
        "correlationid": correlation,
    }
    return json.dumps(record, separators=(",", ":")) + "\n"


def _paused_after_first_part(args: list[str], out: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """A pull to `out` in its own process, stopped (SIGSTOP) once it has saved a part: still writing."""
    process = subprocess.Popen(
        [sys.executable, "-m", "amlmon", *args, "--out", str(out), "-o", "json"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while parts_done(out) < 1 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    process.send_signal(signal.SIGSTOP)
    return process


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_a_second_pull_to_the_same_out_is_refused_while_the_first_writes_it(
    pulled: dict[str, Any], tmp_path: Path, suffix: str
) -> None:
    """Pull B to the --out pull A is writing (A paused after its first folder): B is exit 2 with an
    error and a hint, --resume too, before it touches A's files; A then ends as if alone. B's data used
    to start over (deleting A's saved folders) and, as the output is now assembled while A writes, share
    A's temp file: A failed, and B lost its output when A deleted that file."""
    out = tmp_path / f"same.{suffix}"
    args, env = pulled["args"], pulled["env"]
    first = _paused_after_first_part(args, out, env)
    try:
        assert first.poll() is None and 1 <= parts_done(out) < HOURS, "the control: A is mid-pull"
        for extra in ([], ["--resume"], ["--overwrite"]):
            second = run_cli([*args, "--out", str(out), *extra], env)
            assert second.exit_code == 2, (extra, second.stderr)
            error, hint = second.stderr.splitlines()
            assert error.startswith("error: ") and "another amlmon" in error and str(out) in error, error
            assert hint.startswith("hint: "), second.stderr
        assert parts_done(out) >= 1, "A's saved folders stay"
    finally:
        first.send_signal(signal.SIGCONT)
    stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 0, stderr
    assert json.loads(stdout)["rows"] == HOURS * PER_HOUR
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name], "no lock or temp file is left"
    again = run_cli([*args, "--out", str(out), "--overwrite", "-o", "json"], env)  # the control: A is done
    assert again.exit_code == 0, again.stderr
    assert json.loads(again.stdout)["rows"] == HOURS * PER_HOUR
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_resume_with_nothing_to_resume_does_not_replace_the_users_file(
    pulled: dict[str, Any], tmp_path: Path
) -> None:
    """--resume lets a pull replace an existing --out only when it continues an interrupted pull to it
    (one started with --overwrite): with nothing saved to continue, it is a new pull, and the user's file
    is refused as without --resume (it was silently replaced)."""
    out = tmp_path / "mine.jsonl"
    out.write_text("the user's own file\n")
    args, env = pulled["args"], pulled["env"]
    refused = run_cli([*args, "--out", str(out), "--resume"], env)
    assert refused.exit_code == 2, refused.stderr
    error, hint = refused.stderr.splitlines()
    assert "already exists" in error and "nothing to resume" in error and "--overwrite" in hint, error
    assert out.read_text() == "the user's own file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.jsonl"]
    # the control: an interrupted pull over it (--overwrite) is continued by --resume, which replaces it
    kill_once_parts_saved([*args, "--overwrite"], out, env, parts=1, timeout=120)
    assert out.read_text() == "the user's own file\n" and parts_done(out) >= 1
    resumed = run_cli([*args, "--out", str(out), "--resume", "-o", "json"], env)
    assert resumed.exit_code == 0, resumed.stderr
    assert json.loads(resumed.stdout)["rows"] == HOURS * PER_HOUR


def test_a_long_out_name_is_written_up_to_the_longest_amlmon_can_keep_beside_it(
    pulled: dict[str, Any], tmp_path: Path
) -> None:
    """A name of up to 241 bytes works (the hidden `.NAME.amlmon-parts` beside it is then 255, the usual
    limit): it was refused from 234 on (by the writability probe's longer name), as if the folder were
    not writable, with a hint to the same name. One byte longer is exit 2 naming the limit."""
    args, env = pulled["args"], pulled["env"]
    longest = tmp_path / ("a" * 235 + ".jsonl")  # 241 bytes
    written = run_cli([*args, "--out", str(longest), "-o", "json"], env)
    assert written.exit_code == 0, written.stderr
    assert json.loads(written.stdout)["rows"] == HOURS * PER_HOUR
    assert sorted(p.name for p in tmp_path.iterdir()) == [longest.name]
    too_long = tmp_path / ("b" * 236 + ".jsonl")
    refused = run_cli([*args, "--out", str(too_long)], env)
    assert refused.exit_code == 2, refused.stderr
    error, hint = refused.stderr.splitlines()
    assert "name is too long" in error and "not writable" not in error, error
    assert "at most 241 bytes" in hint, hint
    assert sorted(p.name for p in tmp_path.iterdir()) == [longest.name]


def test_sigterm_mid_pull_is_cleaned_up_as_ctrl_c_and_resume_finishes_it(
    pulled: dict[str, Any], tmp_path: Path
) -> None:
    """SIGTERM (a cancelled CI job, `timeout`, `docker stop`) to a pull that has saved a folder: as Ctrl-C,
    the saved folders stay for --resume and nothing else is left; it used to end the process there,
    leaving the half-assembled `.NAME.amlmon-tmp` (and no word of --resume)."""
    out = tmp_path / "term.jsonl"
    args, env = pulled["args"], pulled["env"]
    pull = _paused_after_first_part(args, out, env)
    try:
        assert pull.poll() is None and (tmp_path / ".term.jsonl.amlmon-tmp").exists(), "the control"
        pull.send_signal(signal.SIGTERM)  # delivered as it continues
    finally:
        pull.send_signal(signal.SIGCONT)
    _stdout, stderr = pull.communicate(timeout=120)
    assert pull.returncode == 130, stderr
    assert "--resume" in stderr and "Traceback" not in stderr, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".term.jsonl.amlmon-parts"]
    resumed = run_cli([*args, "--out", str(out), "--resume", "-o", "json"], env)
    assert resumed.exit_code == 0, resumed.stderr
    assert json.loads(resumed.stdout)["rows"] == HOURS * PER_HOUR
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_an_out_that_cannot_be_renamed_to_at_the_end_is_one_error_and_resume_finishes_it(
    pulled: dict[str, Any], tmp_path: Path
) -> None:
    """A folder made at --out's path while the pull runs: the finished file cannot be renamed there. Exit 1
    with one error and a hint, the folders stay for --resume, and the assembled temp file (the whole
    dataset) is deleted; it was left, with an "unexpected IsADirectoryError"."""
    out = tmp_path / "taken.jsonl"
    args, env = pulled["args"], pulled["env"]
    pull = _paused_after_first_part(args, out, env)
    try:
        (out / "made-meanwhile").mkdir(parents=True)
    finally:
        pull.send_signal(signal.SIGCONT)
    _stdout, stderr = pull.communicate(timeout=120)
    assert pull.returncode == 1, stderr
    *_notes, error, hint = stderr.splitlines()
    assert error.startswith(f"error: cannot write --out {str(out)!r}") and "unexpected" not in stderr, stderr
    assert hint.startswith("hint: ") and "--resume" in hint, hint
    assert sorted(p.name for p in tmp_path.iterdir()) == [".taken.jsonl.amlmon-parts", out.name]
    (out / "made-meanwhile").rmdir()
    out.rmdir()
    resumed = run_cli([*args, "--out", str(out), "--resume", "-o", "json"], env)  # the control
    assert resumed.exit_code == 0, resumed.stderr
    assert json.loads(resumed.stdout)["rows"] == HOURS * PER_HOUR
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_resume_against_another_storage_account_is_refused_and_no_secret_is_saved(
    pulled: dict[str, Any], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A pull killed after its first folder, resumed with --datastore-url and the connection string of
    another storage endpoint holding a container of the same name: exit 2 naming both endpoints, the saved
    folders kept. It used to continue, mixing two accounts' rows in one dataset. The checkpoint records
    the blob endpoint only (no key, no connection string)."""
    out = tmp_path / "mixed.jsonl"
    args, env = pulled["args"], pulled["env"]
    own_endpoint = args[args.index("--datastore-url") + 1].rsplit("/", 1)[0]
    other: Azurite = start_azurite(tmp_path_factory.mktemp("azurite-other-account"))
    try:
        other.service().create_container(CONTAINER)  # its blobs do not matter: it must not be read
        kill_once_parts_saved(args, out, env, parts=1, timeout=120)
        assert 1 <= parts_done(out) < HOURS, "the control: a pull to resume"
        checkpoint = (tmp_path / ".mixed.jsonl.amlmon-parts" / "checkpoint.json").read_text()
        assert own_endpoint in checkpoint
        for secret in (DEV_ACCOUNT_KEY, "AccountKey", "SharedAccessSignature", "sig="):
            assert secret not in checkpoint
        elsewhere = [*args[:4], f"{other.blob_endpoint}/{CONTAINER}", *args[5:]]
        refused = run_cli(
            [*elsewhere, "--out", str(out), "--resume"],
            {"AZURE_STORAGE_CONNECTION_STRING": other.connection_string},
        )
    finally:
        stop_azurite(other)
    assert refused.exit_code == 2, refused.stderr
    error, hint = refused.stderr.splitlines()
    assert error.startswith(f"error: --resume: the interrupted pull to {out} had other options: "), error
    assert f"(the storage account) was {own_endpoint!r}, now {other.blob_endpoint!r}" in error, error
    assert hint.startswith("hint: ") and "--resume" in hint, hint
    assert DEV_ACCOUNT_KEY not in refused.stderr
    assert parts_done(out) >= 1, "the saved folders stay"
    resumed = run_cli([*args, "--out", str(out), "--resume", "-o", "json"], env)  # the control
    assert resumed.exit_code == 0, resumed.stderr
    assert json.loads(resumed.stdout)["rows"] == HOURS * PER_HOUR


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KB file system (tmpfs) at tmp_path/small: room for a few of the pull's folders, not all."""
    place = tmp_path / "small"
    place.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(place)], check=False)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield place
    finally:
        subprocess.run(["umount", str(place)], check=True)


def test_a_full_disk_is_one_error_and_resume_finishes_the_pull_elsewhere_with_room(
    pulled: dict[str, Any], small_disk: Path, tmp_path: Path
) -> None:
    """The disk --out is on fills up mid-pull: exit 1 with one error naming it and a hint, the folders
    written so far kept for --resume — not "error: unexpected OSError … report it"."""
    out = small_disk / "full.csv"
    args, env = pulled["args"], pulled["env"]
    result = run_cli([*args, "--out", str(out), "-o", "json"], env)
    assert result.exit_code == 1, result.stderr
    *_notes, error, hint = result.stderr.splitlines()
    assert error == f"error: cannot write --out {str(out)!r}: No space left on device", result.stderr
    assert "unexpected" not in result.stderr and hint.startswith("hint: ") and "--resume" in hint, hint
    assert not out.exists() and parts_done(out) > 0, "the folders written before the disk filled are kept"
    # Positive control: the same pull to a disk with room writes every row.
    whole = run_cli([*args, "--out", str(tmp_path / "whole.csv"), "-o", "json"], env)
    assert whole.exit_code == 0 and json.loads(whole.stdout)["rows"] == HOURS * PER_HOUR, whole.stderr
