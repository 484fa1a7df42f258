"""The ``tune-stop`` command line: ``search``, ``spaces``, ``recommend`` and ``report``.

It parses (:mod:`tune_stop.app._parser`), calls the command's module and prints; bad input
of any kind ends with one line on stderr and exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from tune_stop.app._parser import build_parser
from tune_stop.app._shared import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    UsageError,
    output_settings_restored,
)
from tune_stop.app._signals import Terminated

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tune-stop`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with output_settings_restored():
        return _run(args)


def _spaces() -> int:
    from search_spaces import builtin_spaces, load_space

    for name in builtin_spaces():
        space = load_space(name)
        print(f"{name:<20} {space.description}")
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    """Runs the parsed command; bad input and Ctrl-C become one line and an exit code."""
    try:
        if args.command == "spaces":
            return _spaces()
        if args.command == "recommend":
            from tune_stop.app.cmd_recommend import run_recommend_command

            return run_recommend_command(args)
        if args.command == "report":
            from tune_stop.app.cmd_report import run_report_command

            return run_report_command(args)
        from tune_stop.app.cmd_search import run_search_command

        return run_search_command(args)
    except UsageError as error:
        print(f"tune-stop: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except FileExistsError as error:
        print(f"tune-stop: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except Terminated:
        print("tune-stop: terminated", file=sys.stderr)
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        print("tune-stop: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
