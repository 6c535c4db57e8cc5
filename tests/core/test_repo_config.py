"""The repository's eucora.yaml, read once: its names and its folders, with the ``..`` guard."""

from __future__ import annotations

from bot.core.documents import DocumentKind, guess_kind
from bot.core.repo_config import CONFIG_NAMES, RepoConfig, configured_folder
from bot.flows.cab_approvals import CabApprovals


def test_the_folders_default_and_follow_paths() -> None:
    assert (RepoConfig.of({}).intents, RepoConfig.of({}).policies) == ("intents", "policies")
    config = RepoConfig.of({"paths": {"intents": "apps/intents", "policies": "rules"}})
    assert (config.intents, config.policies) == ("apps/intents", "rules")
    assert RepoConfig.of(None).folder("waivers") == "waivers"


def test_a_folder_that_climbs_out_of_the_repository_reads_as_the_default() -> None:
    assert configured_folder({"intents": "../secrets"}, "intents") == "intents"
    assert configured_folder({"policies": "a/../../b"}, "policies") == "policies"
    assert configured_folder({"intents": 7}, "intents") == "intents"


def test_the_approvals_content_hash_reads_the_guarded_folders() -> None:
    """Before: the approvals flow resolved ``paths`` itself, without the ``..`` guard."""
    config = {"paths": {"intents": "../outside", "policies": "../../etc"}}
    assert CabApprovals._folders(config) == ("intents", "policies")


def test_both_config_names_are_config_documents() -> None:
    assert CONFIG_NAMES == ("eucora.yaml", "eucora.yml")
    assert {guess_kind(name) for name in CONFIG_NAMES} == {DocumentKind.CONFIG}
