"""The one module that talks to the CEL library (cel-expr-python, Google's wrapper of cel-cpp).

Chosen by measurement (docs/performance.md): compile-time checking of functions and syntax,
2 to 5 µs per rule evaluation once an activation is built, runtime errors returned as values
(never exceptions).
Everything CEL-specific — the declared environment, error positions, the static cost bound, turning
values into Python — stays here, so the rest of the core sees plain data.

The variables every rule sees:

* ``intent`` — the intent at head (at base for a deleted intent), a map;
* ``base`` — the intent at the base revision, or ``null`` for a new file;
* ``facts`` — what EUCORA computed (see :mod:`bot.core.facts`), a map;
* ``config`` — the repository's ``eucora.yaml`` read from the base revision, a map;
* ``now`` — the evaluation time, a timestamp.

Declared as maps of ``dyn``, the variables let the checker catch syntax, unknown functions and some
type errors (``size(x) == true``) but not a field compared with a value of the wrong type, so
:class:`TypeChecker` compiles each expression once more against typed protobuf messages generated
from the schemas (:mod:`bot.core.cel_types`) — for checking only, the evaluated program is the map
one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cel_expr_python import cel
from cel_expr_python.ext import ext_strings

_T = cel.Type
VARIABLES: dict[str, Any] = {
    "intent": _T.Map(_T.STRING, _T.DYN),
    "base": _T.DYN,
    "facts": _T.Map(_T.STRING, _T.DYN),
    "config": _T.Map(_T.STRING, _T.DYN),
    "now": _T.TIMESTAMP,
}

# A static bound on work, as Kubernetes bounds CEL: each comprehension (all, exists, map...) may
# iterate over at most MAX_LIST_ITEMS elements (the schemas cap lists at 20 rings), so nesting them
# multiplies. A rule whose estimate exceeds MAX_COST is refused when the pack is compiled.
MAX_LIST_ITEMS = 100
MAX_COST = 1_000_000
_MACRO = re.compile(r"\.\s*(all|exists|exists_one|map|filter)\s*\(")
_ERROR_AT = re.compile(r"<input>:(\d+):(\d+): (.*)")


class CelCompileError(ValueError):
    """A rule's expression does not compile; carries the 1-based line and column in it."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message, line, column)
        self.message = message
        self.line = line
        self.column = column


@dataclass(frozen=True, slots=True)
class Program:
    """A compiled expression and its source text."""

    source: str
    expression: Any


@dataclass(frozen=True, slots=True)
class Outcome:
    """The result of one evaluation: a plain value, or an error message (never both)."""

    value: Any = None
    error: str | None = None
    aborted: bool = False
    """CEL stopped the evaluation itself (a limit such as its iteration budget was exceeded)."""


class CelEnvironment:
    """The declared environment: compile once per rule, evaluate per intent."""

    def __init__(self) -> None:
        self._env = cel.NewEnv(variables=VARIABLES, extensions=[ext_strings.ExtStrings()])

    def compile(self, source: str) -> Program:
        """Compile and type-check an expression, or raise :class:`CelCompileError`."""
        cost = estimate_cost(source)
        if cost > MAX_COST:
            raise CelCompileError(
                f"the expression may cost about {cost:,} steps (limit {MAX_COST:,}): "
                "nest fewer comprehensions",
                1,
                1,
            )
        try:
            expression = self._env.compile(source)
        except RuntimeError as error:
            raise _compile_error(str(error)) from error
        return Program(source=source, expression=expression)

    def activation(self, variables: dict[str, Any]) -> Any:
        """Build an activation once per intent; every rule is evaluated against it."""
        return self._env.Activation(variables)

    @staticmethod
    def evaluate(program: Program, activation: Any) -> Outcome:
        """Evaluate a compiled expression; errors come back as values."""
        try:
            value = program.expression.eval(activation)
        except RuntimeError as error:  # cel-cpp raises for its own limits (iteration budget)
            return Outcome(error=_one_line(error), aborted=True)
        raw = value.value()
        # The common case, a rule's condition: only a CEL bool has a Python bool as its value
        # (an error's is its message), so no type object is fetched or compared.
        if raw is True:
            return _TRUE
        if raw is False:
            return _FALSE
        if value.type() == cel.Type.ERROR:
            return Outcome(error=str(raw))
        return Outcome(value=to_python(value.plain_value()))


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return f"CEL stopped the evaluation: {text}"


_TRUE = Outcome(value=True)
_FALSE = Outcome(value=False)


