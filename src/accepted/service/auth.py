"""Who may do what: tokens, roles, queue limits, and the cache that makes a check free.

A request's token is checked against an in-memory map of token hashes, so
authentication costs a SHA-256 and a dict lookup, never a query. The map
follows the store: every change bumps a version number in the same
transaction; this node re-reads the tokens when its own change commits, when
another node announces one (PostgreSQL NOTIFY), and when a cheap periodic
check (`refresh`, twice a second) finds the version moved. So a revoked token
is refused by every node within a second even if a notice is lost.

A token this node does not know triggers one version check (at most one in
flight, at most ten a second), so a token just created on another node works
at once, while a stream of made-up tokens cannot turn into a stream of queries.
"""

from __future__ import annotations

import asyncio
import bisect
import ipaddress
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from accepted.errors import Forbidden, InvalidField, Unauthorized, UnknownDependency
from accepted.queries import JobFilter
from accepted.store.base import TokenStore
from accepted.tokens import QueueScope, Role, Token, hash_secret, new_secret

log = logging.getLogger("accepted.auth")

# Seconds between the periodic version checks: revocation reaches every node
# within this (and within milliseconds when the change notice arrives).
REFRESH_INTERVAL = 0.5
# An unknown token makes at most one version check per this many seconds.
MISS_INTERVAL = 0.1
MAX_TOKEN_NAME = 255
MAX_QUEUE_PATTERNS = 100
MAX_EXPIRES_IN = 100 * 365 * 24 * 3600.0
# The name under which ACCEPTED_ADMIN_TOKEN is stored.
ADMIN_TOKEN_NAME = "admin"
MIN_ADMIN_SECRET = 16


class Access(StrEnum):
    """What a route needs; SPEC's role table says which roles have it."""

    PUBLIC = "public"  # no token: /healthz, /openapi.json, /docs, the dashboard's files
    READ = "read"  # GET of jobs, attempts, events, queues, schedules, metrics
    PRODUCE = "produce"  # enqueue, delete, cancel
    WORK = "work"  # want_job, reports
    ADMIN = "admin"  # retry, bulk, pause/resume, limits, schedule writes, tokens


GRANTS: dict[Role, frozenset[Access]] = {
    Role.READER: frozenset({Access.READ}),
    Role.PRODUCER: frozenset({Access.READ, Access.PRODUCE}),
    Role.WORKER: frozenset({Access.READ, Access.WORK}),
    Role.ADMIN: frozenset({Access.READ, Access.PRODUCE, Access.WORK, Access.ADMIN}),
}


@dataclass(frozen=True, slots=True)
class Rule:
    """The access rule a route declares for one method.

    `job` / `queue` name the path parameter holding a job id / queue name: a
    token limited to some queues then sees only jobs of those queues (others
    answer 404, as if absent) and acts only on those queues (others 403).
    `unlimited`: only a token for every queue may (token management: a limited
    admin must not mint itself an unlimited token).
    """

    access: Access
    job: str | None = None
    queue: str | None = None
    unlimited: bool = False


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request: the token's name, role and queue scope (None: every queue).

    `token_hash` names the token it came from (None: auth is off), so a
    connection that outlives its admission can ask whether it still holds.
    """

    name: str
    role: Role
    scope: QueueScope | None
    token_hash: str | None = None

    def may(self, access: Access) -> bool:
        return access is Access.PUBLIC or access in GRANTS[self.role]

    def sees(self, queue: str) -> bool:
        return self.scope is None or self.scope.allows(queue)

    def check_queue(self, queue: str) -> None:
        """Acting on a queue outside the token's queues is forbidden (403)."""
        if not self.sees(queue):
            raise Forbidden(f"token {self.name!r} may not act on queue {queue!r}")

    def check_dependencies(
        self, afters: Sequence[Sequence[str]], queues: Mapping[str, str]
    ) -> None:
        """A limited token may wait only on jobs it could read.

        `afters` holds each job's `after` (a batch's items in order), `queues`
        the queue of each named job that exists. A job of a queue outside the
        token's queues is refused exactly as an id of no job is (400
        `unknown_dependency`), so `after` neither tells the token that the job
        exists nor ties a new job to another tenant's work.
        """
        if self.scope is None:
            return
        for index, after in enumerate(afters):
            for dependency in after:
                queue = queues.get(dependency)
                if queue is not None and not self.scope.allows(queue):
                    raise UnknownDependency(
                        f"no job {dependency}", index=index, dependency=dependency
                    )

    def confine(self, where: JobFilter, existing: Iterable[str]) -> JobFilter | None:
        """`where` narrowed to the token's queues, for a listing or a bulk action;
        None when it can select nothing.

        A filter naming a queue outside them is forbidden (403). One naming none
        gets the token's queues: its exact names, and the `existing` queues its
        patterns match (the filter takes exact names; a queue made after this
        call is left out, as jobs enqueued after a listing began are).
        """
        if self.scope is None:
            return where
        if where.queues is not None:
            for queue in where.queues:
                self.check_queue(queue)
            return where
        mine = self.scope.exact | {q for q in existing if self.scope.allows(q)}
        return replace(where, queues=tuple(sorted(mine))) if mine else None


