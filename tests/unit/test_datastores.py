"""The workspace datastore answer → the collector's container URL, and payload URLs → blob names."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amlmon.azure.datastores import blob_datastore
from amlmon.collector_payloads import blob_in, in_blob, is_json
from amlmon.errors import OperationFailed, UsageError


def _answer(**props: object) -> dict[str, object]:
    """A datastore GET answer (azure-rest-api-specs 2024-04-01 Datastore/get.json), `props` changed."""
    base: dict[str, object] = {
        "description": None,
        "tags": {},
        "isDefault": True,
        "properties": {},
        "credentials": {"credentialsType": "AccountKey", "secrets": {"secretsType": "AccountKey"}},
        "datastoreType": "AzureBlob",
        "accountName": "mlws0123",
        "containerName": "azureml-blobstore-5ab9",
        "endpoint": "core.windows.net",
        "protocol": "https",
    }
    return {
        "id": "/x/datastores/workspaceblobstore",
        "name": "workspaceblobstore",
        "properties": {**base, **props},
    }


def test_the_container_url_comes_from_account_endpoint_and_container() -> None:
    assert blob_datastore(_answer()).url == "https://mlws0123.blob.core.windows.net/azureml-blobstore-5ab9"
    # a sovereign cloud's suffix comes with the datastore
    china = blob_datastore(_answer(endpoint="core.chinacloudapi.cn"))
    assert china.url == "https://mlws0123.blob.core.chinacloudapi.cn/azureml-blobstore-5ab9"


def test_a_datastore_that_is_not_a_blob_container_is_refused_with_a_hint() -> None:
    with pytest.raises(UsageError) as refused:
        blob_datastore(_answer(datastoreType="AzureFile", containerName=None, fileShareName="code-5ab9"))
    assert "AzureFile" in refused.value.message and "--datastore-url" in str(refused.value.hint)
    with pytest.raises(OperationFailed) as incomplete:  # positive control of the field check
        blob_datastore(_answer(containerName=""))
    assert "containerName" in incomplete.value.message


_NAME = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789"), min_size=3, max_size=24)
_BLOB = st.lists(
    st.text(
        st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",)), min_size=1, max_size=12
    ),
    min_size=1,
    max_size=5,
).map("/".join)


@given(
    account=_NAME,
    container=_NAME,
    blob=_BLOB,
    suffix=st.sampled_from(["core.windows.net", "core.usgovcloudapi.net"]),
)
def test_a_payload_url_names_its_blob_only_in_the_container_read(
    account: str, container: str, blob: str, suffix: str
) -> None:
    url = f"https://{account}.blob.{suffix}/{container}/{quote(blob)}"
    assert blob_in(url, account, container) == blob
    assert blob_in(url, account + "x", container) is None
    assert blob_in(url, account, container + "x") is None


def test_a_payload_is_in_a_blob_only_when_the_record_says_so() -> None:
    assert in_blob({"datainblob": "true", "data": "https://a.blob.core.windows.net/c/b"})
    assert not in_blob({"data": "https://a.blob.core.windows.net/c/b"})
    assert not in_blob({"datainblob": "true", "data": {"inline": 1}})
    assert is_json("application/json; charset=utf-8") and is_json("application/cloudevents+json")
    assert not is_json("text/plain") and not is_json(None)
