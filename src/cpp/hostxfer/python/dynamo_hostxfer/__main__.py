"""`python -m dynamo_hostxfer bench [--size BYTES] [--iterations N] [--json]`."""

from __future__ import annotations

import argparse
import json
import sys

from dynamo_hostxfer.bench import run_bench, serve_target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dynamo_hostxfer")
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="two-process transfer: bandwidth and latency")
    bench.add_argument("--size", type=int, default=16 << 20, help="bytes per transfer")
    bench.add_argument("--iterations", type=int, default=20)
    bench.add_argument("--json", action="store_true")
    target = sub.add_parser("target", help="(internal) the target side of a bench")
    target.add_argument("--size", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "target":
        serve_target(args.size)
        return 0
    result = run_bench(args.size, args.iterations)
    if args.json:
        print(json.dumps(result.as_dict()))
    else:
        for key, value in result.as_dict().items():
            print(f"{key:<16} {value}")
    return 0 if result.verified else 1


if __name__ == "__main__":
    sys.exit(main())