class TypeChecker:
    """Compiles expressions against typed declarations, only to find type errors.

    The variables are protobuf messages generated from the schemas (:mod:`bot.core.cel_types`), so
    CEL's own checker sees ``intent.package.signed`` as a boolean and refuses ``== 'yes'`` with the
    column of the operator. The program it builds is thrown away: rules are evaluated by
    :class:`CelEnvironment`, over plain maps, so the check can never change a result.
    """

    def __init__(self, pool: Any, messages: dict[str, str]) -> None:
        variables = {name: cel.Type(message) for name, message in messages.items()}
        variables["now"] = _T.TIMESTAMP
        self._env = cel.NewEnv(
            descriptor_pool=pool, variables=variables, extensions=[ext_strings.ExtStrings()]
        )
        for name, message in messages.items():  # cel-cpp ignores a descriptor it refuses: say so
            fields = pool.FindMessageTypeByName(message).fields
            if fields:
                try:
                    self._env.compile(f"has({name}.{fields[0].name})")
                except RuntimeError as error:
                    msg = f"CEL refused the declared type {message}: {error}"
                    raise ValueError(msg) from error

    def check(self, source: str) -> None:
        """Raise :class:`CelCompileError` when the expression does not type-check.

        A wrong type's message starts with :data:`WRONG_TYPE`.
        """
        try:
            self._env.compile(source)
        except RuntimeError as error:
            raise _compile_error(str(error)) from error


WRONG_TYPE = "wrong type: "
_WRAPPER = re.compile(r"wrapper\((\w+)\)")


def _compile_error(text: str) -> CelCompileError:
    match = _ERROR_AT.search(text)
    if match is None:
        return CelCompileError(text.splitlines()[0], 1, 1)
    message = match.group(3).strip()
    if "no matching overload" in message:
        message = WRONG_TYPE + _WRAPPER.sub(r"\1", message)  # wrapper(bool): a nullable bool
    return CelCompileError(message, int(match.group(1)), max(1, int(match.group(2))))


_QUOTES = ('"""', "'''", '"', "'")
_RAW_PREFIXES = frozenset({"r", "R", "br", "bR", "Br", "BR", "rb", "rB", "Rb", "RB"})


def _literal_end(source: str, start: int) -> int:
    """The index just past the string literal opening at ``start`` (CEL's lexical rules).

    An escape (a backslash and the character after it) is skipped in an ordinary literal; a raw
    literal (``r"..."``) has none. An unterminated literal runs to the end of the source.
    """
    quote = next(q for q in _QUOTES if source.startswith(q, start))
    prefix = start
    while prefix > 0 and (source[prefix - 1].isalnum() or source[prefix - 1] == "_"):
        prefix -= 1
    raw = source[prefix:start] in _RAW_PREFIXES
    index = start + len(quote)
    while index < len(source):
        if source.startswith(quote, index):
            return index + len(quote)
        index += 2 if source[index] == "\\" and not raw else 1
    return len(source)


def blank_literals(source: str) -> str:
    """The source with string literals and ``//`` comments blanked out (same length and lines).

    What is left is only code: a macro name or a field inside a string or a comment is never
    mistaken for one, and an escaped quote never ends a literal early.
    """
    out: list[str] = []
    index = 0
    while index < len(source):
        char = source[index]
        if char in "'\"":
            end = _literal_end(source, index)
        elif source.startswith("//", index):
            newline = source.find("\n", index)
            end = len(source) if newline < 0 else newline
        else:
            out.append(char)
            index += 1
            continue
        out.append("".join(c if c == "\n" else " " for c in source[index:end]))
        index = end
    return "".join(out)


def estimate_cost(source: str) -> int:
    """Estimate the worst-case steps of an expression from its comprehension nesting."""
    code = blank_literals(source)
    depth = max_depth = 0
    stack: list[bool] = []
    index = 0
    while index < len(code):
        macro = _MACRO.match(code, index)
        if macro is not None:
            stack.append(True)
            depth += 1
            max_depth = max(max_depth, depth)
            index = macro.end()
            continue
        char = code[index]
        if char == "(":
            stack.append(False)
        elif char == ")" and stack and stack.pop():
            depth -= 1
        index += 1
    return int(len(source) * MAX_LIST_ITEMS**max_depth)


def to_python(value: Any) -> Any:
    """Turn a CEL plain value into JSON-like Python (timestamps as RFC 3339 text)."""
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, list):
        return [to_python(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_python(v) for k, v in value.items()}
    return value
