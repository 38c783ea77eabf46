"""House rule (issue 13, point 5): a package's ``__init__.py`` re-exports, it defines nothing.

A function, class or constant belongs in a module named for what it holds, so a
maintainer finds it where its name says; ``__init__.py`` only gathers the public names
(and every name it lists in ``__all__`` must really be there).
"""

from __future__ import annotations

import ast
import importlib

import pytest

from tests.conftest import ROOT

PACKAGES = ("hhu_sync.ingest", "hhu_sync.export", "hhu_sync.link", "hhu_sync.iec62056",
            "hhu_sync.keys", "hhu_sync.transfer", "hhu_sync.store", "hhu_sync.meterio",
            "hhu_sync.cli", "hhu_sync.profile", "hhu_sync.remote",
            "hhu_firmware_sim.meter")


def _definitions(source: str) -> list[str]:
    """What the module's top level does besides importing, documenting and ``__all__``."""
    found = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue                                    # the docstring
        if isinstance(node, ast.Assign) and [getattr(t, "id", None)
                                             for t in node.targets] == ["__all__"]:
            continue
        found.append(f"line {node.lineno}: {type(node).__name__}")
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_the_package_init_only_re_exports(package):
    path = ROOT.joinpath(*package.split("."), "__init__.py")
    assert _definitions(path.read_text()) == [], path


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_the_init_lists_is_importable_from_the_package(package):
    module = importlib.import_module(package)
    missing = [name for name in getattr(module, "__all__", ()) if not hasattr(module, name)]
    assert missing == []


def test_a_definition_in_an_init_is_found():
    assert _definitions('"""doc"""\nimport os\n__all__ = ["x"]\nX = 1\ndef f(): ...\n') == [
        "line 4: Assign", "line 5: FunctionDef"]
