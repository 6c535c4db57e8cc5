"""Validation messages say how to fix the value, in the schema's own words (issue 19, item 4)."""

from __future__ import annotations

import pytest

from bot.core.documents import DocumentKind, DocumentValidator
from bot.core.findings import Finding
from tests.conftest import EXAMPLES

BASE = (
    (EXAMPLES / "broken" / "bad-soak-duration.yaml")
    .read_text(encoding="utf-8")
    .replace('soak: "3 days"', "soak: P3D")
)


def _findings(validator: DocumentValidator, *edits: tuple[str, str]) -> list[Finding]:
    text = BASE
    for old, new in edits:
        assert old in text
        text = text.replace(old, new, 1)
    return list(validator.validate(text.encode(), "intent.yaml", DocumentKind.INTENT).findings)


def _message(findings: list[Finding], code: str) -> str:
    [finding] = [f for f in findings if f.code == code]
    return finding.message


def test_an_intune_target_that_is_a_group_name_says_it_is_an_entra_group_object_id(
    validator: DocumentValidator,
) -> None:
    findings = _findings(
        validator, ('target: "d23f0824-128b-4f33-8c5c-7fd0a6a3a450"', "target: EUC-Lab-Windows")
    )
    message = _message(findings, "schema.pattern")
    assert "Entra ID group's object id" in message
    assert "e.g. 3f2c9a51-8a4e-4b7d-9c1e-0d5b6a7f8e21" in message
    assert "^[0-9a-fA-F]" not in message  # the hint replaces the regular expression


@pytest.mark.parametrize(("written", "fixed"), [("2d", "P2D"), ("48h", "PT48H")])
def test_a_duration_in_words_says_iso_8601_with_the_repaired_value(
    validator: DocumentValidator, written: str, fixed: str
) -> None:
    message = _message(_findings(validator, ("soak: P3D", f"soak: {written}")), "schema.pattern")
    assert "ISO-8601" in message
    assert f"'{fixed}'" in message


def test_an_upper_case_sha256_says_lower_case_it(validator: DocumentValidator) -> None:
    digest = "8db32f793ae959d6a2915775629641aad218d0d037adfe15588802bda1dfe681"
    findings = _findings(validator, (digest, digest.upper()))
    assert "lower-case it" in _message(findings, "schema.pattern")


def test_a_decimal_version_says_quote_it_not_write_an_integer(
    validator: DocumentValidator,
) -> None:
    findings = _findings(validator, ('version: "131.0.6778.86"', "version: 7.4"))
    assert 'quote it: "7.4"' in _message(findings, "schema.type")
    assert "write an integer" not in " ".join(f.message for f in findings)
    assert 'quote it ("7.4")' in _message(findings, "yaml.float")


def test_signed_yes_says_write_true_or_false(validator: DocumentValidator) -> None:
    findings = _findings(validator, ("signed: true", "signed: yes"))
    assert "write true or false" in _message(findings, "schema.type")
    assert "write true or false" in _message(findings, "yaml.ambiguous")


def test_a_mistyped_platform_is_explained_once_and_not_as_a_plane_mismatch(
    validator: DocumentValidator,
) -> None:
    """'macOS' fails the enum (with the right spelling); no "jamf does not manage macOS" follows."""
    findings = _findings(
        validator,
        ("platform: windows\nplane: intune", "plane: jamf\nplatform: macOS"),
        ("type: msi", "type: pkg"),
        ('target: "d23f0824-128b-4f33-8c5c-7fd0a6a3a450"', "target: EUC Pilot Macs"),
        ('target: "36f675cc-81e7-4ef5-a8e2-5d940ed90475"', "target: All Managed Macs"),
    )
    assert [f.code for f in findings] == ["schema.enum"]
    assert "did you mean 'macos'?" in findings[0].message


def test_an_unknown_plane_word_still_lists_the_choices(validator: DocumentValidator) -> None:
    message = _message(_findings(validator, ("plane: intune", "plane: kandji")), "schema.enum")
    assert message.startswith("'kandji' is not one of: intune, jamf, sccm, landscape, ansible")


def test_a_pattern_without_a_description_still_shows_the_pattern() -> None:
    from bot.core.schema import compile_schema

    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^[a-z]+$"}}}
    [finding] = compile_schema(schema).raw_findings({"code": "ABC1"})
    assert "does not match the pattern ^[a-z]+$" in finding.message
