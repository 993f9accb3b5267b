import json
import math

import pytest

from dynamo_ci_tools.prom import (
    Family,
    ParseError,
    Sample,
    families_from_json,
    families_to_json,
    parse,
)


def only(text: str) -> Family:
    families = parse(text)
    assert len(families) == 1, families
    return next(iter(families.values()))


def test_help_type_and_samples_make_a_family():
    family = only(
        "# HELP http_requests_total The total number of HTTP requests.\n"
        "# TYPE http_requests_total counter\n"
        'http_requests_total{method="post",code="200"} 1027 1395066363000\n'
        'http_requests_total{method="post",code="400"}    3 1395066363000\n'
    )
    assert family.name == "http_requests_total"
    assert family.type == "counter"
    assert family.help == "The total number of HTTP requests."
    assert family.samples == [
        Sample("http_requests_total", {"method": "post", "code": "200"}, 1027.0, 1395066363000),
        Sample("http_requests_total", {"method": "post", "code": "400"}, 3.0, 1395066363000),
    ]


def test_label_values_unescape_quotes_backslashes_and_newlines():
    family = only(
        r'msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",'
        r'error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9'
    )
    assert family.samples[0].labels == {
        "path": "C:\\DIR\\FILE.TXT",
        "error": 'Cannot find file:\n"FILE.TXT"',
    }
    assert family.samples[0].value == 1.458255915e9


def test_label_values_may_hold_braces_commas_hashes_and_blanks():
    family = only('m{a="x}, y=\\"z\\" # not a comment",b=""} 1')
    assert family.samples[0].labels == {"a": 'x}, y="z" # not a comment', "b": ""}


@pytest.mark.parametrize(
    "line",
    [
        'm{a="1",b="2",} 7',  # trailing comma
        'm { a = "1" , b = "2" } 7',  # blanks between tokens
        'm{a="1",b="2"}\t7',  # a tab before the value
        '  m{a="1",b="2"} 7  ',  # leading and trailing blanks
        'm{a="1",b="2"} 7\r',  # CRLF line ends
    ],
)
def test_spacing_variants_parse_the_same(line):
    assert only(line).samples == [Sample("m", {"a": "1", "b": "2"}, 7.0)]


def test_empty_label_set_and_colons_in_names():
    family = only("job:request_latency_seconds:mean5m{} 0.5\n")
    assert family.samples == [Sample("job:request_latency_seconds:mean5m", {}, 0.5)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("NaN", math.nan),
        ("+Inf", math.inf),
        ("-Inf", -math.inf),
        ("Inf", math.inf),
        ("-0", 0.0),
        ("1e-3", 0.001),
        ("-1.5E+2", -150.0),
        (".5", 0.5),
        ("12345678901234567890", 1.2345678901234567e19),
    ],
)
def test_values(text, expected):
    value = only(f"m {text}").samples[0].value
    if math.isnan(expected):
        assert math.isnan(value)
    else:
        assert value == expected


def test_negative_timestamps_are_kept():
    assert only("m 1 -5").samples[0].timestamp_ms == -5


def test_histogram_owns_its_bucket_sum_and_count_samples():
    families = parse(
        "# HELP rpc_duration_seconds RPC latency.\n"
        "# TYPE rpc_duration_seconds histogram\n"
        'rpc_duration_seconds_bucket{le="0.05"} 24054\n'
        'rpc_duration_seconds_bucket{le="+Inf"} 144320\n'
        "rpc_duration_seconds_sum 53423\n"
        "rpc_duration_seconds_count 144320\n"
        "# TYPE other gauge\n"
        "other 1\n"
    )
    assert list(families) == ["rpc_duration_seconds", "other"]
    histogram = families["rpc_duration_seconds"]
    assert histogram.type == "histogram"
    assert [(s.name, s.labels.get("le"), s.value) for s in histogram.samples] == [
        ("rpc_duration_seconds_bucket", "0.05", 24054.0),
        ("rpc_duration_seconds_bucket", "+Inf", 144320.0),
        ("rpc_duration_seconds_sum", None, 53423.0),
        ("rpc_duration_seconds_count", None, 144320.0),
    ]


