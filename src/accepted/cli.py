"""The `accepted` command.

`accepted serve` runs the server; each setting of `config.Settings` is one of
its flags, with its ACCEPTED_* variable and default shown by `--help`.
`accepted worker` runs a Python function for each job of some queues;
`accepted enqueue | get | delete | jobs | queues | schedules | token | whoami ...` are the
client for people and scripts, with one table of exit codes (EXIT_CODES).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

from accepted import __version__, backup
from accepted.cli_schedules import add_schedules_command, run_schedules_command
from accepted.cli_tokens import add_token_command, token_command, whoami
from accepted.config import SETTINGS_FIELDS, Settings, env_name
from accepted.logs import check_format
from accepted.service.destinations import parse_allow

__all__ = ["main"]

DEFAULT_URL = "http://127.0.0.1:8000"

EXIT_CODES = """\
exit codes of the client commands (all but serve, worker and backup):
  0    ok; with --wait (or get of a finished job): the job is done
  1    the job failed
  2    usage: bad arguments, or input the server refused (400, 413)
  3    no such job, queue, schedule or token (404)
  4    the job was deleted (cancelled) while being waited on
  5    --wait ran out before the job finished
  6    the server could not be reached, or answered with an error (401, 403, 5xx, ...)
  7    the state does not allow it (409): cancel of a finished job, retry of one
       not failed, a token name already taken
  130  interrupted (Ctrl-C)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="accepted",
        description="A job queue over plain HTTP.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"accepted {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_serve(commands)
    common = _client_options()
    _add_worker(commands, common)
    _add_enqueue(commands, common)
    _add_get(commands, common)
    _add_delete(commands, common)
    _add_retries_commands(commands, common)
    backup.add_parser(commands)
    _add_operations(commands, common)
    add_schedules_command(commands, common, EXIT_CODES, _seconds)
    add_token_command(commands, common, EXIT_CODES)
    _client_command(
        commands, common, "whoami", "show the token the server sees: its name, role and queues"
    )
    return parser


def _add_serve(commands: Any) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the server",
        description="Run the accepted server. Each flag can also be set by the "
        "environment variable named beside it; a flag wins over its variable.",
        epilog="environment only (secrets, kept out of the process list):\n"
        + "\n".join(
            f"  {env_name(f.name)}: {f.metadata['help']}"
            for f in SETTINGS_FIELDS
            if f.metadata.get("env_only")
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    defaults = Settings()
    for f in SETTINGS_FIELDS:
        if f.metadata.get("env_only"):
            continue
        help = (
            f"{f.metadata['help']} [env {env_name(f.name)}; default {getattr(defaults, f.name)!r}]"
        )
        flag = "--" + f.name.replace("_", "-")
        if str(f.type) == "bool":
            serve.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help)
            continue
        kind = {"int": int, "float": float}.get(str(f.type), str)
        serve.add_argument(flag, type=kind, default=None, metavar=f.name.upper(), help=help)


def _client_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=os.environ.get("ACCEPTED_URL") or DEFAULT_URL,
        help=f"the server [env ACCEPTED_URL; default {DEFAULT_URL}]",
    )
    common.add_argument(
        "--token",
        default=os.environ.get("ACCEPTED_TOKEN") or None,
        help="the API token to send [env ACCEPTED_TOKEN]",
    )
    return common


def _client_command(
    commands: Any, common: argparse.ArgumentParser, name: str, help: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help,
        description=help[0].upper() + help[1:] + ".",
        parents=[common],
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--json", action="store_true", help="print the server's JSON answer as it came"
    )
    return parser


def _wait_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--wait",
        type=_seconds,
        nargs="?",
        const=math.inf,
        metavar="SECONDS",
        help=f"{what} wait until the job is finished (at most SECONDS; no limit if "
        "SECONDS is left out), then print it with its result",
    )


