import subprocess
import sys

from dynamo_ci_tools import __version__


def module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dynamo_ci_tools", *args], capture_output=True, text=True
    )


def test_help_lists_the_commands():
    out = module("--help")
    assert out.returncode == 0, out.stderr
    # The subcommands' own lines, and the overview in the description.
    for line in ("\n    soak ", "\n    metrics ", "\nmetrics snapshot ", "\nmetrics compare "):
        assert line in out.stdout, out.stdout
    metrics_help = module("metrics", "--help")
    assert "snapshot" in metrics_help.stdout and "compare" in metrics_help.stdout


def test_version():
    out = module("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"dynamo_ci_tools {__version__}"


def test_a_command_is_required():
    out = module()
    assert out.returncode == 2 and "the following arguments are required: COMMAND" in out.stderr
