"""Command line for flow files.

`python -m flows check [FILE...]` checks flow files; `python -m flows graph FLOW` draws one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from flows.graph import flow_to_mermaid
from flows.lint import MAX_LABEL_LENGTH, lint_paths
from flows.loader import SHIPPED_FLOWS, read_flow_file, shipped_flow_path


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m flows", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check", help="check flow files; without files, check the shipped flows"
    )
    check.add_argument("files", nargs="*", type=Path, metavar="FILE")
    check.add_argument(
        "--max-label",
        type=int,
        default=MAX_LABEL_LENGTH,
        metavar="N",
        help=f"the longest button label allowed, in characters (default {MAX_LABEL_LENGTH})",
    )
    graph = commands.add_parser("graph", help="print a flow as a Mermaid flowchart")
    graph.add_argument(
        "flow", metavar="FLOW", help=f"{' or '.join(SHIPPED_FLOWS)}, or the path of a flow file"
    )
    return parser


def _check(files: Sequence[Path], max_label: int = MAX_LABEL_LENGTH) -> int:
    problems = lint_paths(files, max_label)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return 1
    return 0


def _graph(name: str) -> int:
    path = shipped_flow_path(name) if name in SHIPPED_FLOWS else Path(name)
    flow, problems = read_flow_file(path)
    for problem in problems:
        print(problem, file=sys.stderr)
    if flow is None:
        return 1
    sys.stdout.write(flow_to_mermaid(flow))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        return _check(args.files, args.max_label)
    return _graph(args.flow)


if __name__ == "__main__":
    sys.exit(main())