def _add_worker(commands: Any, common: argparse.ArgumentParser) -> None:
    worker = commands.add_parser(
        "worker",
        help="run a Python function for each job of some queues",
        description="Take jobs from the queues and run the function for each: params "
        "that are a JSON object become keyword arguments, any other value the one "
        "positional argument. The return value is the job's result; an exception "
        "fails the job (tried again if it has retries left; raise "
        "accepted.worker.FailForGood to fail it for good). SIGTERM or Ctrl-C stops "
        "taking jobs, lets running ones "
        "finish within --grace seconds, and gives the rest back to their queue; "
        "a second signal gives them back at once.",
        parents=[common],
    )
    worker.add_argument("function", metavar="module:function", help="the job function")
    worker.add_argument(
        "--queue",
        action="append",
        dest="queues",
        metavar="NAME",
        help="a queue to take from (repeat for several; default: any queue)",
    )
    worker.add_argument(
        "--concurrency", type=int, default=1, metavar="N", help="jobs run at once [1]"
    )
    worker.add_argument(
        "--lease",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="seconds each job is leased for [30]",
    )
    worker.add_argument(
        "--grace",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="seconds running jobs get at shutdown [30]",
    )
    worker.add_argument(
        "--poll",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="seconds one long-poll for jobs lasts [30]",
    )
    worker.add_argument(
        "--log-level", default="info", metavar="LEVEL", help="debug, info, warning or error [info]"
    )


def _add_enqueue(commands: Any, common: argparse.ArgumentParser) -> None:
    enqueue = _client_command(commands, common, "enqueue", "add a job to a queue")
    enqueue.add_argument("queue", metavar="QUEUE")
    enqueue.add_argument(
        "params",
        metavar="PARAMS_JSON",
        nargs="?",
        help="the job's params as JSON ('-' reads them from stdin; default {})",
    )
    enqueue.add_argument(
        "--priority", type=int, metavar="0-3", help="0 (taken first) to 3; default 1"
    )
    enqueue.add_argument(
        "--delay", type=_seconds, metavar="SECONDS", help="seconds before any worker gets it"
    )
    enqueue.add_argument(
        "--result-ttl", type=_seconds, metavar="SECONDS", help="seconds it is kept once finished"
    )
    enqueue.add_argument("--callback-url", metavar="URL", help="URL the finished job is POSTed to")
    enqueue.add_argument(
        "--job-timeout", type=_seconds, metavar="SECONDS", help="seconds it has to finish"
    )
    enqueue.add_argument("--max-attempts", type=int, metavar="N", help="times it may be handed out")
    enqueue.add_argument(
        "--retries", type=int, metavar="N", help="times it is tried again when it fails (0-100)"
    )
    enqueue.add_argument(
        "--retry-backoff",
        type=_seconds,
        metavar="SECONDS",
        help="seconds before the first retry, doubling after; default 1",
    )
    enqueue.add_argument(
        "--unique-key",
        metavar="KEY",
        help="enqueue nothing while a job of QUEUE with this key is not finished "
        "(that job is printed, and a note on stderr)",
    )
    enqueue.add_argument(
        "--group",
        metavar="NAME",
        help="its fairness group: hand-outs of a queue rotate between groups "
        "(docs/flow.md#fairness-groups)",
    )
    enqueue.add_argument(
        "--after",
        metavar="ID",
        action="append",
        help="a job this one waits for (repeat, or comma-separate, for several): it runs "
        "once all are done, and is cancelled if one fails",
    )
    _wait_option(enqueue, "after enqueueing,")


def _add_get(commands: Any, common: argparse.ArgumentParser) -> None:
    get = _client_command(commands, common, "get", "show a job")
    get.add_argument("id", metavar="ID")
    _wait_option(get, "first")


def _add_delete(commands: Any, common: argparse.ArgumentParser) -> None:
    delete = _client_command(commands, common, "delete", "delete a job (cancelling it)")
    delete.add_argument("id", metavar="ID")


# -- retries: cancel, retry, attempts ---------------------------------------------------

# Each is a function of the same name in accepted.client.commands, taking the job id.
RETRIES_COMMANDS = {
    "cancel": "cancel a job that is not finished, keeping it",
    "retry": "queue a failed or cancelled job again, as new",
    "attempts": "show a job's attempts (hand-outs), oldest first",
}


