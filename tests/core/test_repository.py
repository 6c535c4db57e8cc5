"""The repository-wide checks: unique intent names and Intune dependencies, over one index."""

from __future__ import annotations

from bot.catalog import build_document_validator
from bot.core.documents import DocumentKind, ValidatedDocument
from bot.core.repository import check_intune_dependencies, check_repository, check_unique_names
from tests.support.corpus import generate_intent_text

CONFIG = b"apiVersion: eucora.dev/v1\nkind: EucoraConfig\ncab:\n  teams: [contoso/cab]\n"


def _repository(*, with_config: bool) -> list[ValidatedDocument]:
    """Intents in no path order: two share a name, Intune ones depend on a missing intent and on
    an intent of another plane, and one file is not an intent mapping at all."""
    validator = build_document_validator()
    texts = {f"intents/app-{i}.yaml": generate_intent_text(i) for i in (5, 0, 2, 1, 6)}
    texts["intents/app-9.yaml"] = generate_intent_text(2)  # the name of app-2, again
    texts["intents/app-0.yaml"] += "intune:\n  dependencies:\n    - intent: example-app-2\n"
    texts["intents/app-6.yaml"] += "intune:\n  dependencies:\n    - intent: example-app-77\n"
    documents = [
        validator.validate(text.encode(), path, DocumentKind.INTENT) for path, text in texts.items()
    ]
    documents.append(validator.validate(b"- a list\n", "intents/list.yaml", DocumentKind.INTENT))
    if with_config:
        documents.append(validator.validate(CONFIG, "eucora.yaml", DocumentKind.CONFIG))
    return documents


def test_one_index_finds_what_both_checks_find_in_the_same_order() -> None:
    documents = _repository(with_config=True)
    names, dependencies = check_unique_names(documents), check_intune_dependencies(documents)
    assert [f.code for f in names] == ["repo.duplicate-name"]
    assert names[0].path == "intents/app-9.yaml"
    assert "already used by intents/app-2.yaml" in names[0].message
    assert sorted((f.path, f.code) for f in dependencies) == [
        ("intents/app-0.yaml", "intune.dependency"),
        ("intents/app-6.yaml", "intune.dependency"),
    ]
    assert all(f.line > 1 for f in names + dependencies)
    assert check_repository(documents) == names + dependencies


def test_without_the_configuration_only_names_are_checked() -> None:
    documents = _repository(with_config=False)
    assert check_intune_dependencies(documents) == ()
    assert check_repository(documents) == check_unique_names(documents)
    assert len(check_repository(documents)) == 1
