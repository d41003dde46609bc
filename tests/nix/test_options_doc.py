"""docs/options.md is what tools/options_doc.py writes from the modules, and every option is documented.

The generator evaluates the modules against the stand-in NixOS options (tests/nix/stubs) with
nixpkgs' lib and lists them with lib.optionAttrSetToDocList, as the NixOS manual does.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from nixeval import REPO, needs_nixpkgs_lib

GENERATOR = REPO / "tools" / "options_doc.py"
DOCUMENT = REPO / "docs" / "options.md"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("options_doc", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="module")
def options(generator: ModuleType) -> list[dict[str, Any]]:
    documented: list[dict[str, Any]] = generator.documented_options()
    return documented


@needs_nixpkgs_lib
def test_docs_options_md_is_up_to_date(generator: ModuleType, options: list[dict[str, Any]]) -> None:
    expected: str = generator.render(options)
    assert DOCUMENT.read_text() == expected, (
        "docs/options.md is out of date: run python3 tools/options_doc.py"
    )


@needs_nixpkgs_lib
def test_only_the_projects_options_with_portable_links(options: list[dict[str, Any]]) -> None:
    names = [option["name"] for option in options]
    assert all(name.startswith("homeMail.") for name in names), names
    assert {"homeMail.home.enable", "homeMail.gateway.homes.<name>.publicKey", "homeMail.netns"} <= set(names)
    text = DOCUMENT.read_text()
    for section in ("homeMail.gateway", "homeMail.home", "homeMail.netns"):
        assert f"\n## {section}\n" in text, section
    # Declarations are linked relative to the document, never as this checkout's absolute path.
    assert str(REPO) not in text
    assert "[modules/mail-home/default.nix](../modules/mail-home/default.nix)" in text


@needs_nixpkgs_lib
def test_every_option_is_typed_described_and_has_an_example(options: list[dict[str, Any]]) -> None:
    """As nixpkgs' manual renders them; read-only (computed) options need no example."""
    for option in options:
        assert option["type"], option["name"]
        assert str(option.get("description") or "").strip(), option["name"]
        assert option["readOnly"] or "example" in option, option["name"]


@needs_nixpkgs_lib
def test_check_mode_reports_a_stale_file(generator: ModuleType, tmp_path: Path) -> None:
    stale = tmp_path / "options.md"
    stale.write_text("# Options\n")
    assert generator.main(["--check", "--output", str(stale)]) == 1
    assert generator.main(["--output", str(stale)]) == 0
    assert generator.main(["--check", "--output", str(stale)]) == 0
    assert stale.read_text() == DOCUMENT.read_text()


def test_values_render_as_the_manual_shows_them(generator: ModuleType) -> None:
    expression = {"_type": "literalExpression", "text": '"wg0"'}
    assert generator.render_value("Default", expression) == '- Default: `"wg0"`'
    block = generator.render_value("Example", {"_type": "literalExpression", "text": "[\n  25\n]"})
    assert block == "- Example:\n\n  ```nix\n  [\n    25\n  ]\n  ```"
    markdown = {"_type": "literalMD", "text": "the addresses of `eth0`"}
    assert generator.render_value("Default", markdown) == "- Default: the addresses of `eth0`"
    assert generator.render_value("Default", {"_type": "literalExpression", "text": "`x`"}) == (
        "- Default: `` `x` ``"
    )