# Auth off: every request is this caller.
ANYONE = Caller("anyone", Role.ADMIN, None)


def permit(caller: Caller, rule: Rule) -> None:
    """Raise Forbidden unless the caller's role (and scope) allow the rule."""
    if not caller.may(rule.access):
        raise Forbidden(
            f"token {caller.name!r} has role {caller.role}, which may not {rule.access}"
        )
    if rule.unlimited and caller.scope is not None:
        raise Forbidden(f"token {caller.name!r} is limited to some queues; this needs all")


def bearer(header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header; 401 without one."""
    if header is None:
        raise Unauthorized("this needs a token: send Authorization: Bearer <token>")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("the Authorization header must be 'Bearer <token>'")
    return token


def is_loopback(host: str) -> bool:
    """Whether listening on `host` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def auth_enabled(mode: str, host: str) -> bool:
    """`--auth on|off`; unset, auth is on unless the server listens on loopback only.

    So a server reachable from elsewhere runs without tokens only when told so.
    """
    if mode:
        return mode == "on"
    return not is_loopback(host)


@dataclass(frozen=True, slots=True)
class NewToken:
    """A request for a token, checked by `check_new_token`."""

    name: str
    role: Role
    queues: tuple[str, ...] | None = None
    expires_in: float | None = None


def check_new_token(
    name: str, role: str, queues: Sequence[str] | None, expires_in: float | None
) -> NewToken:
    """Validate what POST /tokens and `accepted token create` ask for (400 naming the field)."""
    if not name or len(name) > MAX_TOKEN_NAME or "/" in name or not name.isprintable():
        raise InvalidField(f"name must be 1 to {MAX_TOKEN_NAME} printable characters without '/'")
    if role not in Role.__members__.values():
        raise InvalidField(f"role must be one of {', '.join(Role)}, not {role!r}")
    if queues is not None:
        if not 1 <= len(queues) <= MAX_QUEUE_PATTERNS:
            raise InvalidField(f"queues holds 1 to {MAX_QUEUE_PATTERNS} names (or is null)")
        for q in queues:
            if not q or len(q) > 255 or "*" in q[:-1]:
                raise InvalidField(
                    f"queues: {q!r} must be a queue name of 1 to 255 characters, "
                    "'*' allowed only at its end"
                )
    if expires_in is not None and not 0 < expires_in <= MAX_EXPIRES_IN:
        raise InvalidField(f"expires_in must be seconds > 0 and <= {MAX_EXPIRES_IN:.0f}")
    return NewToken(name, Role(role), None if queues is None else tuple(queues), expires_in)


class AuthService:
    """Creates, lists and revokes tokens, and recognises them from an in-memory cache."""

    def __init__(self, store: TokenStore) -> None:
        self.store = store
        self._by_hash: dict[str, tuple[Token, Caller]] = {}
        self._version: int | None = None
        self._refreshing: asyncio.Task[None] | None = None
        self._last_miss_check = -MISS_INTERVAL
        # The cached tokens' expiry times, sorted, and the time through which
        # their expiries were announced (`expire`).
        self._expiries: list[float] = []
        self._expired_through = -math.inf
        # Called whenever a token may have stopped holding: after every re-read
        # of the tokens, and when one expires (the composition root wires it to
        # the waiters, so a revoked or expired token's long-polls and streams
        # leave at once).
        self.on_standing_changed: Callable[[], None] | None = None

    # -- recognising callers ---------------------------------------------------

    async def authenticate(self, header: str | None, now: float) -> Caller:
        """The caller a request's Authorization header names; 401 if none is valid."""
        digest = hash_secret(bearer(header))
        found = self._by_hash.get(digest)
        if found is None:
            await self._check_on_miss()
            found = self._by_hash.get(digest)
            if found is None:
                raise Unauthorized("unknown token")
        token, caller = found
        if token.expires_at is not None and token.expires_at <= now:
            raise Unauthorized(f"token {token.name!r} has expired")
        return caller

    def check_current(self, caller: Caller, now: float) -> None:
        """Raise Unauthorized once the caller's token was revoked or has expired.

        For what outlives its admission (a blocked want_job, an event stream):
        asked again before each job or event, from the cache, so never a query.
        A caller of no token (auth off) always holds.
        """
        if caller.token_hash is None:
            return
        found = self._by_hash.get(caller.token_hash)
        if found is None:
            raise Unauthorized(f"token {caller.name!r} was revoked")
        token = found[0]
        if token.expires_at is not None and token.expires_at <= now:
            raise Unauthorized(f"token {token.name!r} has expired")

    def token_of(self, caller: Caller) -> Token | None:
        """The stored token a caller was admitted with, from the cache; None with auth off."""
        if caller.token_hash is None:
            return None
        found = self._by_hash.get(caller.token_hash)
        return None if found is None else found[0]

    def is_current(self, caller: Caller, now: float) -> bool:
        """`check_current` as a yes or no."""
        try:
            self.check_current(caller, now)
        except Unauthorized:
            return False
        return True

    async def _check_on_miss(self) -> None:
        loop = asyncio.get_running_loop()
        if self._refreshing is None or self._refreshing.done():
            if loop.time() - self._last_miss_check < MISS_INTERVAL:
                return
            self._last_miss_check = loop.time()
            self._refreshing = asyncio.ensure_future(self.refresh())
        await asyncio.shield(self._refreshing)

    async def refresh(self) -> None:
        """Re-read the tokens if their version moved since the last reading."""
        if await self.store.token_version() != self._version:
            await self.reload()

    async def reload(self) -> None:
        version, tokens = await self.store.load_tokens()
        self._by_hash = {t.hash: (t, _caller(t)) for t in tokens}
        self._expiries = sorted(t.expires_at for t in tokens if t.expires_at is not None)
        self._version = version
        if self.on_standing_changed is not None:
            self.on_standing_changed()

    # -- expiry: a timer at each token's expiry, never a poll --------------------

    def next_expiry(self) -> float | None:
        """When the next cached token expires that `expire` has not announced yet."""
        index = bisect.bisect_right(self._expiries, self._expired_through)
        return self._expiries[index] if index < len(self._expiries) else None

    def expire(self, now: float) -> bool:
        """Announce the tokens expired by `now` (`on_standing_changed`); True if any.

        The token refresher calls it at each `next_expiry`, so a lapsed token's
        waiters leave when it expires, not at their next wake-up.
        """
        due = self.next_expiry()
        self._expired_through = max(self._expired_through, now)
        if due is None or due > now:
            return False
        if self.on_standing_changed is not None:
            self.on_standing_changed()
        return True

    # -- managing tokens -------------------------------------------------------

    async def create(self, new: NewToken, now: float) -> tuple[Token, str]:
        """Store a new token; returns it and its secret, which is shown only this once."""
        secret = new_secret()
        token = Token(
            name=new.name,
            role=new.role,
            queues=new.queues,
            created_at=now,
            expires_at=None if new.expires_in is None else now + new.expires_in,
            hash=hash_secret(secret),
        )
        await self.store.insert_token(token)
        await self.reload()
        return token, secret

    async def list(self) -> list[Token]:
        _, tokens = await self.store.load_tokens()
        return sorted(tokens, key=lambda t: t.name)

    async def revoke(self, name: str) -> Token:
        token = await self.store.delete_token(name)
        await self.reload()
        return token

    async def install_admin(self, secret: str, now: float) -> None:
        """ACCEPTED_ADMIN_TOKEN: store it as the unlimited admin token named `admin`."""
        if len(secret) < MIN_ADMIN_SECRET:
            raise ValueError(f"ACCEPTED_ADMIN_TOKEN must be at least {MIN_ADMIN_SECRET} characters")
        digest = hash_secret(secret)
        if digest not in self._by_hash:
            token = Token(ADMIN_TOKEN_NAME, Role.ADMIN, None, now, None, digest)
            await self.store.insert_token(token, replace=True)
        await self.reload()

    @property
    def count(self) -> int:
        return len(self._by_hash)


def _caller(token: Token) -> Caller:
    scope = None if token.queues is None else QueueScope(token.queues)
    return Caller(token.name, token.role, scope, token.hash)
