"""`unavailable_image`: an image of the family that cannot be built on this machine.

It is listed with the family (`./pants list containers::`, `./pants peek` shows why) and
`./pants package` of it fails at once with the reason, before anything else is built: never
a silent half-image, never an hour-long build that dies on a missing download.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.core.goals.package import BuiltPackage, PackageFieldSet
from pants.engine.rules import collect_rules, rule
from pants.engine.target import COMMON_TARGET_FIELDS, StringField, Target
from pants.engine.unions import UnionRule
from pants.util.strutil import help_text


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


@rule
async def refuse_unavailable_image(field_set: UnavailableImageFieldSet) -> BuiltPackage:
    raise UnavailableImageError(
        f"{field_set.address} cannot be built on this machine: {field_set.reason.value}"
    )


def rules():
    return [*collect_rules(), UnionRule(PackageFieldSet, UnavailableImageFieldSet)]
