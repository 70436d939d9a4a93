"""The destination rule for callbacks, and the delivery's choice of addresses.

Refusals are checked as decisions (what a name resolves to -> refused or which
address is used); nothing here opens a connection.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from accepted.errors import CallbackURLRefused
from accepted.service.destinations import Destinations, address, listens_only_on_loopback
from accepted.tasks.callback_targets import Refused, Target, targets

GUARDED = Destinations.for_server("0.0.0.0", "")

REFUSED = {
    "127.0.0.1": "loopback", "127.9.9.9": "loopback", "::1": "loopback",
    "10.1.2.3": "private", "172.16.0.1": "private", "172.31.255.255": "private",
    "192.168.1.1": "private", "100.64.0.1": "private", "100.127.255.254": "private",
    "fc00::1": "private", "fd12:3456::1": "private",
    "169.254.169.254": "link-local", "fe80::1": "link-local",
    "224.0.0.1": "multicast", "239.255.255.250": "multicast", "ff02::1": "multicast",
    "255.255.255.255": "broadcast",
    "0.0.0.0": "unspecified", "::": "unspecified",
    "::ffff:127.0.0.1": "loopback", "::ffff:169.254.169.254": "link-local",
    "::ffff:10.0.0.1": "private",
    "::127.0.0.1": "loopback", "64:ff9b::169.254.169.254": "link-local",
    "64:ff9b::a00:1": "private",
}  # fmt: skip
PUBLIC = ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111",
          "::ffff:8.8.8.8", "64:ff9b::8.8.8.8"]  # fmt: skip


@pytest.mark.parametrize(("text", "kind"), sorted(REFUSED.items()))
def test_inside_addresses_are_refused_beyond_loopback(text: str, kind: str) -> None:
    ip = address(text)
    assert ip is not None
    assert GUARDED.refused_kind(ip) == kind


@pytest.mark.parametrize("text", PUBLIC)
def test_public_addresses_are_allowed(text: str) -> None:
    ip = address(text)
    assert ip is not None and GUARDED.refused_kind(ip) is None


def test_a_server_on_loopback_only_allows_everything() -> None:
    rule = Destinations.for_server("127.0.0.1", "")
    assert not rule.guarded
    assert all(rule.refused_kind(address(t)) is None for t in REFUSED)  # type: ignore[arg-type]
    assert listens_only_on_loopback("::1") and listens_only_on_loopback("localhost")
    assert not listens_only_on_loopback("0.0.0.0") and not listens_only_on_loopback("::")
    assert not listens_only_on_loopback("192.168.1.5")


@pytest.mark.parametrize(
    ("host", "guard", "auth_on", "guarded"),
    [
        ("127.0.0.1", "auto", False, False),
        ("127.0.0.1", "auto", True, True),  # behind a reverse proxy, with tokens
        ("0.0.0.0", "auto", False, True),
        ("127.0.0.1", "on", False, True),
        ("0.0.0.0", "off", True, False),
    ],
)
def test_callback_guard_auto_is_on_beyond_loopback_or_with_auth(
    host: str, guard: str, auth_on: bool, guarded: bool
) -> None:
    assert Destinations.for_server(host, "", guard=guard, auth_on=auth_on).guarded is guarded


def test_allowed_ranges_open_what_they_name_only() -> None:
    rule = Destinations.for_server("0.0.0.0", "10.1.0.0/16, 127.0.0.1,fd00::/8")
    allowed = ["10.1.200.3", "127.0.0.1", "::ffff:127.0.0.1", "fd00::5"]
    assert all(rule.refused_kind(address(t)) is None for t in allowed)  # type: ignore[arg-type]
    for text in ("10.2.0.1", "127.0.0.2", "::1", "fc00::1", "169.254.169.254"):
        assert rule.refused_kind(address(text)) is not None, text  # type: ignore[arg-type]


def test_a_bad_allow_range_is_named() -> None:
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/33'")):
        Destinations.for_server("0.0.0.0", "10.0.0.0/8,10.0.0.0/33")


def test_ip_literals_are_checked_at_enqueue_and_names_are_not() -> None:
    for url in ("http://127.0.0.1/x", "https://[::1]:8443/", "http://169.254.169.254/latest",
                "http://[::ffff:7f00:1]/", "http://0.0.0.0:80/"):
        with pytest.raises(CallbackURLRefused, match="callbacks may not reach"):
            GUARDED.check_url(url)
    GUARDED.check_url("http://localhost/hook")  # checked at delivery, once resolved
    GUARDED.check_url("http://93.184.216.34/hook")


def _resolver(*answer: str):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        return list(answer)

    return resolve


def _targets(url: str, rule: Destinations, *answer: str) -> list[Target] | Refused:
    return asyncio.run(targets(url, rule, _resolver(*answer)))


def test_a_name_resolving_inside_is_refused_naming_the_rule() -> None:
    found = _targets("http://internal.example/hook", GUARDED, "10.0.0.5", "169.254.1.1")
    assert isinstance(found, Refused)
    assert found.reason == (
        "internal.example resolves only to private and link-local addresses, "
        "which callbacks may not reach (unless allowed by --callback-allow)"
    )


def test_only_the_allowed_addresses_of_a_name_are_used() -> None:
    found = _targets("http://mixed.example:8080/hook", GUARDED,
                     "10.0.0.5", "93.184.216.34", "::1", "2606:4700::1111")
    assert isinstance(found, list)
    assert [str(t.url) for t in found] == [
        "http://93.184.216.34:8080/hook", "http://[2606:4700::1111]:8080/hook"]
    assert all(t.headers == {"host": "mixed.example:8080"} for t in found)


def test_the_connection_is_pinned_to_the_checked_address_keeping_name_and_sni() -> None:
    (target,) = _targets("https://hooks.example/done?x=1", GUARDED, "93.184.216.34")
    assert str(target.url) == "https://93.184.216.34/done?x=1"
    assert target.headers == {"host": "hooks.example"}
    assert target.extensions == {"sni_hostname": "hooks.example"}


def test_a_mapped_address_counts_as_its_ipv4() -> None:
    found = _targets("http://sneaky.example/", GUARDED, "::ffff:127.0.0.1")
    assert isinstance(found, Refused) and "loopback" in found.reason


def test_a_refused_literal_at_delivery_is_refused_without_resolving() -> None:
    async def never(host: str, port: int) -> list[str]:
        raise AssertionError("a literal is not resolved")

    found = asyncio.run(targets("http://[::ffff:a9fe:a9fe]/", GUARDED, never))
    assert isinstance(found, Refused) and "link-local" in found.reason


def test_a_name_that_resolves_to_nothing_is_a_failure_not_a_refusal() -> None:
    with pytest.raises(OSError):
        _targets("http://nothing.example/", GUARDED)
