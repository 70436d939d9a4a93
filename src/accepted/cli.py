"""The `accepted` command. `accepted serve` runs the server; each setting of
`config.Settings` is one of its flags, with its ACCEPTED_* variable and default
shown by `--help`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from accepted.config import SETTINGS_FIELDS, Settings, env_name

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="accepted", description="A job queue over plain HTTP.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the server",
        description="Run the accepted server. Each flag can also be set by the "
        "environment variable named beside it; a flag wins over its variable.",
    )
    defaults = Settings()
    for f in SETTINGS_FIELDS:
        kind = {"int": int, "float": float}.get(str(f.type), str)
        serve.add_argument(
            "--" + f.name.replace("_", "-"),
            type=kind,
            default=None,
            metavar=f.name.upper(),
            help=f"{f.metadata['help']} [env {env_name(f.name)}; "
            f"default {getattr(defaults, f.name)!r}]",
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        overrides = {f.name: getattr(args, f.name) for f in SETTINGS_FIELDS}
        try:
            settings = Settings.from_env(**overrides)
        except ValueError as exc:
            print(f"accepted: {exc}", file=sys.stderr)
            return 2
        return serve(settings)
    return 2


def serve(settings: Settings) -> int:
    from accepted.http.server import run

    return run(settings)


if __name__ == "__main__":
    raise SystemExit(main())