def _add_retries_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    for name, help in RETRIES_COMMANDS.items():
        parser = _client_command(commands, common, name, help)
        if name != "retry":
            parser.add_argument("id", metavar="ID")
            continue
        parser.add_argument("id", metavar="ID", nargs="?", help="the job; or give a filter")
        parser.add_argument(
            "--queue", action="append", metavar="Q", help="retry every match in this queue"
        )
        parser.add_argument(
            "--status",
            action="append",
            metavar="S",
            help="... with this status (failed, cancelled; repeatable); by POST /jobs/bulk",
        )


def _run_retries_command(client: Any, output: Any, args: argparse.Namespace) -> int:
    from accepted.client import commands

    if args.command == "retry" and (args.queue or args.status):
        if args.id is not None:
            raise ValueError("give a job ID, or --queue/--status, not both")
        return int(commands.retry_matching(client, output, args.queue, args.status))
    if args.id is None:
        raise ValueError(f"{args.command} needs a job ID")
    run: Any = getattr(commands, args.command)
    return int(run(client, output, args.id))


# -- queues, listing (accepted queues | jobs | pause | resume) -----------------


def _add_operations(commands: Any, common: argparse.ArgumentParser) -> None:
    queues = _client_command(commands, common, "queues", "list the queues with their counts")
    jobs = _client_command(commands, common, "jobs", "list and search jobs, newest first")
    jobs.description = (
        "List and search jobs, newest first: id, queue, status, fairness group and\n"
        "unique key (when a job of the page has one), priority, tries, created, params.\n"
        "On a terminal (or with COLUMNS set) the table fits the screen: long text is\n"
        "cut, then the least needed columns go; --json prints the server's answer whole."
    )
    jobs.add_argument("--queue", action="append", metavar="Q", help="only this queue (repeatable)")
    jobs.add_argument(
        "--status", action="append", metavar="S", help="only this status (repeatable, or a,b)"
    )
    jobs.add_argument("--search", metavar="TEXT", help="a job id, or text in params or result")
    jobs.add_argument("--limit", type=int, metavar="N", help="jobs to show, 1 to 500 [50]")
    jobs.add_argument("--cursor", help="show the page after the one that printed this cursor")
    pause = _client_command(
        commands,
        common,
        "pause",
        "pause a queue: it hands out nothing (a queue with no jobs yet too: a note says so)",
    )
    resume = _client_command(commands, common, "resume", "resume a paused queue")
    for parser in (pause, resume):
        parser.add_argument("name", metavar="QUEUE")
    del queues  # takes only the common options
    _add_limits(commands, common)


def _add_limits(commands: Any, common: argparse.ArgumentParser) -> None:
    """`accepted limits QUEUE [--rate N/S] [--concurrency N] [--group-concurrency N] [--clear]`."""
    limits = _client_command(
        commands,
        common,
        "limits",
        "show a queue's limits, or change them (the ones not named are kept; 'none' clears one)",
    )
    limits.add_argument("name", metavar="QUEUE")
    limits.add_argument("--rate", metavar="N/SECONDS", help="at most N hand-outs per window")
    limits.add_argument("--concurrency", metavar="N", help="at most N running at once")
    limits.add_argument(
        "--group-concurrency", metavar="N", help="at most N of one fairness group running"
    )
    limits.add_argument("--clear", action="store_true", help="remove every limit")


def _run_operation(client: Any, output: Any, args: argparse.Namespace) -> int:
    from accepted.client import operations

    if args.command == "queues":
        return operations.queues(client, output)
    if args.command == "jobs":
        return operations.jobs(
            client,
            output,
            queue=args.queue,
            status=args.status,
            search=args.search,
            limit=args.limit,
            cursor=args.cursor,
        )
    if args.command == "limits":
        changes = {
            "rate": args.rate,
            "concurrency": args.concurrency,
            "group_concurrency": args.group_concurrency,
        }
        given = {k: v for k, v in changes.items() if v is not None}
        return operations.limits(client, output, args.name, given, args.clear)
    if args.command == "pause":
        return operations.pause(client, output, args.name)
    return operations.resume(client, output, args.name)


