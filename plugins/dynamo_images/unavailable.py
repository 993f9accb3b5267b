"""`unavailable_image`: an image of the family that cannot be built on this machine.

It is listed with the family (`./pants list containers::`, `./pants peek` shows why).
`./pants package` of it, named on the command line, fails at once with the reason, before
anything else is built: never a silent half-image, never an hour-long build that dies on a
missing download. Matched by a glob (`./pants package containers::`), it is left out with one
warning for all of them, so that the family command builds everything this machine can.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pants.base.specs import Specs
from pants.base.specs_parser import SpecsParser
from pants.core.goals.package import BuiltPackage, PackageFieldSet
from pants.engine.addresses import Address, Addresses
from pants.engine.fs import EMPTY_DIGEST
from pants.engine.rules import Get, collect_rules, rule
from pants.engine.target import COMMON_TARGET_FIELDS, StringField, Target, UnexpandedTargets
from pants.engine.unions import UnionRule
from pants.util.strutil import help_text

from dynamo_images import pants_internals
from dynamo_images.pants_internals import CommandLineSpecs

logger = logging.getLogger(__name__)


class UnavailableImageReasonField(StringField):
    alias = "reason"
    required = True
    help = help_text(
        """
        What this machine lacks to build the image and what to do about it: the message
        `package` fails with.
        """
    )


class UnavailableImageTarget(Target):
    alias = "unavailable_image"
    core_fields = (*COMMON_TARGET_FIELDS, UnavailableImageReasonField)
    help = help_text(
        """
        An image that cannot be built here (for example, its framework is not installable
        from the package indexes this machine reaches). `package` fails at once, naming the
        missing piece.
        """
    )


class UnavailableImageError(Exception):
    pass


@dataclass(frozen=True)
class UnavailableImageFieldSet(PackageFieldSet):
    required_fields = (UnavailableImageReasonField,)

    reason: UnavailableImageReasonField


@dataclass(frozen=True)
class UnavailableImagesLeftOut:
    """The unavailable images the goal's specs match without naming them (one per session)."""

    named: frozenset[Address]
    left_out: tuple[Address, ...]


@rule(desc="Find the unavailable images a glob matched")
async def unavailable_images_left_out(specs: CommandLineSpecs) -> UnavailableImagesLeftOut:
    parsed: Specs = SpecsParser().parse_specs(
        specs.specs, description_of_origin="the command line"
    )
    named = frozenset(
        Address(s.path_component, target_name=s.target_component)
        for s in parsed.includes.address_literals
        if not s.generated_component and not s.parameters
    )
    matched = await Get(UnexpandedTargets, Addresses, await Get(Addresses, Specs, parsed))
    left_out = tuple(
        t.address
        for t in matched
        if isinstance(t, UnavailableImageTarget) and t.address not in named
    )
    if left_out:
        logger.warning(
            f"Left out {len(left_out)} image(s) this machine cannot build: "
            f"{', '.join(str(a) for a in left_out)} (`./pants peek <address>` says why; "
            "naming one on the command line fails with the reason)."
        )
    return UnavailableImagesLeftOut(named, left_out)


@rule
async def refuse_unavailable_image(field_set: UnavailableImageFieldSet) -> BuiltPackage:
    matches = await Get(UnavailableImagesLeftOut)
    if field_set.address in matches.named or field_set.address not in matches.left_out:
        raise UnavailableImageError(
            f"{field_set.address} cannot be built on this machine: {field_set.reason.value}"
        )
    return BuiltPackage(EMPTY_DIGEST, ())


def rules():
    return [
        *collect_rules(),
        *pants_internals.rules(),
        UnionRule(PackageFieldSet, UnavailableImageFieldSet),
    ]
