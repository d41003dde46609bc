"""The checks written in the Nix sources, found by reading them: every call of `check` (lib/) and of
`definitions.assertionAbout` (modules/), with a regular expression for the messages it can produce.

    check "${root}.homes" (isAttrs homes) "${show homes} is not a set of homes; write e.g. ..."
    -> CheckSite("lib/gateway.nix:109", pattern ^(.*?\\.homes): (.*? is not a set of homes; ...)$)

A message is `<path>: <message>` (lib/checks.nix); the literal text of both arguments must appear
as written, every `${...}` stands for any text. A message given as `explain.${kind}`, where
`explain` is an attribute set of strings in the same file, is one site per attribute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

OPENING = {"(": ")", "[": "]", "{": "}"}
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


class NixSyntaxError(ValueError):
    pass


@dataclass(frozen=True)
class CheckSite:
    location: str  # file:line of the call
    path: str  # Nix source of the path argument
    message: str  # Nix source of the message argument (or `explain.<name>` for an expanded one)
    pattern: re.Pattern[str]

    def matches(self, message: str) -> bool:
        return self.pattern.fullmatch(message) is not None

    @property
    def literal_text(self) -> str:
        """What of the message is fixed text (for a sanity check that patterns are specific)."""
        return re.sub(r"\$\{.*?\}", "", self.message)


# The two kinds of Nix string: its quote and the escapes that stand for text inside it.
DOUBLE_QUOTED = ('"', re.compile(r"\\.", re.DOTALL))
INDENTED = ("''", re.compile(r"'''|''\$|''\\"))


def _skip_string(text: str, index: int, kind: tuple[str, re.Pattern[str]] = DOUBLE_QUOTED) -> int:
    """From the opening quote of a string of `kind` to just after its closing quote."""
    quote, escape = kind
    index += len(quote)
    while index < len(text):
        if found := escape.match(text, index):
            index = found.end()
        elif text.startswith(quote, index):
            return index + len(quote)
        elif text.startswith("${", index):
            index = _skip_brackets(text, index + 1)
        else:
            index += 1
    raise NixSyntaxError(f"unterminated string ({quote}...{quote})")


def _skip_comment(text: str, index: int) -> int:
    if text.startswith("/*", index):
        return text.index("*/", index) + 2
    end = text.find("\n", index)
    return len(text) if end < 0 else end


def _skip_brackets(text: str, index: int) -> int:
    """From an opening bracket to just after its matching closing one."""
    expected = [OPENING[text[index]]]
    index += 1
    while expected:
        if index >= len(text):
            raise NixSyntaxError("unbalanced brackets")
        char = text[index]
        if char == '"':
            index = _skip_string(text, index)
        elif text.startswith("''", index):
            index = _skip_string(text, index, INDENTED)
        elif char == "#" or text.startswith("/*", index):
            index = _skip_comment(text, index)
        else:
            if char in OPENING:
                expected.append(OPENING[char])
            elif char == expected[-1]:
                expected.pop()
            index += 1
    return index


def _skip_space(text: str, index: int) -> int:
    while True:
        while index < len(text) and text[index].isspace():
            index += 1
        if text.startswith(("#", "/*"), index):
            index = _skip_comment(text, index)
        else:
            return index


def _term(text: str, index: int) -> tuple[int, int]:
    """(start, end) of one argument of a function call: a string, a bracketed expression, or a
    name with attribute selections (`result.valid`, `explain.${kind}`)."""
    index = _skip_space(text, index)
    if text.startswith('"', index):
        return index, _skip_string(text, index)
    if index < len(text) and text[index] in OPENING:
        return index, _skip_brackets(text, index)
    name = NAME.match(text, index)
    if name is None:
        raise NixSyntaxError(f"no argument at {text[index : index + 40]!r}")
    end = name.end()
    while text.startswith(".", end):
        if text.startswith(".${", end):
            end = _skip_brackets(text, end + 2)
        else:
            selected = NAME.match(text, end + 1)
            if selected is None:
                break
            end = selected.end()
    return index, end


def template_pattern(literal: str) -> str:
    """A regular expression for the values of a Nix string literal: its text, any text per `${}`."""
    body, index, parts, text = literal[1:-1], 0, [], ""
    while index < len(body):
        if body[index] == "\\":
            text += ESCAPES.get(body[index + 1], body[index + 1])
            index += 2
        elif body.startswith("${", index):
            parts += [re.escape(text), ".*?"]
            text = ""
            index = _skip_brackets(body, index + 1)
        else:
            text += body[index]
            index += 1
    return "".join([*parts, re.escape(text)])


def _attribute_strings(text: str, name: str) -> dict[str, str]:
    """`name = { key = "..."; ... };` in `text`: key -> the string literal (with its quotes)."""
    found = re.search(rf"\b{re.escape(name)}\s*=\s*\{{", text)
    if found is None:
        raise NixSyntaxError(f"no attribute set {name} = {{ ... }}")
    body_end = _skip_brackets(text, found.end() - 1) - 1
    entries: dict[str, str] = {}
    index = found.end()
    while True:
        index = _skip_space(text, index)
        if index >= body_end:
            return entries
        key = NAME.match(text, index)
        if key is None:
            raise NixSyntaxError(f"{name}: unexpected {text[index : index + 30]!r}")
        start, end = _term(text, text.index("=", key.end()) + 1)
        entries[key.group()] = text[start:end]
        index = text.index(";", end) + 1


def check_sites(file: Path, function: str, root: Path) -> list[CheckSite]:
    """Every call `function path condition message` in `file`, outside strings and comments."""
    text = file.read_text()
    call = re.compile(rf"(?<![A-Za-z0-9_'.-]){re.escape(function)}(?![A-Za-z0-9_'-])")
    sites: list[CheckSite] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == '"':
            index = _skip_string(text, index)
            continue
        if text.startswith("''", index):
            index = _skip_string(text, index, INDENTED)
            continue
        if char == "#" or text.startswith("/*", index):
            index = _skip_comment(text, index)
            continue
        found = call.match(text, index)
        statement = text[text.rfind(";", 0, index) + 1 : index]
        # Not a call: its definition (`check = ...`) or `inherit (...) check show;`.
        if found is None or re.match(r"\s*[=;]", text[found.end() :]) or "inherit" in statement:
            index += 1
            continue
        arguments, end = [], found.end()
        for _ in range(3):
            start, end = _term(text, end)
            arguments.append(text[start:end])
        location = f"{file.relative_to(root)}:{text.count(chr(10), 0, index) + 1}"
        path, _, message = arguments
        path_pattern = template_pattern(path) if path.startswith('"') else ".+?"
        if message.startswith('"'):
            messages = {message: message}
        else:
            # `explain.${kind}`: one site per string of the attribute set.
            base = message.split(".", 1)[0]
            messages = {f"{base}.{key}": value for key, value in _attribute_strings(text, base).items()}
        for source, literal in messages.items():
            pattern = re.compile(f"{path_pattern}: {template_pattern(literal)}", re.DOTALL)
            shown = literal if source == literal else f"{source} = {literal}"
            sites.append(CheckSite(location, path, shown, pattern))
        index = end
    return sites


def warning_sites(file: Path, root: Path) -> list[CheckSite]:
    """Every `warnings = optional condition "message";` in `file` (the message names its option)."""
    text = file.read_text()
    sites: list[CheckSite] = []
    for found in re.finditer(r"\bwarnings\s*=\s*(?:lib\.)?optional(?![A-Za-z0-9_'-])", text):
        _, end = _term(text, found.end())
        start, end = _term(text, end)
        literal = text[start:end]
        if not literal.startswith('"'):
            raise NixSyntaxError(f"{file}: a warning that is not a string literal: {literal[:40]}")
        location = f"{file.relative_to(root)}:{text.count(chr(10), 0, found.start()) + 1}"
        pattern = re.compile(template_pattern(literal), re.DOTALL)
        sites.append(CheckSite(location, "", literal, pattern))
    return sites
