"""`python -m dynamo_imagekit report [--json]` / `python -m dynamo_imagekit probe [URL]`."""

from __future__ import annotations

import argparse
import json
import sys

from dynamo_imagekit.native import probe
from dynamo_imagekit.report import render_table, report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dynamo_imagekit")
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="sanity report: versions, GPUs, CUDA")
    rep.add_argument("--json", action="store_true", help="print JSON instead of a table")
    pr = sub.add_parser("probe", help="health probe (the HEALTHCHECK runs the binary directly)")
    pr.add_argument("url", nargs="?")
    args = parser.parse_args(argv)
    if args.command == "report":
        data = report()
        print(json.dumps(data, indent=2) if args.json else render_table(data))
        return 0
    result = probe(args.url)
    print(result.message)
    return 0 if result.healthy else 1


if __name__ == "__main__":
    sys.exit(main())
