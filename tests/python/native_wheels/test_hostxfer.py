"""dynamo-hostxfer (C++ through meson-python): regions, transfers and the two-process bench."""

from __future__ import annotations

import json

import pytest
from native_wheels.helpers import WheelVenv


def run_python(wheel_venv: WheelVenv, code: str):
    return wheel_venv.run(wheel_venv.python, "-c", code)


def test_region_fill_and_checksum(wheel_venv: WheelVenv) -> None:
    code = """
from dynamo_hostxfer import Agent
a = Agent("t")
r1, r2 = a.register_region("/hx-test-a", 1 << 16), a.register_region("/hx-test-b", 1 << 16)
r1.fill(7); r2.fill(7); c = r1.checksum()
r2.fill(8)
print(c == r2.checksum(), c != r2.checksum(), r1.size)
"""
    out = run_python(wheel_venv, code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True", "65536"]


def test_transfer_within_one_process_moves_the_bytes(wheel_venv: WheelVenv) -> None:
    code = """
from dynamo_hostxfer import Agent
a = Agent("t")
src, dst = a.register_region("/hx-test-src", 1 << 20), a.register_region("/hx-test-dst", 1 << 20)
src.fill(3); dst.fill(4)
remote = a.load_remote(Agent.metadata(dst))
stats = a.transfer("WRITE", src, remote, 1 << 20, 5)
print(src.checksum() == dst.checksum(), stats.iterations, len(stats.op_seconds), stats.bytes_per_op)
"""
    out = run_python(wheel_venv, code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "5", "5", "1048576"]


@pytest.mark.parametrize(
    "code, message",
    [
        ('a.load_remote("not metadata")', "metadata"),
        ('a.transfer("COPY", r, a.load_remote(Agent.metadata(r)), 16)', "op must be"),
        ('a.transfer("READ", r, a.load_remote(Agent.metadata(r)), 1 << 20)', "does not fit"),
    ],
)
def test_bad_requests_raise_clear_errors(wheel_venv: WheelVenv, code: str, message: str) -> None:
    setup = (
        'from dynamo_hostxfer import Agent\na = Agent("t")\nr = a.register_region("/hx-e", 4096)\n'
    )
    out = run_python(wheel_venv, setup + code)
    assert out.returncode != 0
    assert message in out.stderr.splitlines()[-1], out.stderr


def test_two_process_bench(wheel_venv: WheelVenv) -> None:
    out = wheel_venv.run(
        wheel_venv.python, "-m", "dynamo_hostxfer", "bench", "--size", str(4 << 20),
        "--iterations", "5", "--json",
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["verified"] is True
    assert result["size_bytes"] == 4 << 20 and result["iterations"] == 5
    assert result["write_gbps"] > 0 and result["read_gbps"] > 0
    assert 0 < result["latency_p50_us"] <= result["latency_p99_us"]
