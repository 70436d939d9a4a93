"""The ASGI application: the composition root that wires store, service,
background tasks and routes together, and the lifespan that starts and stops them.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from time import perf_counter

from accepted import __version__, signatures
from accepted.config import Settings
from accepted.errors import AcceptedError, MethodNotAllowed, NotFound, Unauthorized
from accepted.http import render
from accepted.http.asgi import Receive, Scope, Send
from accepted.http.auth import CHALLENGE, Gate
from accepted.http.context import Context
from accepted.http.observe import ROUTE_KEY, Observed
from accepted.http.openapi import ApiDocuments
from accepted.http.request import Request, Response
from accepted.http.routes import ROUTES, TAGS, Router
from accepted.logs import safe_target
from accepted.metrics import Metrics
from accepted.metrics_share import NodeMetrics
from accepted.service.auth import AuthService, auth_enabled, is_loopback
from accepted.service.crossnode import CrossNodeWakeups
from accepted.service.destinations import Destinations
from accepted.service.idempotency import Idempotency
from accepted.service.jobs import JobService, RetryPolicy
from accepted.service.maintenance import Maintenance
from accepted.service.queues import QueueService
from accepted.service.schedules import ScheduleService
from accepted.service.selection import SelectionService
from accepted.service.signals import Signals
from accepted.siblings import Siblings
from accepted.store import JobStore, open_store
from accepted.store.local_link import LocalLink
from accepted.tasks.base import TaskGroup
from accepted.tasks.callbacks import CallbackSender
from accepted.tasks.checkpoints import WalCheckpointer
from accepted.tasks.counts import CountFolder
from accepted.tasks.fair_groups import GroupPurger
from accepted.tasks.idempotency import KeyPurger
from accepted.tasks.schedules import ScheduleFirer
from accepted.tasks.sweeps import sweep_tasks
from accepted.tasks.text_index import TextIndexer
from accepted.tasks.tokens import TokenRefresher
from accepted.types import Due

log = logging.getLogger("accepted")

# The longest a background task sleeps when it knows of no deadline (one node:
# every new deadline pokes it, so this is only a safety net).
LONGEST_SLEEP = 60.0


class App:
    """The app: `answer` for our own protocol (http/protocol.py), and an ASGI app for any
    ASGI server. `begin_shutdown` answers pending long-polls before the server stops."""

    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        *,
        clock: Callable[[], float] = time.time,
        link: LocalLink | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        # One of several processes of one server (`--workers N`): the node's local
        # link to the others (the store's notices on SQLite, the metrics' requests).
        self.link = link
        self.started_hooks: list[Callable[[], None]] = []  # run once startup is done
        self.signals = Signals()
        self.signals.events.limit = settings.event_buffer
        # With other nodes on the database, waiters and tasks also re-check on
        # their own, so a lost cross-node notice only delays, never strands.
        recheck = settings.shared_recheck if store.shared else None
        self.auth_on = auth_enabled(settings.auth, settings.host)
        destinations = Destinations.for_server(
            settings.host,
            settings.callback_allow,
            guard=settings.callback_guard,
            auth_on=self.auth_on,
        )
        self.metrics = Metrics()  # this process's counters and histograms (GET /metrics)
        self.service = JobService(
            store,
            self.signals,
            default_lease=settings.default_lease,
            max_attempts=settings.max_attempts,
            recheck_interval=recheck,
            retry_policy=RetryPolicy(
                retries=settings.retries, backoff_cap=settings.retry_backoff_cap
            ),
            result_ttl=settings.default_result_ttl,
            destinations=destinations,
            metrics=self.metrics,
            require_lease=settings.require_lease,
        )
        self.queues = QueueService(store, self.signals)
        self.schedules = ScheduleService(store, self.service)
        wakeups = CrossNodeWakeups(self.signals, store)
        store.attach(wakeups)  # other nodes' changes
        if store.shared:  # this node's changes, to the other nodes' event streams
            self.signals.events.outbound = store.announce_change
            self.signals.events.on_listening = store.announce_listening
            # A several-process SQLite server's local link carries the jobs themselves.
            self.signals.events.outbound_job = getattr(store, "announce_job", None)
        idempotency = Idempotency(self.service, window=settings.idempotency_window)
        self.auth = AuthService(store.tokens)
        self.gate = Gate(self.auth if self.auth_on else None, self.service, clock)
        self.context = Context(
            self.service,
            settings,
            clock,
            queues=self.queues,
            idempotency=idempotency,
            selection=SelectionService(self.service),
            auth=self.auth,
            documents=ApiDocuments(ROUTES, TAGS),
            schedules=self.schedules,
        )
        if link is not None:
            self.context.node_metrics = NodeMetrics(self.metrics, link.siblings, link)
        self.router = Router(ROUTES)
        # The layer around every request (logging, metrics), told when it is answered.
        self.observed = Observed(sinks=(self.metrics.request,))
        maintenance = Maintenance(self.service, callback_retries=settings.callback_retries)
        max_sleep = settings.shared_recheck if store.shared else LONGEST_SLEEP
        self.callbacks = CallbackSender(
            maintenance,
            render.job_json,
            timeout=settings.callback_timeout,
            secret=next(iter(signatures.secret_list(settings.callback_secret)), None),
            destinations=destinations,
            alarm=self.signals.alarms[Due.CALLBACK],
            clock=clock,
            max_sleep=max_sleep,
        )
        # A revoked or expired token's waiters (want_job, result waits, event
        # streams) leave when the tokens are re-read and when the token expires.
        refresher = TokenRefresher(self.auth, self.signals.standing_changed, clock=clock)
        self.auth.on_standing_changed = refresher.standing_changed
        wakeups.on_tokens_changed = refresher.changed
        wakeups.on_schedules_changed = self.schedules.changed
        self.tasks = TaskGroup(
            [
                *sweep_tasks(maintenance, self.signals, clock=clock, max_sleep=max_sleep),
                self.callbacks,
                *([CountFolder(store, clock=clock)] if store.shared else []),
                # SQLite's search index is written behind the jobs, by any of its
                # processes (PostgreSQL's with them: there the task finds nothing to do).
                TextIndexer(store, clock=clock),
                # SQLite's WAL, copied into the file beside the commits, never in one.
                WalCheckpointer(store, clock=clock),
                KeyPurger(idempotency, clock=clock),
                GroupPurger(store, clock=clock),  # flow-limits
                *([refresher] if self.auth_on else []),
                ScheduleFirer(self.schedules, clock=clock),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One request through ASGI (under granian, or any ASGI server)."""
        started = perf_counter()
        status = 0
        try:
            response = await self.answer(scope, receive)
            status = response.status
            await response.send(send)
        finally:
            self.observed.done(scope, status, started)

    async def answer(self, scope: Scope, receive: Receive) -> Response:
        """The answer to one request; never raises but for cancellation.

        `scope` needs `method`, `path`, `raw_path`, `query_string` and `headers`
        (lower-cased names) as ASGI spells them; `receive` gives the body as
        ASGI `http.request` messages, then `http.disconnect` once the client
        has gone. Our own HTTP protocol (http/protocol.py) builds just these.
        """
        try:
            return await self._dispatch(scope, receive)
        except AcceptedError as error:
            return error_response(error)
        except Exception:
            log.exception("unexpected error on %s %s", scope["method"], scope["path"])
            return error_response(AcceptedError("internal error; see the server log"))

    async def _dispatch(self, scope: Scope, receive: Receive) -> Response:
        raw = scope.get("raw_path")
        found = self.router.match(scope["path"] if raw is None else raw.decode("latin-1"))
        if found is None:
            raise NotFound(f"no route {scope['path']}")
        route, params = found
        scope[ROUTE_KEY] = route.path
        handler = route.handlers.get(scope["method"])
        if handler is None:
            allowed = tuple(route.handlers)
            raise MethodNotAllowed(
                f"{scope['method']} is not allowed on {route.path}; use {', '.join(allowed)}",
                allowed,
            )
        request = Request(scope, receive, params)
        if self.gate.auth is not None:
            request.caller = await self.gate.admit(route.ops[scope["method"]].access, request)
        return await handler(self.context, request)

    async def startup(self) -> None:
        await self.store.open()
        if self.link is not None:
            self.link.start()
        if self.context.node_metrics is not None:
            self.context.node_metrics.start()
        await self.queues.load_paused()
        await self.queues.load_limited()
        await self._start_auth()
        await self.callbacks.start()
        self.tasks.start()
        self.context.ready = True
        for hook in self.started_hooks:
            hook()
        freeze_start_up_heap()
        settings = self.settings
        log.info(
            "accepted %s serving http://%s:%d, database %s",
            __version__,
            settings.host,
            settings.port,
            safe_target(settings.db),
        )

    async def _start_auth(self) -> None:
        await self.auth.reload()
        if self.settings.admin_token:
            await self.auth.install_admin(self.settings.admin_token, self.context.clock())
        if not self.auth_on:
            if not is_loopback(self.settings.host):
                log.warning(
                    "auth is off on %s: anyone who reaches the port owns the queue",
                    self.settings.host,
                )
        elif self.auth.count == 0:
            log.warning(
                "auth is on and there are no tokens: set ACCEPTED_ADMIN_TOKEN, or run "
                "`accepted token create NAME --role admin --db TARGET`"
            )

    def begin_shutdown(self) -> None:
        """Stop waiting: blocked takers answer 204, result waiters the job as it is."""
        self.context.stopping = True
        self.signals.close()

    async def shutdown(self) -> None:
        self.begin_shutdown()
        await self.tasks.stop()
        await self.callbacks.close()
        await self.service.drain()
        await self.store.close()
        if self.context.node_metrics is not None:
            self.context.node_metrics.stop()
        if self.link is not None:
            self.link.stop()

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    log.error("startup failed: %s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def freeze_start_up_heap() -> None:
    """Take what start-up allocated (modules, routes, settings, the store's
    objects) out of the collector's view for good.

    It lives as long as the process, yet every full collection would walk it
    again; frozen, a collection scans only what requests allocate, so its
    pauses, which land in some request's latency, are shorter.
    """
    gc.collect()
    gc.freeze()


def error_response(error: AcceptedError) -> Response:
    extra = []
    if isinstance(error, MethodNotAllowed):
        extra.append((b"allow", ", ".join(error.allow).encode()))
    elif isinstance(error, Unauthorized):
        extra.append(CHALLENGE)
    return Response.json(error.status, render.error_json(error), *extra)


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], float] | None = None,
    siblings: Siblings | None = None,
) -> App:
    """Build the app for `settings` (default: from the environment).

    The clock defaults to the store's, which on PostgreSQL is the database
    server's: every node then computes leases and deadlines on one time line.
    `siblings`: this process is one of several of one server (`--workers N`).
    """
    settings = settings or Settings.from_env()
    link = None
    if siblings is not None:  # a lost notice is also covered by the takers' re-checks
        link = LocalLink(siblings, resync_every=settings.shared_recheck)
    store = open_store(settings.db, pool_size=settings.node_pool_size, link=link)
    return App(settings, store, clock=clock or store.clock, link=link)
