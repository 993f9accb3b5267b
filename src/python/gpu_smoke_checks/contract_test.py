import ast
from pathlib import Path

import gpu_smoke_checks
from gpu_smoke_checks import contract


def test_the_package_python_runs_is_this_one():
    assert contract.PACKAGE == gpu_smoke_checks.__name__


def test_the_contract_is_literals_that_python_3_9_can_load_by_path():
    """The Pants plugin loads the file by path inside Pants' Python 3.9, with nothing else of
    this package importable: an import or a computed value would fail there, not here."""
    tree = ast.parse(Path(contract.__file__).read_text(), feature_version=(3, 9))
    docstring, *assignments = tree.body
    assert isinstance(docstring, ast.Expr)
    for node in assignments:
        assert isinstance(node, ast.Assign), ast.dump(node)
        ast.literal_eval(node.value)
