"""`python -m gpu_smoke_checks {run,preflight}`.

run        detects the GPU up front, then runs the checks (each skipped, with the reason, when
           there is none); writes the results as JSON and JUnit XML.
preflight  only the detection, on the Docker host before an image is started: exits 0 when
           the GPU (and, with --container-toolkit, the NVIDIA Container Toolkit) is there;
           otherwise writes the all-skipped reports and exits 3, as `run` would.

Exit codes: 0 passed, 1 a check failed (or, with --require-gpu, no GPU), 2 bad arguments,
3 nothing ran (no GPU).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import replace

from gpu_smoke_checks import presence as gpu_presence
from gpu_smoke_checks.checks import run_check
from gpu_smoke_checks.context import Context
from gpu_smoke_checks.contract import (
    CHECK_NAMES,
    EXIT_FAILED,
    EXIT_NO_GPU,
    EXIT_PASSED,
    FRAMEWORK_MODULES,
    PACKAGE,
)
from gpu_smoke_checks.results import (
    FAILED,
    CheckResult,
    Presence,
    exit_code,
    render_text,
    skipped_all,
    to_json,
    to_junit_xml,
)


def check_list(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in CHECK_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown check(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(CHECK_NAMES)}"
        )
    return names


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= 1")
    return int(value)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog=f"python -m {PACKAGE}",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command", required=True)
    for name in ("run", "preflight"):
        sub = commands.add_parser(name)
        sub.add_argument(
            "--checks",
            type=check_list,
            default=list(CHECK_NAMES),
            help=f"comma-separated, from: {','.join(CHECK_NAMES)} (default: all)",
        )
        sub.add_argument(
            "--expect-gpus",
            type=positive_int,
            default=1,
            help="the least number of GPUs nvidia-smi and torch must see",
        )
        sub.add_argument(
            "--suite",
            default=PACKAGE,
            help="the JUnit testsuite name (the Pants target's address)",
        )
        sub.add_argument("--junit-xml", help="write JUnit XML here")
        sub.add_argument("--json", help="write the results as JSON here")
        sub.add_argument(
            "--container-toolkit",
            action="store_true",
            help="also require the NVIDIA Container Toolkit (for `docker run --gpus`)",
        )
        sub.add_argument(
            "--require-gpu",
            action="store_true",
            help="no GPU is a failure of every check, not a skip (for GPU runners)",
        )
    run = commands.choices["run"]
    run.add_argument(
        "--framework",
        choices=sorted(FRAMEWORK_MODULES),
        help="for the framework and serve checks (default: $DYNAMO_BACKEND)",
    )
    run.add_argument(
        "--workdir",
        default=Context.workdir,
        help="where the serve check writes its model and logs",
    )
    run.add_argument(
        "--serve-timeout",
        type=positive_int,
        default=600,
        help="seconds the serve check waits for the model to be served",
    )
    return root


def write_reports(args: argparse.Namespace, presence: Presence, results: list[CheckResult]):
    reports = (
        (args.json, to_json(args.suite, presence, results)),
        (args.junit_xml, to_junit_xml(args.suite, results)),
    )
    for path, text in reports:
        if path:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "w") as f:
                f.write(text + "\n")


def main(
    argv: list[str] | None = None,
    detect: Callable[[bool], Presence] = gpu_presence.detect,
    run: Callable[[str, Context], CheckResult] = run_check,
) -> int:
    args = parser().parse_args(argv)
    presence = detect(args.container_toolkit)
    if not presence.available:
        results = skipped_all(args.checks, presence)
        if args.require_gpu:
            results = [
                replace(r, status=FAILED, reason=f"GPU required: {r.reason}") for r in results
            ]
    elif args.command == "preflight":
        print(f"GPU available: {presence.detail}")
        return EXIT_PASSED
    else:
        ctx = Context(
            expect_gpus=args.expect_gpus,
            framework=args.framework,
            workdir=args.workdir,
            serve_timeout_s=args.serve_timeout,
        )
        results = []
        for name in args.checks:
            results.append(run(name, ctx))
            print(render_text(results[-1:]).splitlines()[0], file=sys.stderr, flush=True)
    write_reports(args, presence, results)
    print(render_text(results))
    code = exit_code(results)
    assert presence.available or code == (EXIT_FAILED if args.require_gpu else EXIT_NO_GPU)
    return code


if __name__ == "__main__":
    sys.exit(main())
