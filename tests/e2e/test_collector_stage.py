"""The collector pull's staging folder (amlmon/collector_stage.py) against blobs in Azurite: a download
still under way when the pull stops makes no file once the folder is being deleted (Ctrl-C used to leave
the folder behind now and then: rmtree listed it, the download made its file, rmdir failed)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from amlmon.collector_stage import Staging, StagingClosed
from tests.azurite import Azurite, start_azurite, stop_azurite

pytestmark = pytest.mark.azurite


@pytest.fixture(scope="module")
def blob(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    handle: Azurite = start_azurite(tmp_path_factory.mktemp("azurite-collector-stage"))
    try:
        container = handle.service().get_container_client("staging")
        container.create_container()
        client = container.get_blob_client("modelDataCollector/ep/blue/model_inputs/2026/11/30/09/i.jsonl")
        client.upload_blob(b'{"a":1}\n{"a":2}\n{"tor')
        yield client
    finally:
        stop_azurite(handle)


def test_a_download_stages_whole_lines_and_close_deletes_them(
    blob: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # the control
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    staging = Staging()
    staged = staging.download(blob.download_blob())  # type: ignore[attr-defined]
    assert [path.read_bytes() for path in staged.paths] == [b'{"a":1}\n{"a":2}\n'] and staged.tail == b'{"tor'
    assert staged.paths[0].parent.parent == tmp_path
    staging.close()
    assert os.listdir(tmp_path) == []


def test_a_download_begun_after_close_makes_no_file_and_no_folder(
    blob: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    staging = Staging()
    assert os.listdir(tmp_path) == [staging.dir.name]
    downloader = blob.download_blob()  # type: ignore[attr-defined]  # under way: its first answer is in
    staging.close()
    with pytest.raises(StagingClosed):
        staging.download(downloader)
    assert os.listdir(tmp_path) == []
