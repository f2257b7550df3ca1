"""ADF conversion and validation throughput, against stock `jsonschema` in the same run.

Drafts NestWatch's 235 tickets offline, then times: Markdown -> ADF, our validation
(compiled fast check, explained by jsonschema only on failure), jsonschema's Draft 4
validator on the same documents, and Markdown -> wiki markup (Jira Data Center's format,
built from the same ADF, so its baseline is Markdown -> ADF).

    .venv/bin/python -m bench.adf [--repeat 4]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from jsonschema import Draft4Validator

from application.adf import (
    adf_json,
    jira_length,
    markdown_to_adf,
    markdown_to_wiki,
    ticket_markdown,
    validate_adf,
)
from application.generation.offline import OfflineDrafter
from application.generation.port import DraftRequest
from application.generation.related import RelatedIndex
from application.inventory.model import UploadedFile
from application.inventory.parse import parse_inventory
from bench.report import Figure, compare

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "nestwatch" / "inventory"


@dataclass
class Measured:
    documents: int
    convert_s: float
    ours_s: float
    ours_valid: int
    stock_s: float  # estimated for all documents from the sample
    stock_valid: int
    sampled: int
    wiki_s: float  # Markdown -> wiki markup (Jira Data Center), same documents
    wiki_chars: int  # total length of the wiki texts, as Jira counts it
    adf_chars: int  # total length of the compact ADF JSON, as Jira counts it

    @property
    def convert_per_s(self) -> float:
        return self.documents / self.convert_s

    @property
    def ours_per_s(self) -> float:
        return self.documents / self.ours_s

    @property
    def stock_per_s(self) -> float:
        return self.documents / self.stock_s

    @property
    def wiki_per_s(self) -> float:
        return self.documents / self.wiki_s


def measure(repeat: int, sample_size: int | None = None) -> Measured:
    """Convert and validate NestWatch's descriptions `repeat` times over; stock jsonschema
    is timed on `sample_size` of them (default: 1 in 20, at least 20) and extrapolated."""
    files_ = [UploadedFile(p.name, p.read_bytes()) for p in sorted(SAMPLE.glob("*.csv"))]
    entities = parse_inventory(files_).entities
    index = RelatedIndex(entities)
    drafter = OfflineDrafter()
    site = {"site_name": "NestWatch"}
    drafts = [drafter.draft(DraftRequest(site, e, index.for_entity(e))) for e in entities]
    markdown = [ticket_markdown(d.user_story, d.analysis, d.verification) for d in drafts]
    markdown *= repeat

    started = time.perf_counter()
    documents = [markdown_to_adf(m) for m in markdown]
    convert = time.perf_counter() - started

    validate_adf(documents[0])
    started = time.perf_counter()
    ours_ok = sum(1 for d in documents if not validate_adf(d))
    ours = time.perf_counter() - started

    schema = json.loads(files("application.adf").joinpath("adf-schema-v1-full.json").read_text())
    stock = Draft4Validator(schema)
    if sample_size is None:
        sample_size = max(20, len(documents) // 20)
    sample = documents[:sample_size]
    started = time.perf_counter()
    stock_ok = sum(1 for d in sample if stock.is_valid(d))
    reference = (time.perf_counter() - started) / len(sample) * len(documents)

    started = time.perf_counter()
    wiki = [markdown_to_wiki(m) for m in markdown]
    wiki_s = time.perf_counter() - started
    wiki_chars = sum(jira_length(w) for w in wiki)
    adf_chars = sum(jira_length(adf_json(d)) for d in documents)
    return Measured(
        len(documents), convert, ours, ours_ok, reference, stock_ok, len(sample),
        wiki_s, wiki_chars, adf_chars,
    )  # fmt: skip


def results(quick: bool = False) -> list[Figure]:
    """For `bench/run`. Quick: NestWatch once, stock jsonschema timed on 5 documents
    (it takes seconds per document); full: NestWatch x4, stock timed on 1 in 20."""
    m = measure(1, 5) if quick else measure(4)
    corpus = f"{m.documents} NestWatch descriptions"
    return [
        compare("Markdown -> ADF conversion", m.convert_per_s, "tickets/s", notes=corpus),
        compare(
            "ADF validation, ours (fastjsonschema) vs stock jsonschema Draft 4",
            m.ours_per_s,
            "tickets/s",
            m.stock_per_s,
            notes=f"{corpus}; valid {m.ours_valid}/{m.documents} (ours), "
            f"{m.stock_valid}/{m.sampled} (stock, timed on {m.sampled} and extrapolated)",
        ),
        compare(
            "Markdown -> wiki markup (Data Center) vs Markdown -> ADF",
            m.wiki_per_s,
            "tickets/s",
            m.convert_per_s,
            notes=f"{corpus}; wiki text is {m.wiki_chars / m.adf_chars:.0%} of the ADF JSON's "
            "length",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=4)
    args = parser.parse_args()
    m = measure(args.repeat)
    n = m.documents
    print(f"{n} ticket descriptions (NestWatch x{args.repeat})")
    print(f"{'step':<34} {'seconds':>8} {'tickets/s':>10}")
    print(f"{'Markdown -> ADF':<34} {m.convert_s:>8.2f} {m.convert_per_s:>10.0f}")
    print(
        f"{'validate (ours)':<34} {m.ours_s:>8.2f} {m.ours_per_s:>10.0f}"
        f"   valid: {m.ours_valid}/{n}"
    )
    print(
        f"{'validate (stock jsonschema, est.)':<34} {m.stock_s:>8.2f} {m.stock_per_s:>10.0f}"
        f"   valid: {m.stock_valid}/{m.sampled} sampled"
    )
    print(f"{'Markdown -> wiki markup':<34} {m.wiki_s:>8.2f} {m.wiki_per_s:>10.0f}")
    print(f"ratio ours / stock: {m.stock_s / m.ours_s:.1f}x faster")
    print(f"wiki markup length / ADF JSON length: {m.wiki_chars / m.adf_chars:.2f}")


if __name__ == "__main__":
    main()
