from __future__ import annotations

import pytest
from pants.engine.addresses import Address
from pants.engine.internals.scheduler import ExecutionError
from pants.testutil.rule_runner import RuleRunner

from gpu_smoke import register
from gpu_smoke.contract import CHECK_NAMES
from gpu_smoke.target_types import (
    GpuSmokeTestChecksField,
    GpuSmokeTestExpectGpusField,
    GpuSmokeTestImageField,
)


def target(build: str):
    runner = RuleRunner(target_types=register.target_types())
    runner.write_files({"tests/gpu_smoke/BUILD": build})
    return runner.get_target(Address("tests/gpu_smoke", target_name="t"))


def test_defaults_run_every_check_on_one_gpu_in_host_mode():
    t = target('gpu_smoke_test(name="t")')
    assert t[GpuSmokeTestChecksField].value == CHECK_NAMES
    assert t[GpuSmokeTestExpectGpusField].value == 1
    assert t[GpuSmokeTestImageField].value is None


@pytest.mark.parametrize(
    "fields, message",
    [
        ('checks=["nvidia-smi", "gpu-burn"]', r"unknown check\(s\) 'gpu-burn'; the allowed values "
         r"are: nvidia-smi, cuda-matmul, nixl-transfer, framework, serve"),
        ("checks=[]", "is empty; name at least one of: nvidia-smi"),
        ('checks=["serve", "serve"]', "names serve twice"),
        ("expect_gpus=0", "expect_gpus"),
        ('framework="jax"', "framework"),
    ],
)
def test_bad_fields_fail_when_the_build_file_is_read(fields, message):
    with pytest.raises(ExecutionError, match=message) as error:
        target(f'gpu_smoke_test(name="t", {fields})')
    assert "tests/gpu_smoke:t" in str(error.value)
