"""The documentation cannot rot: its examples run, its reference covers the code.

Every `python` code block of the README and of the docs' pages runs here, the blocks of
one page in order in one namespace (top-level `await` allowed, as in a notebook or the
asyncio REPL), in a fresh folder with the hashing embedder. The generated reference must
name every public Python name and every CLI command.
"""

from __future__ import annotations

import ast
import asyncio
import importlib.util
import inspect
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks_of(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "page",
    [page for page in PAGES if blocks_of(page)],
    ids=lambda page: str(page.relative_to(ROOT)),
)
def test_every_python_example_runs(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LEARNING_STORE_EMBEDDING_MODEL", "hashing")
    monkeypatch.setenv("LEARNING_STORE_TELEMETRY_SPOOL_DIR", str(tmp_path / "spool"))
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for number, source in enumerate(blocks_of(page), start=1):
        code = compile(
            source, f"{page.name} block {number}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
        )
        result = eval(code, namespace)  # our own documentation's examples
        if inspect.iscoroutine(result):  # a block with top-level await: its own event loop
            asyncio.run(result)


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["docs_hooks"] = module
    spec.loader.exec_module(module)
    return module


def test_the_generated_reference_names_every_public_name_and_command() -> None:
    import typer.main

    import learning_store
    from learning_store.cli import app

    hooks = _hooks()
    api = hooks.api_reference()
    for name in learning_store.__all__:
        assert f"## `{name}`" in api and f".{name}\n" in api, name
    cli = hooks.cli_reference()
    root = typer.main.get_command(app)
    context = root.context_class(root, info_name="learning-store")
    for name in root.list_commands(context):
        command = root.get_command(context, name)
        if hasattr(command, "list_commands"):
            for sub in command.list_commands(context):
                assert f"## `learning-store {name} {sub}`" in cli
        else:
            assert f"## `learning-store {name}`" in cli, name
    configuration = hooks.configuration_reference()
    from learning_store.config import LearningConfig

    for field in LearningConfig.model_fields:
        assert f"LEARNING_STORE_{field.upper()}" in configuration
    schema = hooks.schema_reference()
    assert schema.count("\n| `") == 27  # the 27 columns


def test_the_readme_is_a_landing_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install = re.search(r"pip install --quiet (torch==\S+ -e '[^']+')", ci)
    assert install is not None and install.group(1) in readme  # the two commands agree
