"""The dock side decides by reason code: a retryable abort stays a link failure, an
authentication abort is AuthFailed, a refusal keeps its code, whatever the texts say."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from hhu_sync.cli.link_cmds import (
    EXIT_AUTH,
    EXIT_CUT,
    EXIT_TIMEOUT,
    abort_exit_code,
)
from hhu_sync.io.dock import AuthFailed, DockSession, Refused
from hhu_sync.io.driver import LinkAborted
from hhu_sync.link import BundleRefused, LinkSettings, ReasonCode, UploadRefused


class _Pump:
    def __init__(self, outcome) -> None:
        self.outcome = outcome

    def send(self, _command) -> None:
        pass

    async def run_until(self, _until, _deadline):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def _session(outcome) -> DockSession:
    session = object.__new__(DockSession)
    session.pump = _Pump(outcome)
    # a connection that did not see its HELLO rejected (that case: test_link_fallback.py)
    session.conn = SimpleNamespace(hello_rejected=False, settings=LinkSettings())
    return session


@pytest.mark.parametrize("code", [ReasonCode.RETRY_LIMIT, ReasonCode.TIMED_OUT,
                                  ReasonCode.IDLE_TIMEOUT, ReasonCode.PROTOCOL_ERROR,
                                  ReasonCode.VERSION_UNSUPPORTED, ReasonCode.CANCELLED])
@pytest.mark.parametrize("text", ["", "Wiederholungsgrenze erreicht", "authentication failed"])
def test_a_retryable_abort_in_the_handshake_is_no_authentication_failure(code, text) -> None:
    with pytest.raises(LinkAborted) as caught:
        asyncio.run(_session(LinkAborted(text, by_peer=True, code=code)).handshake(1.0))
    assert not isinstance(caught.value, AuthFailed) and caught.value.code is code


@pytest.mark.parametrize("code", [ReasonCode.AUTH_FAILED, ReasonCode.NOT_ENROLLED,
                                  ReasonCode.UNSPECIFIED])
@pytest.mark.parametrize("text", ["retry limit exceeded", "timed out: idle", ""])
def test_an_authentication_abort_is_auth_failed_whatever_its_text(code, text) -> None:
    with pytest.raises(AuthFailed) as caught:
        asyncio.run(_session(LinkAborted(text, by_peer=True, code=code)).handshake(1.0))
    assert caught.value.code is code


def test_refusals_keep_their_code() -> None:
    with pytest.raises(Refused) as caught:
        asyncio.run(_session(BundleRefused("b", "", ReasonCode.FLASH_FULL)).put("b", b"x", 1.0))
    assert caught.value.code is ReasonCode.FLASH_FULL and "FLASH_FULL" in str(caught.value)
    with pytest.raises(Refused) as caught:
        asyncio.run(_session(UploadRefused("u", "nicht da", ReasonCode.UNKNOWN_OBJECT)).get(
            "u", 1.0))
    assert caught.value.code is ReasonCode.UNKNOWN_OBJECT


@pytest.mark.parametrize(("code", "exit_code"), [
    (ReasonCode.RETRY_LIMIT, EXIT_TIMEOUT), (ReasonCode.TIMED_OUT, EXIT_TIMEOUT),
    (ReasonCode.IDLE_TIMEOUT, EXIT_TIMEOUT), (ReasonCode.AUTH_FAILED, EXIT_AUTH),
    (ReasonCode.NOT_ENROLLED, EXIT_AUTH), (ReasonCode.PROTOCOL_ERROR, EXIT_CUT),
    (ReasonCode.UNSPECIFIED, EXIT_CUT), (ReasonCode.CONNECTION_LOST, EXIT_CUT),
])
def test_the_cli_exit_code_of_an_abort_is_decided_by_its_code(code, exit_code) -> None:
    assert abort_exit_code(code) == exit_code
