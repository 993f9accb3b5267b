"""The `gpu_smoke_test` target: GPU checks of an image (or of the host) run by `pants test`."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional

from pants.core.goals.test import TestTimeoutField
from pants.engine.addresses import Address, UnparsedAddressInputs
from pants.engine.target import (
    COMMON_TARGET_FIELDS,
    AsyncFieldMixin,
    Dependencies,
    IntField,
    InvalidFieldException,
    StringField,
    StringSequenceField,
    Target,
    ValidNumbers,
)
from pants.util.strutil import help_text

from gpu_smoke.contract import CHECK_NAMES, FRAMEWORKS


class GpuSmokeTestImageField(AsyncFieldMixin, StringField):
    alias = "image"
    help = help_text(
        """
        Address of the `docker_image` to check (container mode): the checks run in it with
        `docker run --rm --gpus all` and the image's own Python. Unset: host mode, the checks
        run with the host's Python (`[gpu-smoke].host_python`), for GPU hosts without Docker.
        The image is built only when the host has a GPU to run it on.
        """
    )

    def to_unparsed_address_inputs(self) -> UnparsedAddressInputs:
        return UnparsedAddressInputs(
            [self.value] if self.value else [],
            owning_address=self.address,
            description_of_origin=f"the `{self.alias}` field of {self.address}",
        )


class GpuSmokeTestDependenciesField(Dependencies):
    """The `image`, added by inference (rules.py), plus anything listed here."""


class GpuSmokeTestChecksField(StringSequenceField):
    alias = "checks"
    default = CHECK_NAMES
    help = help_text(
        f"""
        The checks to run, in this order, from: {', '.join(CHECK_NAMES)}. `framework` and
        `serve` need an image with a framework (or the `framework` field).
        """
    )

    @classmethod
    # `pants help` evaluates these hints on Python 3.9, where `X | None` does not exist.
    def compute_value(  # noqa: UP007
        cls,
        raw_value: Optional[Iterable[str]],  # noqa: UP007
        address: Address,
    ) -> Optional[tuple[str, ...]]:  # noqa: UP007
        value = super().compute_value(raw_value, address)
        if not value:
            raise InvalidFieldException(
                f"The `{cls.alias}` field of {address} is empty; name at least one of: "
                f"{', '.join(CHECK_NAMES)}."
            )
        unknown = [name for name in value if name not in CHECK_NAMES]
        if unknown:
            raise InvalidFieldException(
                f"The `{cls.alias}` field of {address} has unknown check(s) "
                f"{', '.join(repr(u) for u in unknown)}; the allowed values are: "
                f"{', '.join(CHECK_NAMES)}."
            )
        duplicates = sorted({name for name in value if value.count(name) > 1})
        if duplicates:
            raise InvalidFieldException(
                f"The `{cls.alias}` field of {address} names {', '.join(duplicates)} twice."
            )
        return value


class GpuSmokeTestExpectGpusField(IntField):
    alias = "expect_gpus"
    default = 1
    valid_numbers = ValidNumbers.positive_only
    help = "The least number of GPUs `nvidia-smi` and PyTorch must see (1 or more)."


class GpuSmokeTestFrameworkField(StringField):
    alias = "framework"
    valid_choices = FRAMEWORKS
    help = help_text(
        """
        The framework the `framework` and `serve` checks use. Unset: the image's
        `DYNAMO_BACKEND` (containers/images_templates.py sets it in every image).
        """
    )


class GpuSmokeTestTimeoutField(TestTimeoutField):
    pass


class GpuSmokeTestTarget(Target):
    alias = "gpu_smoke_test"
    core_fields = (
        *COMMON_TARGET_FIELDS,
        GpuSmokeTestDependenciesField,
        GpuSmokeTestImageField,
        GpuSmokeTestChecksField,
        GpuSmokeTestExpectGpusField,
        GpuSmokeTestFrameworkField,
        GpuSmokeTestTimeoutField,
    )
    help = help_text(
        """
        GPU smoke checks run by `pants test`: nvidia-smi sees the GPUs, a CUDA matmul through
        PyTorch matches the CPU's, NIXL moves a GPU buffer between two agents, the framework
        imports and sees the GPU, and Dynamo's frontend plus the framework's real engine
        serve one request on a tiny model. Results are per check (passed, failed or skipped
        with the reason) and written as JUnit XML (`pants test --report`).

        Without a GPU the target is reported `skipped: no GPU (<reason>)`, never passed;
        `--gpu-smoke-require-gpu` turns that into a failure (for GPU runners).
        """
    )
