"""ADF conversion and validation throughput, against stock `jsonschema` in the same run.

Drafts NestWatch's 235 tickets offline, then times: Markdown -> ADF, our validation
(compiled fast check, explained by jsonschema only on failure), and jsonschema's
Draft 4 validator on the same documents.

    .venv/bin/python -m bench.adf [--repeat 4]
"""

from __future__ import annotations

import argparse
import json
import time
from importlib.resources import files
from pathlib import Path

from jsonschema import Draft4Validator

from application.adf import markdown_to_adf, ticket_markdown, validate_adf
from application.generation.offline import OfflineDrafter
from application.generation.port import DraftRequest
from application.generation.related import RelatedIndex
from application.inventory.model import UploadedFile
from application.inventory.parse import parse_inventory

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "nestwatch" / "inventory"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=4)
    args = parser.parse_args()
    files_ = [UploadedFile(p.name, p.read_bytes()) for p in sorted(SAMPLE.glob("*.csv"))]
    entities = parse_inventory(files_).entities
    index = RelatedIndex(entities)
    drafter = OfflineDrafter()
    site = {"site_name": "NestWatch"}
    drafts = [drafter.draft(DraftRequest(site, e, index.for_entity(e))) for e in entities]
    markdown = [ticket_markdown(d.user_story, d.analysis, d.verification) for d in drafts]
    markdown *= args.repeat

    started = time.perf_counter()
    documents = [markdown_to_adf(m) for m in markdown]
    convert = time.perf_counter() - started

    validate_adf(documents[0])
    started = time.perf_counter()
    ours_ok = sum(1 for d in documents if not validate_adf(d))
    ours = time.perf_counter() - started

    schema = json.loads(files("application.adf").joinpath("adf-schema-v1-full.json").read_text())
    stock = Draft4Validator(schema)
    sample = documents[: max(20, len(documents) // 20)]
    started = time.perf_counter()
    stock_ok = sum(1 for d in sample if stock.is_valid(d))
    reference = (time.perf_counter() - started) / len(sample) * len(documents)

    n = len(documents)
    print(f"{n} ticket descriptions (NestWatch x{args.repeat})")
    print(f"{'step':<34} {'seconds':>8} {'tickets/s':>10}")
    print(f"{'Markdown -> ADF':<34} {convert:>8.2f} {n / convert:>10.0f}")
    print(f"{'validate (ours)':<34} {ours:>8.2f} {n / ours:>10.0f}   valid: {ours_ok}/{n}")
    print(
        f"{'validate (stock jsonschema, est.)':<34} {reference:>8.2f} {n / reference:>10.0f}"
        f"   valid: {stock_ok}/{len(sample)} sampled"
    )
    print(f"ratio ours / stock: {reference / ours:.1f}x faster")


if __name__ == "__main__":
    main()
