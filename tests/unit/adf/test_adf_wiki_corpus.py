"""NestWatch's 940 descriptions (235 tickets: the whole description and each section) in
wiki markup keep their whole structure: Jira's reading of the wiki text (the sandbox's
renderer) equals the ADF the product sends to Cloud, block by block, mark by mark."""

from __future__ import annotations

from pathlib import Path

import pytest

from application.adf import JIRA_DESCRIPTION_LIMIT, jira_length, markdown_to_adf
from application.adf.wiki import markdown_to_wiki
from infrastructure.jira_sandbox.wiki_render import wiki_to_adf
from tests.support.wiki_structure import nestwatch_descriptions, structure

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, str]]:
    return nestwatch_descriptions(SAMPLES)


def test_every_nestwatch_description_keeps_its_structure(corpus: list[tuple[str, str]]) -> None:
    assert len(corpus) == 940
    kept = 0
    lost: list[str] = []
    for name, markdown in corpus:
        wiki = markdown_to_wiki(markdown)
        if structure(wiki_to_adf(wiki)) == structure(markdown_to_adf(markdown)):
            kept += 1
        else:
            lost.append(name)
        assert jira_length(wiki) <= JIRA_DESCRIPTION_LIMIT, name
    assert lost == [], f"{kept}/{len(corpus)} kept their structure"


def test_the_corpus_exercises_the_constructs_it_claims(corpus: list[tuple[str, str]]) -> None:
    wiki = "\n".join(markdown_to_wiki(markdown) for _, markdown in corpus)
    for construct in ("h2. ", "||", "\n|", "\n* ", "\n# ", "{{", "*", "\\[ \\]"):
        assert construct in wiki, construct
