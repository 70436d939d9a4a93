"""Where callbacks may go: the rule, without any I/O.

A callback is a request the server makes on a producer's behalf, so without a
rule anyone who can enqueue can make the server reach what only it can reach:
its own port, the database's, a cloud metadata service on 169.254.169.254.
Addresses inside the machine or the private network are therefore refused,
unless the operator allows a range. With `--callback-guard auto` (the default)
the rule is off only for a server that listens only on loopback with auth off:
then whoever enqueues is already on the machine, and local receivers are the
normal case. A server that checks tokens expects untrusted callers, even on
loopback behind a reverse proxy, so auth on turns the rule on.

The rule is applied to IP addresses: to an IP literal when the job is
enqueued, and to each address a host name resolves to when it is sent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from accepted.errors import CallbackURLRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# (kind, ranges): the kind names the rule in a refusal.
REFUSED_RANGES: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = (
    ("loopback", _nets("127.0.0.0/8", "::1/128")),
    ("private", _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                      "fc00::/7")),
    ("link-local", _nets("169.254.0.0/16", "fe80::/10")),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8")),
    ("broadcast", _nets("255.255.255.255/32")),
    # 0.0.0.0/8 as a destination reaches this host on Linux, like 0.0.0.0 itself.
    ("unspecified", _nets("0.0.0.0/8", "::/128")),
)  # fmt: skip


def address(text: str) -> IPAddress | None:
    """`text` as an IP address, or None if it is a name.

    An IPv6 address that carries an IPv4 one (mapped `::ffff:a.b.c.d`,
    compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`) is judged as that IPv4
    address: that is where a connection to it may end up.
    """
    try:
        parsed = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address):
        return _embedded_ipv4(parsed) or parsed
    return parsed


_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if (ip in _COMPATIBLE and int(ip) > 1) or ip in _NAT64:  # :: and ::1 are IPv6's own
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def kind_of(ip: IPAddress) -> str | None:
    """The refused kind of address `ip` is, or None for an ordinary public address."""
    for kind, ranges in REFUSED_RANGES:
        if any(ip in net for net in ranges if net.version == ip.version):
            return kind
    return None


@dataclass(frozen=True, slots=True)
class Destinations:
    """The destination rule of one server: `guarded` off means anything goes."""

    guarded: bool = False
    allowed: Sequence[IPNetwork] = field(default_factory=tuple)

    @classmethod
    def for_server(
        cls, host: str, allow: str, *, guard: str = "auto", auth_on: bool = False
    ) -> Destinations:
        """The rule for a server on `host` with `--callback-allow allow`, `--callback-guard guard`.

        Raises ValueError naming a CIDR that is not one.
        """
        return cls(guarded=guard_on(guard, host, auth_on), allowed=parse_allow(allow))

    def refused_kind(self, ip: IPAddress) -> str | None:
        """The refused kind of address `ip` is ("loopback", ...), or None when allowed."""
        ip = address(str(ip)) or ip
        if not self.guarded or any(ip in net for net in self.allowed if net.version == ip.version):
            return None
        return kind_of(ip)

    def pick(self, ips: Iterable[IPAddress]) -> tuple[list[IPAddress], list[str]]:
        """The allowed ones of `ips`, in order; and the kinds of the refused rest."""
        allowed: list[IPAddress] = []
        kinds: list[str] = []
        for ip in ips:
            kind = self.refused_kind(ip)
            if kind is None:
                allowed.append(ip)
            elif kind not in kinds:
                kinds.append(kind)
        return allowed, kinds

    def check_url(self, url: str, where: str = "callback URL") -> None:
        """At enqueue: refuse a URL whose host is a refused IP literal.

        A host name is let through here; it is checked at each delivery, after
        it is resolved, since what it resolves to may change.
        """
        host = urlsplit(url).hostname or ""
        ip = address(host)
        kind = None if ip is None else self.refused_kind(ip)
        if kind is not None:
            raise CallbackURLRefused(f"{where}: {refusal_of_address(host, kind)}")


def refusal_of_address(host: str, kind: str) -> str:
    return f"{host} is a {kind} address, {_RULE}"


def refusal_of_name(host: str, kinds: Sequence[str]) -> str:
    return f"{host} resolves only to {' and '.join(kinds)} addresses, {_RULE}"


_RULE = "which callbacks may not reach (unless allowed by --callback-allow)"


def guard_on(mode: str, host: str, auth_on: bool) -> bool:
    """`--callback-guard on|off`; auto: on beyond loopback, or whenever auth is on."""
    if mode in ("on", "off"):
        return mode == "on"
    return auth_on or not listens_only_on_loopback(host)


def listens_only_on_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    ip = address(host)
    return ip is not None and ip.is_loopback


def parse_allow(setting: str) -> tuple[IPNetwork, ...]:
    """`--callback-allow 10.1.0.0/16,fd00::/8` as networks; a bare address is a /32 (/128)."""
    nets = []
    for text in filter(None, (t.strip() for t in setting.split(","))):
        try:
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"--callback-allow: {text!r} is not a CIDR range") from None
    return tuple(nets)