OPERATIONS = frozenset({"queues", "jobs", "pause", "resume", "limits"})


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds >= 0")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        overrides = {
            f.name: getattr(args, f.name) for f in SETTINGS_FIELDS if not f.metadata.get("env_only")
        }
        try:
            settings = Settings.from_env(**overrides)
            check_format(settings.log_format)
            parse_allow(settings.callback_allow)  # a bad range stops the start, named
        except ValueError as exc:
            print(f"accepted: {exc}", file=sys.stderr)
            return 2
        return serve(settings)
    if args.command == "worker":
        return worker(args)
    if args.command == "backup":
        return backup.run(args)
    if args.command == "token":
        return token_command(args)
    return client_command(args)


def serve(settings: Settings) -> int:
    from accepted.store import DriverMissing
    from accepted.supervisor import run

    try:
        return run(settings)
    except DriverMissing as exc:  # one line that says what to install, not a traceback
        print(f"accepted: {exc}", file=sys.stderr)
        return 2


def worker(args: argparse.Namespace) -> int:
    from accepted.worker import load_function, run_worker

    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.log_level.lower() != "debug":
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request is noise
    sys.path.insert(0, os.getcwd())  # `accepted worker tasks:run` finds ./tasks.py
    try:
        function = load_function(args.function)
        run_worker(
            function,
            url=args.url,
            queues=args.queues,
            concurrency=args.concurrency,
            lease=args.lease,
            grace=args.grace,
            poll=args.poll,
            token=args.token,
        )
    except ValueError as exc:
        print(f"accepted: {exc}", file=sys.stderr)
        return 2
    return 0


def client_command(args: argparse.Namespace) -> int:
    from accepted.client import Client, commands
    from accepted.errors import AcceptedError

    output = commands.Output(
        sys.stdout,
        sys.stderr,
        as_json=args.json,
        progress=sys.stdout.isatty() and sys.stderr.isatty(),
    )
    try:
        with Client(args.url, token=args.token) as client:
            if args.command in OPERATIONS:
                return _run_operation(client, output, args)
            if args.command == "schedules":
                return run_schedules_command(client, output, args)
            if args.command == "enqueue":
                return commands.enqueue(client, output, **_enqueue_arguments(args))
            if args.command == "get":
                return commands.get(client, output, args.id, args.wait)
            if args.command in RETRIES_COMMANDS:
                return _run_retries_command(client, output, args)
            if args.command == "whoami":
                return whoami(client, output)
            return commands.delete(client, output, args.id)
    except ValueError as exc:
        output.error(str(exc))
        return commands.ExitCode.USAGE
    except AcceptedError as exc:
        output.error(str(exc))
        return commands.exit_code_for(exc)
    except KeyboardInterrupt:
        return commands.ExitCode.INTERRUPTED
    except BrokenPipeError:  # `accepted get ID | head -1`: the reader left; so do we
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return commands.ExitCode.OK


def _enqueue_arguments(args: argparse.Namespace) -> dict[str, Any]:
    from accepted.client.commands import parse_params
    from accepted.client.models import OMITTED

    params = OMITTED
    if args.params is not None:
        params = parse_params(sys.stdin.read() if args.params == "-" else args.params)
    return {
        "queue": args.queue,
        "params": params,
        "wait": args.wait,
        "priority": args.priority,
        "delay": args.delay,
        "result_ttl": args.result_ttl,
        "callback_url": args.callback_url,
        "job_timeout": args.job_timeout,
        "max_attempts": args.max_attempts,
        "retries": args.retries,
        "retry_backoff": args.retry_backoff,
        "unique_key": args.unique_key,
        "group": args.group,
        "after": _after_ids(args.after),
    }


def _after_ids(given: list[str] | None) -> list[str] | None:
    """--after ID, repeated or comma-separated, as one list."""
    if not given:
        return None
    return [part.strip() for value in given for part in value.split(",") if part.strip()]


if __name__ == "__main__":
    raise SystemExit(main())
