"""Where one callback delivery connects: resolved, checked, then pinned.

A host name is resolved at each delivery and every address checked against the
destination rule; the request then goes to an address that passed, with the
URL's host name kept for the Host header and TLS (SNI and certificate check).
Connecting to the checked address, rather than handing the name to the HTTP
client to resolve again, closes the gap in which a name could resolve to a
public address for the check and to an inside one for the connection.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from accepted.service.destinations import (
    Destinations,
    IPAddress,
    address,
    refusal_of_address,
    refusal_of_name,
)

Resolve = Callable[[str, int], Awaitable[list[str]]]
"""(host name, port) -> the addresses it resolves to, as text; raises OSError."""

# At most this many of a name's allowed addresses are tried, one after another.
MAX_ADDRESSES = 4


@dataclass(frozen=True, slots=True)
class Refused:
    """The destination rule forbids this delivery; `reason` says which rule."""

    reason: str


@dataclass(frozen=True, slots=True)
class Target:
    """One address to connect to, and how to reach the URL's host there."""

    url: httpx.URL  # the URL with its host replaced by the checked address
    headers: dict[str, str]  # Host: the URL's own host (and port)
    extensions: dict[str, str]  # sni_hostname for https to a name


async def system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def targets(url: str, rule: Destinations, resolve: Resolve) -> list[Target] | Refused:
    """The addresses a delivery to `url` may connect to, in order, or why none may.

    Raises OSError when the name does not resolve (a failure to retry, not a refusal).
    """
    parsed = httpx.URL(url)
    host = parsed.host
    literal = address(host)
    if literal is not None:
        kind = rule.refused_kind(literal)
        return Refused(refusal_of_address(host, kind)) if kind else [_pinned(parsed, literal)]
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    resolved = [ip for ip in map(address, await resolve(host, port)) if ip is not None]
    if not resolved:
        raise OSError(f"{host} resolves to no address")
    allowed, kinds = rule.pick(resolved)
    if not allowed:
        return Refused(refusal_of_name(host, kinds))
    return [_pinned(parsed, ip) for ip in allowed[:MAX_ADDRESSES]]


def _pinned(url: httpx.URL, ip: IPAddress) -> Target:
    host_header = url.netloc.decode("ascii")
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    return Target(url.copy_with(host=str(ip)), {"host": host_header}, extensions)
