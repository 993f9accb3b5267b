"""A parser for Prometheus' text exposition format (0.0.4), the format of `/metrics` pages.

`parse(text)` is a pure function: text in, metric families out, in the page's order. It is as
strict as Prometheus' own parser where that catches a broken page (bad names, unterminated or
duplicate labels, bad values, a second TYPE line), and raises ParseError naming the line.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Union

TYPES = ("counter", "gauge", "histogram", "summary", "untyped")
# Besides its own name, a histogram or summary owns the samples with these suffixes.
OWNED_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}
METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
METADATA = re.compile(r"#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$")
LABEL_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
BLANKS = " \t"


class ParseError(ValueError):
    def __init__(self, lineno: int, message: str, line: str) -> None:
        super().__init__(f"line {lineno}: {message}: {line!r}")
        self.lineno = lineno


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float
    timestamp_ms: int | None = None


@dataclass
class Family:
    name: str
    type: str = "untyped"
    help: str = ""
    samples: list[Sample] = field(default_factory=list)


def parse(text: str) -> dict[str, Family]:
    """The metric families of a /metrics page, by name, in the order they first appear."""
    families: dict[str, Family] = {}
    owner: dict[str, str] = {}  # histogram/summary sample names -> their family
    typed: set[str] = set()
    helped: set[str] = set()
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.strip(BLANKS + "\r")
        if not line:
            continue
        if line.startswith("#"):
            meta = METADATA.match(line)
            if not meta:
                continue  # a plain comment
            keyword, name, rest = meta.group(1), meta.group(2), meta.group(3) or ""
            if not METRIC_NAME.fullmatch(name):
                raise ParseError(lineno, f"invalid metric name {name!r}", raw)
            family = families.setdefault(name, Family(name))
            if keyword == "HELP":
                if name in helped:
                    raise ParseError(lineno, f"second HELP line for {name}", raw)
                helped.add(name)
                family.help = _unescape_help(rest)
                continue
            kind = rest.strip(BLANKS)
            if kind not in TYPES:
                raise ParseError(lineno, f"unknown type {kind!r} (one of {', '.join(TYPES)})", raw)
            if name in typed:
                raise ParseError(lineno, f"second TYPE line for {name}", raw)
            if family.samples:
                raise ParseError(lineno, f"TYPE line for {name} after its samples", raw)
            typed.add(name)
            family.type = kind
            for suffix in OWNED_SUFFIXES.get(kind, ()):
                owner[name + suffix] = name
            continue
        sample = _sample(line, lineno, raw)
        name = owner.get(sample.name, sample.name)
        families.setdefault(name, Family(name)).samples.append(sample)
    return families


def _unescape_help(text: str) -> str:
    # HELP text escapes only backslash and newline; other backslashes stay as they are.
    return re.sub(r"\\([\\n])", lambda m: "\n" if m.group(1) == "n" else "\\", text)


def _sample(line: str, lineno: int, raw: str) -> Sample:
    name_match = METRIC_NAME.match(line)
    if not name_match:
        raise ParseError(lineno, "expected a metric name", raw)
    pos = _skip_blanks(line, name_match.end())
    labels: dict[str, str] = {}
    if pos < len(line) and line[pos] == "{":
        labels, pos = _labels(line, pos + 1, lineno, raw)
    elif pos == name_match.end() and pos < len(line):
        raise ParseError(lineno, "expected '{' or a blank after the metric name", raw)
    fields = line[pos:].split()
    if len(fields) not in (1, 2):
        raise ParseError(lineno, "expected a value and an optional timestamp", raw)
    value = _value(fields[0], lineno, raw)
    timestamp = None
    if len(fields) == 2:
        if not re.fullmatch(r"-?\d+", fields[1]):
            raise ParseError(lineno, f"invalid timestamp {fields[1]!r} (integer milliseconds)", raw)
        timestamp = int(fields[1])
    return Sample(name_match.group(), labels, value, timestamp)


def _labels(line: str, pos: int, lineno: int, raw: str) -> tuple[dict[str, str], int]:
    """Parses `name="value",...}` from pos (just after '{'); returns the labels and the end."""
    labels: dict[str, str] = {}
    while True:
        pos = _skip_blanks(line, pos)
        if pos < len(line) and line[pos] == "}":
            return labels, pos + 1
        key_match = LABEL_NAME.match(line, pos)
        if not key_match:
            raise ParseError(lineno, "expected a label name or '}'", raw)
        key = key_match.group()
        pos = _skip_blanks(line, key_match.end())
        if line[pos : pos + 1] != "=":
            raise ParseError(lineno, f"expected '=' after label {key}", raw)
        pos = _skip_blanks(line, pos + 1)
        if line[pos : pos + 1] != '"':
            raise ParseError(lineno, f"expected '\"' to open the value of label {key}", raw)
        value, pos = _label_value(line, pos + 1, lineno, raw)
        if key in labels:
            raise ParseError(lineno, f"duplicate label {key}", raw)
        labels[key] = value
        pos = _skip_blanks(line, pos)
        if line[pos : pos + 1] == ",":
            pos += 1
        elif line[pos : pos + 1] != "}":
            raise ParseError(lineno, "expected ',' or '}' after a label", raw)


def _label_value(line: str, pos: int, lineno: int, raw: str) -> tuple[str, int]:
    chars = []
    while pos < len(line):
        char = line[pos]
        if char == '"':
            return "".join(chars), pos + 1
        if char == "\\":
            escaped = line[pos + 1 : pos + 2]
            if escaped not in LABEL_ESCAPES:
                raise ParseError(lineno, f"invalid escape '\\{escaped}' in a label value", raw)
            chars.append(LABEL_ESCAPES[escaped])
            pos += 2
            continue
        chars.append(char)
        pos += 1
    raise ParseError(lineno, "unterminated label value", raw)


def _value(text: str, lineno: int, raw: str) -> float:
    # float() also takes '1_000', which Prometheus does not.
    try:
        if "_" in text:
            raise ValueError(text)
        return float(text)
    except ValueError:
        raise ParseError(lineno, f"invalid value {text!r}", raw) from None


def _skip_blanks(line: str, pos: int) -> int:
    while pos < len(line) and line[pos] in BLANKS:
        pos += 1
    return pos


# JSON has no NaN or infinities: they are written as Prometheus spells them.
JsonNumber = Union[float, str]


def to_json_value(value: float) -> JsonNumber:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


def from_json_value(value: JsonNumber) -> float:
    return float(value)


def families_to_json(families: dict[str, Family]) -> dict[str, Any]:
    return {
        name: {
            "type": family.type,
            "help": family.help,
            "samples": [
                {
                    "name": s.name,
                    "labels": s.labels,
                    "value": to_json_value(s.value),
                    "timestamp_ms": s.timestamp_ms,
                }
                for s in family.samples
            ],
        }
        for name, family in families.items()
    }


def families_from_json(data: dict[str, Any]) -> dict[str, Family]:
    return {
        name: Family(
            name,
            entry["type"],
            entry.get("help", ""),
            [
                Sample(
                    s["name"], dict(s["labels"]), from_json_value(s["value"]), s.get("timestamp_ms")
                )
                for s in entry["samples"]
            ],
        )
        for name, entry in data.items()
    }
