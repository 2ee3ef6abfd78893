"""The emulator answers like Azure before any route family is added: sign-in, 401 without a token."""

from __future__ import annotations

import ssl
import urllib.error
import urllib.request

from tests.conftest import Emulator


def test_request_without_token_gets_401_with_challenge(emulator: Emulator) -> None:
    context = ssl.create_default_context(cafile=emulator.ca_path)
    url = emulator.endpoint + "/subscriptions/x/resourceGroups?api-version=2021-04-01"
    try:
        urllib.request.urlopen(url, context=context, timeout=10)
        raise AssertionError("expected 401")
    except urllib.error.HTTPError as exc:
        assert exc.code == 401
        assert "Bearer" in exc.headers["WWW-Authenticate"]


def test_credential_gets_a_token(emulator: Emulator) -> None:
    token = emulator.credential().get_token("https://management.azure.com/.default")
    assert token.token and token.expires_on > 0


def test_version_and_help_exit_zero(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("--version").exit_code == 0
    result = cli("--help")
    assert result.exit_code == 0
    assert "emulator" in result.stdout and "workspace" in result.stdout
