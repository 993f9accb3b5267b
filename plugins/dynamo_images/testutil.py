"""For RuleRunner tests of this plugin and of the BUILD prelude that uses it."""

from pants.core.goals import package, publish
from pants.core.util_rules import source_files

from dynamo_images import register


def plugin_rules():
    """This plugin's rules plus the core goals' rules that Pants itself would install."""
    return [*register.rules(), *package.rules(), *publish.rules(), *source_files.rules()]
