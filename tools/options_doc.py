#!/usr/bin/env python3
"""Write docs/options.md: every option of the flake's NixOS modules, as NixOS' manual documents it.

    python3 tools/options_doc.py           # (re)write docs/options.md
    python3 tools/options_doc.py --check   # exit 1 if docs/options.md is not what it would write

The modules are evaluated with nixpkgs' lib.evalModules against the stand-in NixOS option
declarations of tests/nix/stubs (nixpkgs itself is not needed, only `<nixpkgs/lib>` and
nix-instantiate), and their options are listed with lib.optionAttrSetToDocList, the function
behind the NixOS manual's option pages. Only the project's own options (below `homeMail`) are kept.

Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "docs" / "options.md"
# The files of nixosModules.{netns,wireguard-gateway,mail-home} (flake.nix).
MODULES = ["modules/netns.nix", "modules/wireguard-gateway.nix", "modules/mail-home/default.nix"]
ROOT = "homeMail"
EVALUATION_TIMEOUT_SECONDS = 300

EXPRESSION = f"""let
  lib = import <nixpkgs/lib>;
  evaluated = import ./tests/nix/stubs/evaluate.nix {{
    modules = [ {" ".join(f"./{module}" for module in MODULES)} ];
  }};
  documented = lib.optionAttrSetToDocList evaluated.options.{ROOT};
in
map (option: builtins.removeAttrs option [ "visible" "internal" "relatedPackages" ]) (
  builtins.filter (option: option.visible && !option.internal) documented
)"""

HEADER = """# Options

<!-- Written by tools/options_doc.py from the option declarations of modules/: do not edit by
hand; run `python3 tools/options_doc.py` after changing an option (a test checks it is current). -->

The options of the flake's NixOS modules: `homeMail.gateway` (`nixosModules.wireguard-gateway`),
`homeMail.home` (`nixosModules.mail-home`) and `homeMail.netns` (`nixosModules.netns`, which
`mail-home` imports). Read-only options are computed by the modules, for inspection and tests.
See [the README](../README.md) for how they fit together and [docs/design.md](design.md) for the
plans behind them.
"""


class OptionsDocError(Exception):
    """The modules could not be evaluated; the message says why."""


def documented_options() -> list[dict[str, Any]]:
    """The options below `homeMail`, as lib.optionAttrSetToDocList describes them, sorted by name."""
    try:
        result = subprocess.run(
            ["nix-instantiate", "--eval", "--strict", "--json", "--expr", EXPRESSION],
            cwd=REPO,
            # Debian's nix-bin names a build-users group that does not exist; evaluation never builds.
            env={**os.environ, "NIX_CONFIG": "build-users-group ="},
            capture_output=True,
            text=True,
            check=False,
            timeout=EVALUATION_TIMEOUT_SECONDS,
        )
    except FileNotFoundError as error:
        raise OptionsDocError("nix-instantiate is not installed") from error
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if not line.startswith("warning:")]
        raise OptionsDocError("evaluating the modules failed:\n" + "\n".join(errors))
    options: list[dict[str, Any]] = json.loads(result.stdout)
    return sorted(options, key=lambda option: [str(part) for part in option["loc"]])


def _code(text: str) -> str:
    """`text` as inline code (with a longer fence when it holds backticks)."""
    fence = "``" if "`" in text else "`"
    padding = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{padding}{text}{padding}{fence}"


def _indented(text: str) -> str:
    return "\n".join(f"  {line}" if line else "" for line in text.splitlines())


def render_value(label: str, value: Any) -> str:
    """A list item for a default or example as the manual shows it: a Nix expression as code
    (a block when it has several lines), Markdown as it is."""
    if isinstance(value, dict) and value.get("_type") in ("literalExpression", "literalMD"):
        text = str(value["text"]).strip()
        markdown = value["_type"] == "literalMD"
    else:
        # A plain value (a nixpkgs lib older than renderOptionValue): its JSON, which reads alike.
        text, markdown = json.dumps(value), False
    if "\n" not in text:
        return f"- {label}: {text if markdown else _code(text)}"
    return f"- {label}:\n\n" + _indented(text if markdown else f"```nix\n{text}\n```")


def _declared_in(option: dict[str, Any]) -> str:
    links = []
    for declaration in option.get("declarations", []):
        path = Path(str(declaration))
        relative = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else str(declaration)
        links.append(f"[{relative}](../{relative})" if path.is_relative_to(REPO) else _code(relative))
    return ", ".join(links)


def render_option(option: dict[str, Any]) -> str:
    lines = [f"### {_code(option['name'])}", "", str(option.get("description") or "").strip(), ""]
    lines.append(f"- Type: {option['type']}" + (" (read-only)" if option.get("readOnly") else ""))
    if "default" in option:
        lines.append(render_value("Default", option["default"]))
    elif not option.get("readOnly"):
        lines.append("- Default: none, it must be set")
    if "example" in option:
        lines.append(render_value("Example", option["example"]))
    declared = _declared_in(option)
    if declared:
        lines.append(f"- Declared in: {declared}")
    return "\n".join(lines) + "\n"


def render(options: Sequence[dict[str, Any]]) -> str:
    """The text of docs/options.md: one section per module root (homeMail.gateway, ...)."""
    sections: dict[str, list[dict[str, Any]]] = {}
    for option in options:
        sections.setdefault(".".join(str(part) for part in option["loc"][:2]), []).append(option)
    parts = [HEADER]
    parts.append("\n".join(f"- [{name}](#{name.lower().replace('.', '')})" for name in sections) + "\n")
    for name, members in sections.items():
        parts.append(f"## {name}\n")
        parts.extend(render_option(option) for option in members)
    return "\n".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="only check that the file is current")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write (docs/options.md)")
    args = parser.parse_args(argv)
    try:
        text = render(documented_options())
    except OptionsDocError as error:
        print(f"options_doc: {error}", file=sys.stderr)
        return 2
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run python3 tools/options_doc.py", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
