"""`accepted token create | list | revoke`: over the API, or straight on the database;
and `accepted whoami`, the token a command sends as the server sees it.

With `--db TARGET` the commands need no server (to make the first admin
token); they may also run beside one: servers re-read tokens by themselves
within a second. Otherwise they call the admin API at `--url` with `--token`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

import msgspec

from accepted.errors import AcceptedError
from accepted.service.auth import AuthService, check_new_token

if TYPE_CHECKING:
    from accepted.client import Client
    from accepted.client.commands import Output


def add_token_command(commands: Any, common: argparse.ArgumentParser, exit_codes: str) -> None:
    token = commands.add_parser(
        "token",
        help="create, list or revoke API tokens",
        description="Manage API tokens through the server's admin API (--url, --token), "
        "or straight in the database with --db (no server needed: the first admin token).",
        epilog=exit_codes,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    verbs = token.add_subparsers(dest="verb", required=True, metavar="VERB")
    where = argparse.ArgumentParser(add_help=False, parents=[common])
    where.add_argument("--db", metavar="TARGET", help="work on this database directly")
    where.add_argument("--json", action="store_true", help="print the API's JSON answer")
    shown = {"epilog": exit_codes, "formatter_class": argparse.RawDescriptionHelpFormatter}
    create = verbs.add_parser(
        "create", help="make a token; its secret is printed once", parents=[where], **shown
    )
    create.add_argument("name", metavar="NAME")
    create.add_argument("--role", required=True, choices=["reader", "producer", "worker", "admin"])
    create.add_argument(
        "--queues",
        nargs="+",
        metavar="QUEUE",
        help="limit it to these queues ('prefix*' matches any rest)",
    )
    create.add_argument(
        "--expires-in",
        type=float,
        metavar="SECONDS",
        help="seconds until it expires (default: never)",
    )
    verbs.add_parser("list", help="list tokens (never their secrets)", parents=[where], **shown)
    revoke = verbs.add_parser("revoke", help="revoke a token", parents=[where], **shown)
    revoke.add_argument("name", metavar="NAME")


def token_command(
    args: argparse.Namespace, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr
) -> int:
    try:
        answer = asyncio.run(_on_db(args)) if args.db else _over_api(args)
    except AcceptedError as exc:
        from accepted.client.commands import exit_code_for

        # The same answer, the same status and line as every other command (EXIT_CODES
        # in cli.py): `accepted: ` starts every command's error, so one grep finds them.
        print(f"accepted: {exc.message}", file=err)
        return int(exit_code_for(exc))
    if args.json:
        print(msgspec.json.encode(answer).decode(), file=out)
    elif args.verb == "list":
        _print_table(answer["tokens"], out)
    else:
        _print_table([answer], out)
        if "token" in answer:
            print(f"\nsecret (shown only now): {answer['token']}", file=out)
    return 0


def _over_api(args: argparse.Namespace) -> dict[str, Any]:
    from accepted.client import Client

    with Client(args.url, token=args.token) as client:
        if args.verb == "create":
            return client.create_token(
                args.name, args.role, queues=args.queues, expires_in=args.expires_in
            )
        if args.verb == "list":
            return client.list_tokens()
        return client.revoke_token(args.name)


async def _on_db(args: argparse.Namespace) -> dict[str, Any]:
    from accepted.http.tokens import TokenList, token_view
    from accepted.store import open_store

    store = open_store(args.db, pool_size=1, exclusive=False)
    await store.open()
    try:
        auth = AuthService(store.tokens)
        view: Any
        if args.verb == "create":
            new = check_new_token(args.name, args.role, args.queues, args.expires_in)
            token, secret = await auth.create(new, store.clock())
            view = token_view(token, secret)
        elif args.verb == "list":
            view = TokenList([token_view(t) for t in await auth.list()])
        else:
            view = token_view(await auth.revoke(args.name))
        answer: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(view))
        return answer
    finally:
        await store.close()


def whoami(client: Client, output: Output) -> int:
    """`accepted whoami`: the token the server sees (GET /whoami), as a table, or the
    server's JSON with --json; errors raise, for `cli.client_command` to print."""
    from accepted.client import core, tokens

    if output.as_json:
        output.out.write(client.send(core.raw(tokens.whoami())).decode() + "\n")
        return 0
    me = client.whoami()
    if not me["auth"]:
        output.out.write("auth is off: every request may do everything (as an admin)\n")
        return 0
    header = ("NAME", "ROLE", "QUEUES", "EXPIRES")
    _print_rows([header, (me["name"], me["role"], _queues(me), _expires(me))], output.out)
    return 0


def _print_table(tokens: Sequence[dict[str, Any]], out: IO[str]) -> None:
    rows = [("NAME", "ROLE", "QUEUES", "CREATED", "EXPIRES")]
    for t in tokens:
        rows.append((t["name"], t["role"], _queues(t), _short(t["created_at"]), _expires(t)))
    _print_rows(rows, out)


def _queues(token: dict[str, Any]) -> str:
    return "*" if token["queues"] is None else ",".join(token["queues"])


def _expires(token: dict[str, Any]) -> str:
    return _short(token["expires_at"]) if token["expires_at"] else "never"


def _print_rows(rows: Sequence[tuple[str, ...]], out: IO[str]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip(), file=out)


def _short(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
