"""`accepted schedules [list | show | create | delete | pause | resume | run]`.

The verbs are the schedule endpoints of the HTTP API (docs/flow.md#schedules),
through the client's schedule calls; `accepted schedules` alone lists them.
Writing needs an unlimited admin token, as over HTTP.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["add_schedules_command", "run_schedules_command"]

VERBS = {
    "list": "list the schedules with their next and last runs (the default)",
    "show": "show one schedule",
    "create": "create a schedule, or replace the one of this name",
    "delete": "delete a schedule (the jobs it made stay)",
    "pause": "pause a schedule: it fires no more until resumed",
    "resume": "resume a paused schedule: its next fire time is counted from now",
    "run": "enqueue one job of the schedule now (paused or not), and print it",
}


def add_schedules_command(
    commands: Any, common: argparse.ArgumentParser, exit_codes: str, seconds: Callable[[str], float]
) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "schedules",
        help="list, show, create, delete, pause, resume or run schedules",
        description="Schedules enqueue a job on a cron expression or every so many seconds\n"
        "(docs/flow.md#schedules). Without a verb: list them. Writing needs an\n"
        "unlimited admin token when the server checks tokens.",
        parents=[common],
        epilog=exit_codes,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print the server's JSON answer")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    # A verb's own --url/--token/--json win when given, and leave those given
    # before the verb alone when not (a plain default there would overwrite them).
    again = argparse.ArgumentParser(add_help=False)
    again.add_argument("--url", default=argparse.SUPPRESS, help="the server")
    again.add_argument("--token", default=argparse.SUPPRESS, help="the API token to send")
    again.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print the JSON answer"
    )
    shown: dict[str, Any] = {
        "epilog": exit_codes,
        "formatter_class": argparse.RawDescriptionHelpFormatter,
    }
    for verb, help in VERBS.items():
        sub = verbs.add_parser(
            verb, help=help, description=help[0].upper() + help[1:] + ".", parents=[again], **shown
        )
        if verb != "list":
            sub.add_argument("name", metavar="NAME")
        if verb == "create":
            _add_definition(sub, seconds)


def _add_definition(create: argparse.ArgumentParser, seconds: Callable[[str], float]) -> None:
    create.description = (
        "Create a schedule, or replace the one of this name: the whole definition, so\n"
        "an option left out takes the server's default. A replacement with the same\n"
        "--cron/--every/--timezone keeps its next fire time."
    )
    create.add_argument("queue", metavar="QUEUE", help="the queue of each job")
    create.add_argument(
        "params",
        metavar="PARAMS_JSON",
        nargs="?",
        help="each job's params as JSON ('-' reads them from stdin; default {})",
    )
    when = create.add_mutually_exclusive_group(required=True)
    when.add_argument(
        "--cron", metavar="EXPR", help="five fields: minute hour day-of-month month day-of-week"
    )
    when.add_argument("--every", type=seconds, metavar="SECONDS", help="seconds between fires")
    create.add_argument(
        "--timezone", metavar="ZONE", help="the IANA zone the cron is read in [UTC]"
    )
    create.add_argument("--paused", action="store_true", help="create it paused")
    create.add_argument("--priority", type=int, metavar="0-3", help="each job's priority")
    create.add_argument(
        "--job-timeout", type=seconds, metavar="SECONDS", help="seconds each job has to finish"
    )
    create.add_argument(
        "--result-ttl", type=seconds, metavar="SECONDS", help="seconds a finished job is kept"
    )
    create.add_argument("--max-attempts", type=int, metavar="N", help="hand-outs per job")
    create.add_argument("--retries", type=int, metavar="N", help="retries per failed job")
    create.add_argument("--callback-url", metavar="URL", help="where each finished job is POSTed")


def run_schedules_command(client: Any, output: Any, args: argparse.Namespace) -> int:
    from accepted.client import schedule_table as commands

    verb = args.verb or "list"
    if verb == "list":
        return commands.schedules(client, output)
    if verb == "show":
        return commands.show(client, output, args.name)
    if verb == "run":
        return commands.run(client, output, args.name)
    if verb == "create":
        return commands.create(client, output, args.name, args.queue, **_definition(args))
    return commands.change(client, output, args.name, verb)


def _definition(args: argparse.Namespace) -> dict[str, Any]:
    from accepted.client.commands import parse_params

    params = None
    if args.params is not None:
        params = parse_params(sys.stdin.read() if args.params == "-" else args.params)
    return {
        "params": params,
        "cron": args.cron,
        "every": args.every,
        "timezone": args.timezone,
        "paused": args.paused,
        "priority": args.priority,
        "job_timeout": args.job_timeout,
        "result_ttl": args.result_ttl,
        "max_attempts": args.max_attempts,
        "retries": args.retries,
        "callback_url": args.callback_url,
    }
