"""The storage account a --datastore-url names (host-style or Azurite's path-style) and the account and
host a connection string sends its calls to: what `data pull` compares before reading a container."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from amlmon.azure.blobs import blob_endpoint, connection_string_account, connection_string_host, url_account

ACCOUNT = st.from_regex(r"[a-z0-9]{3,24}", fullmatch=True)
CONTAINER = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])", fullmatch=True)
PORT = st.integers(min_value=1, max_value=65535)


@settings(max_examples=300)
@given(ACCOUNT, CONTAINER, st.sampled_from(["core.windows.net", "core.chinacloudapi.cn"]))
def test_a_host_style_url_names_its_first_host_label(account: str, container: str, suffix: str) -> None:
    assert url_account(f"https://{account}.blob.{suffix}/{container}") == account
    assert url_account(f"https://{account}.blob.{suffix}/{container}/a/b?sv=1&sig=x") == account


@settings(max_examples=300)
@given(ACCOUNT, CONTAINER, PORT, st.sampled_from(["127.0.0.1", "localhost"]))
def test_a_path_style_url_names_its_first_path_segment(
    account: str, container: str, port: int, host: str
) -> None:
    assert url_account(f"https://{host}:{port}/{account}/{container}") == account
    assert url_account(f"http://{host}:{port}/{account}/{container}/prefix") == account


def test_a_custom_domain_names_no_account() -> None:
    assert url_account("https://evil.example/xx") is None


@settings(max_examples=300)
@given(ACCOUNT, st.sampled_from(["", "EndpointSuffix=core.chinacloudapi.cn;"]))
def test_a_connection_string_gives_its_account_and_host_never_its_key(account: str, suffix: str) -> None:
    text = f"DefaultEndpointsProtocol=https;AccountName={account};AccountKey=c2VjcmV0==;{suffix}"
    assert connection_string_account(text) == account
    host = connection_string_host(text)
    assert host == f"{account}.blob.{'core.chinacloudapi.cn' if suffix else 'core.windows.net'}"
    with_endpoint = f"{text};BlobEndpoint=https://127.0.0.1:10000/{account}"
    assert connection_string_host(with_endpoint) == "127.0.0.1"
    assert connection_string_account("garbage AccountKey=c2VjcmV0") is None


SECRET = st.from_regex(r"[A-Za-z0-9+/]{8,40}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(ACCOUNT, SECRET, st.sampled_from(["url-sas", "key", "sas"]))
def test_the_saved_blob_endpoint_names_the_account_never_its_credential(
    account: str, secret: str, how: str
) -> None:
    """What a collector pull's checkpoint records of the account it reads (a file on disk): the endpoint
    the client calls, the same however the credential is given, never a key or SAS signature."""
    from azure.storage.blob import BlobServiceClient

    key = secret + "=="
    client = {
        "url-sas": lambda: BlobServiceClient(
            f"https://{account.upper()}.blob.core.windows.net/?sv=1&sig={secret}"
        ),
        "key": lambda: BlobServiceClient.from_connection_string(
            f"DefaultEndpointsProtocol=https;AccountName={account};AccountKey={key};EndpointSuffix=core.windows.net"
        ),
        "sas": lambda: BlobServiceClient.from_connection_string(
            f"BlobEndpoint=https://{account}.blob.core.windows.net/;SharedAccessSignature=sv=1&sig={secret}"
        ),
    }[how]()
    endpoint = blob_endpoint(client)
    assert endpoint == f"https://{account}.blob.core.windows.net"
    assert secret not in endpoint.removeprefix(f"https://{account}")


def test_a_path_style_endpoint_keeps_its_port_and_account() -> None:
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0;"
        "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    )
    assert blob_endpoint(client) == "http://127.0.0.1:10000/devstoreaccount1"
    other = BlobServiceClient("http://127.0.0.1:10001/devstoreaccount1/?sv=1&sig=c2VjcmV0")
    assert blob_endpoint(other) == "http://127.0.0.1:10001/devstoreaccount1"
