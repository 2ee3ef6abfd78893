"""amlmon.azure.credentials.TokenCache: threads asking for the same scope at once share one fetch (the
end-to-end count through the real AzureCliCredential is in tests/e2e/test_az_token.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

from azure.core.credentials import AccessTokenInfo

from amlmon.azure.credentials import TokenCache


class SlowCredential:
    """A token source that takes a while, as `az account get-access-token` does, and counts its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        self.calls.append(scopes)
        time.sleep(0.2)
        return AccessTokenInfo(f"token-{len(self.calls)}", int(time.time()) + 3600)


def ask_at_once(cache: TokenCache, scopes: list[str]) -> list[str]:
    start = threading.Barrier(len(scopes))
    answers: list[str] = []

    def ask(scope: str) -> None:
        start.wait()
        answers.append(cache.get_token_info(scope).token)

    threads = [threading.Thread(target=ask, args=(scope,)) for scope in scopes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_threads_asking_at_once_share_one_fetch() -> None:
    inner = SlowCredential()
    cache = TokenCache(inner)
    answers = ask_at_once(cache, ["https://management.azure.com/.default"] * 6)
    assert len(inner.calls) == 1 and set(answers) == {"token-1"}
    assert cache.get_token("https://management.azure.com/.default").token == "token-1"
    # Positive control: another scope is another token.
    ask_at_once(cache, ["https://api.loganalytics.io/.default"] * 2)
    assert len(inner.calls) == 2


def test_a_claims_challenge_fetches_a_new_token_that_replaces_the_refused_one() -> None:
    inner = SlowCredential()
    cache = TokenCache(inner)
    scope = "https://management.azure.com/.default"
    assert cache.get_token_info(scope).token == "token-1"
    assert cache.get_token_info(scope, options={"claims": '{"access_token":{}}'}).token == "token-2"
    assert cache.get_token_info(scope).token == "token-2" and len(inner.calls) == 2
