"""The auth layer: every request passes here, with its route's rule, before its handler.

Handlers never check roles: a route declares one `Rule` per method in the
route table, and this layer admits the request (or answers 401/403) and
hands the handler the `Caller`. Queue limits that need the resource are
checked here too where the path names it: a limited token asking for a job
of another queue gets 404, as if the job did not exist. Only queues named in
a body (enqueue, want_job, batch reports) are left to the handler, which is
the one that reads the body.
"""

from __future__ import annotations

from collections.abc import Callable

from accepted.errors import JobNotFound
from accepted.http.request import Request
from accepted.service.auth import ANYONE, Access, AuthService, Caller, Rule, permit
from accepted.service.ids import canonical_id
from accepted.service.jobs import JobService

CHALLENGE = (b"www-authenticate", b'Bearer realm="accepted"')
# An operation declared without a rule fails closed: only an unlimited admin.
UNDECLARED = Rule(Access.ADMIN, unlimited=True)


class Gate:
    """Admits requests by their route's rule. `auth` None: auth is off, all may do all."""

    def __init__(
        self, auth: AuthService | None, service: JobService, clock: Callable[[], float]
    ) -> None:
        self.auth = auth
        self.service = service
        self.clock = clock

    async def admit(self, rule: Rule | None, request: Request) -> Caller:
        rule = rule or UNDECLARED
        if self.auth is None or rule.access is Access.PUBLIC:
            return ANYONE
        header = request.headers.get(b"authorization")
        caller = await self.auth.authenticate(
            None if header is None else header.decode("latin-1"), self.clock()
        )
        permit(caller, rule)
        if caller.scope is not None:
            await self._check_scope(caller, rule, request)
        return caller

    async def _check_scope(self, caller: Caller, rule: Rule, request: Request) -> None:
        if rule.job is not None:
            raw = request.params[rule.job]
            job = await self.service.get(_normalized(raw))
            if not caller.sees(job.queue):
                raise JobNotFound(f"no job {raw}")
        if rule.queue is not None:
            caller.check_queue(request.params[rule.queue])


def standing(
    auth: AuthService | None, caller: Caller, clock: Callable[[], float]
) -> Callable[[], bool] | None:
    """Whether `caller`'s token still holds, for a request that outlives its admission
    (a blocked want_job, an event stream); None when nothing can end it (no token).

    The service is given only this callable, never the token.
    """
    if auth is None or caller.token_hash is None:
        return None
    return lambda: auth.is_current(caller, clock())


def recheck(auth: AuthService | None, caller: Caller, clock: Callable[[], float]) -> None:
    """401 if `caller`'s token was revoked or expired since the request was admitted."""
    if auth is not None:
        auth.check_current(caller, clock())


def _normalized(raw: str) -> str:
    try:
        return canonical_id(raw)
    except ValueError:
        return raw  # names no job: 404
