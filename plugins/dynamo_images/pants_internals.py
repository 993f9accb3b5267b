"""Pants 2.17 internals this plugin reads, in one place: revisit each on a Pants upgrade.

- `_Options` (pants.engine.internals.options_parsing): the parsed options of the running goal,
  read for the specs given on the command line (`CommandLineSpecs`). Pants hands a rule its
  resolved targets, never whether the user named a target or a glob matched it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pants.engine.internals.options_parsing import _Options
from pants.engine.rules import collect_rules, rule


@dataclass(frozen=True)
class CommandLineSpecs:
    """The target specs of the running command, as typed (`containers::`, `dir:name`)."""

    specs: tuple[str, ...]


@rule
def command_line_specs(options: _Options) -> CommandLineSpecs:
    return CommandLineSpecs(tuple(options.options.specs))


def rules():
    return collect_rules()