def test_summary_owns_quantiles_sum_and_count_but_not_buckets():
    families = parse(
        "# TYPE lat summary\n"
        'lat{quantile="0.5"} 4773\n'
        'lat{quantile="0.99"} NaN\n'
        "lat_sum 1.7560473e+07\n"
        "lat_count 2693\n"
        "lat_bucket 1\n"
    )
    assert [s.name for s in families["lat"].samples] == ["lat", "lat", "lat_sum", "lat_count"]
    assert math.isnan(families["lat"].samples[1].value)
    # _bucket is no summary sample: it is a family of its own, untyped.
    assert families["lat_bucket"].type == "untyped"


def test_suffixed_samples_without_a_histogram_type_are_families_of_their_own():
    families = parse("x_sum 1\nx_count 2\n")
    assert {n: f.type for n, f in families.items()} == {"x_sum": "untyped", "x_count": "untyped"}


def test_samples_without_metadata_are_untyped_and_metadata_without_samples_is_kept():
    families = parse("# HELP lonely Nothing measured yet.\n# TYPE lonely gauge\nbare 3\n")
    assert families["lonely"] == Family("lonely", "gauge", "Nothing measured yet.", [])
    assert families["bare"].type == "untyped" and families["bare"].help == ""


def test_help_unescapes_backslash_and_newline_only():
    family = only(r"# HELP m A \\ and a\nnew line, a \t and a \"quote\"" + "\nm 1")
    assert family.help == 'A \\ and a\nnew line, a \\t and a \\"quote\\"'


def test_empty_help_and_other_comments():
    families = parse("# HELP m\n# a comment\n#HELP not metadata\n# EOF\n\n\nm 1\n")
    assert families["m"].help == "" and len(families["m"].samples) == 1


def test_the_page_order_is_kept():
    text = "".join(f"# TYPE f{i} gauge\nf{i} {i}\n" for i in (3, 1, 2))
    assert list(parse(text)) == ["f3", "f1", "f2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("m", "expected a value and an optional timestamp"),
        ("m 1 2 3", "expected a value and an optional timestamp"),
        ("m one", "invalid value 'one'"),
        ("m 1_000", "invalid value '1_000'"),
        ("m 1 1.5", "invalid timestamp '1.5'"),
        ("0m 1", "expected a metric name"),
        ("m-x 1", "expected '{' or a blank after the metric name"),
        ('m{a="1" 1', "expected ',' or '}' after a label"),
        ('m{a="1} 1', "unterminated label value"),
        ("m{a=1} 1", "expected '\"' to open the value of label a"),
        ('m{a "1"} 1', "expected '=' after label a"),
        ('m{0a="1"} 1', "expected a label name or '}'"),
        ('m{a="1",a="2"} 1', "duplicate label a"),
        ('m{a="\\t"} 1', "invalid escape '\\t' in a label value"),
        ("# TYPE m gauge\n# TYPE m counter", "second TYPE line for m"),
        ("# HELP m a\n# HELP m b", "second HELP line for m"),
        ("# TYPE m info", "unknown type 'info'"),
        ("# TYPE m-x gauge", "invalid metric name 'm-x'"),
        ("m 1\n# TYPE m gauge", "TYPE line for m after its samples"),
    ],
)
def test_broken_lines_fail_naming_the_line(text, message):
    with pytest.raises(ParseError) as error:
        parse(text)
    assert message in str(error.value)
    assert error.value.lineno == text.count("\n") + 1
    assert repr(text.split("\n")[-1]) in str(error.value)


def test_json_round_trip_spells_nan_and_infinities_as_strings():
    families = parse('# TYPE h histogram\nh_bucket{le="+Inf"} +Inf\nh_sum NaN\nh_count -Inf 7\n')
    data = families_to_json(families)
    text = json.dumps(data, allow_nan=False)  # raises if a float NaN/Inf slipped through
    assert [s["value"] for s in data["h"]["samples"]] == ["+Inf", "NaN", "-Inf"]
    back = families_from_json(json.loads(text))
    values = [s.value for s in back["h"].samples]
    assert values[0] == math.inf and math.isnan(values[1]) and values[2] == -math.inf
    assert back["h"].samples[2].timestamp_ms == 7 and back["h"].type == "histogram"


def test_empty_page():
    assert parse("") == {} and parse("\n\n# just a comment\n") == {}
