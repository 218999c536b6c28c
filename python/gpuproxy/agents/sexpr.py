"""S-expressions as FIPA ACL (string syntax) and KQML write them: symbols, "strings" with
backslash escapes, and nested lists. A fault is reported with its character position."""

from __future__ import annotations

import re

__all__ = ["SExpr", "SexprError", "Symbol", "dumps", "parse"]

#: Nesting deeper than this is refused (a message is a performative with a content list).
MAX_DEPTH = 32
_SAFE = re.compile(r"^[A-Za-z0-9_.:+\-*/<>=!?$%&~^@#]+$")


def _ends_symbol(char: str) -> bool:
    return char.isspace() or char in '()"'


class Symbol(str):
    """A bare word (performative, keyword, symbol), as opposed to a quoted string."""

    __slots__ = ()


SExpr = Symbol | str | list["SExpr"]


class SexprError(ValueError):
    def __init__(self, position: int, message: str) -> None:
        super().__init__(f"at position {position}: {message}")
        self.position = position
        self.message = message


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def read(self, depth: int) -> SExpr:
        self.skip()
        if self.pos >= len(self.text):
            raise SexprError(self.pos, "unexpected end of input")
        char = self.text[self.pos]
        if char == "(":
            if depth >= MAX_DEPTH:
                raise SexprError(self.pos, f"nested deeper than {MAX_DEPTH}")
            start = self.pos
            self.pos += 1
            items: list[SExpr] = []
            while True:
                self.skip()
                if self.pos >= len(self.text):
                    raise SexprError(start, "this ( is never closed")
                if self.text[self.pos] == ")":
                    self.pos += 1
                    return items
                items.append(self.read(depth + 1))
        if char == ")":
            raise SexprError(self.pos, "unexpected )")
        if char == '"':
            return self.string()
        start = self.pos
        while self.pos < len(self.text) and not _ends_symbol(self.text[self.pos]):
            self.pos += 1
        return Symbol(self.text[start : self.pos])

    def string(self) -> str:
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == '"':
                self.pos += 1
                return "".join(out)
            out.append(char)
            self.pos += 1
        raise SexprError(start, "this string is never closed")


def parse(text: str) -> SExpr:
    """One s-expression; anything after it is a fault."""
    reader = _Reader(text)
    value = reader.read(0)
    reader.skip()
    if reader.pos != len(text):
        raise SexprError(reader.pos, "unexpected text after the message")
    return value


def dumps(value: SExpr) -> str:
    if isinstance(value, list):
        return "(" + " ".join(dumps(v) for v in value) + ")"
    if isinstance(value, Symbol) and _SAFE.match(value):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
