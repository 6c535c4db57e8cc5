"""The references in ``docs/reference/``, generated from the JSON Schemas.

The schemas are the single source of truth: ``scripts/generate_reference.py`` writes the pages and
``tests/docs/test_reference.py`` fails when a page and its schema disagree.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

MAX_DEPTH = 12


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, root) if "$ref" in target else merged
    return node


def _type_text(node: Mapping[str, Any]) -> str:
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    kind = node.get("type", "")
    kinds = kind if isinstance(kind, list) else [kind]
    text = " or ".join(str(k) for k in kinds if k)
    details = []
    for keyword, label in (
        ("pattern", "pattern"),
        ("format", "format"),
        ("minimum", "≥"),
        ("maximum", "≤"),
        ("minItems", "at least"),
        ("maxItems", "at most"),
        ("maxLength", "max length"),
    ):
        if keyword in node:
            value = node[keyword]
            details.append(
                f"{label} `{value}`" if keyword in {"pattern", "format"} else f"{label} {value}"
            )
    return text + (f" ({', '.join(details)})" if details else "")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _rows(
    node: Mapping[str, Any], root: Mapping[str, Any], path: str, depth: int
) -> Iterator[tuple[str, str, bool, str]]:
    node = _resolve(node, root)
    if depth > MAX_DEPTH:
        return
    required = set(node.get("required", []))
    for name, raw_child in node.get("properties", {}).items():
        child = _resolve(raw_child, root)
        field = f"{path}.{name}" if path else name
        yield field, _type_text(child), name in required, str(child.get("description", ""))
        yield from _children(child, root, field, depth)


def _children(
    node: Mapping[str, Any], root: Mapping[str, Any], field: str, depth: int
) -> Iterator[tuple[str, str, bool, str]]:
    if "properties" in node:
        yield from _rows(node, root, field, depth + 1)
    items = node.get("items")
    if isinstance(items, dict):
        resolved = _resolve(items, root)
        if "properties" in resolved:
            yield from _rows(resolved, root, f"{field}[]", depth + 1)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict) and "properties" in _resolve(extra, root):
        yield from _rows(_resolve(extra, root), root, f"{field}.*", depth + 1)


def _table(node: Mapping[str, Any], root: Mapping[str, Any]) -> list[str]:
    return [
        "| field | type | required | description |",
        "|---|---|---|---|",
        *(
            f"| `{field}` | {_cell(kind)} | {'yes' if required else ''} | {_cell(description)} |"
            for field, kind, required, description in _rows(node, root, "", 0)
        ),
    ]


def _variants(schema: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The alternatives of a schema whose top level is a ``oneOf`` (the evidence pack's kinds)."""
    return [
        _resolve(option, schema)
        for option in schema.get("oneOf", [])
        if isinstance(option, Mapping) and "properties" in _resolve(option, schema)
    ]


def render_schema_reference(schema: Mapping[str, Any], *, source: str) -> str:
    """A Markdown page: the schema's title and description, then one table row per field.

    A schema that is one of several object shapes (a top-level ``oneOf``) gets one section and
    table per shape, under the shape's title.
    """
    lines = [
        f"# {schema.get('title', source)}",
        "",
        (
            f"<!-- Generated from {source} by scripts/generate_reference.py: "
            "edit the schema, not this page. -->"
        ),
        "",
        str(schema.get("description", "")),
        "",
        f"Schema: [`{source}`](../../{source}) (`$id` `{schema.get('$id', '')}`).",
        "",
    ]
    variants = _variants(schema)
    if "properties" in schema or not variants:
        lines.extend(_table(schema, schema))
    for variant in variants:
        if lines[-1]:
            lines.append("")
        lines.extend(
            [
                f"## {variant.get('title', 'Variant')}",
                "",
                str(variant.get("description", "")),
                "",
                *_table(variant, schema),
            ]
        )
    return "\n".join(lines) + "\n"
