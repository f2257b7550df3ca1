"""`FastJSONDecoder` (orjson, then one walk over the tags) decodes exactly what the
library's `JSONTranscoder` decodes: the same values of the same types, for every
transcoding our aggregates use, and the library's own answer where orjson refuses."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import hypothesis
import pytest
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)
from hypothesis import strategies as st

from application.transcodings import FastJSONDecoder, TicketForgeTranscoder, register_transcodings
from domain.export import ExportedIssue, Failure, ManualFix
from domain.inventory import InventoryEntity, Kind
from domain.session import GenerationRun, Ticket


def transcoder() -> TicketForgeTranscoder:
    transcoder = TicketForgeTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    register_transcodings(transcoder)
    return transcoder


TRANSCODER = transcoder()


def library_decode(data: bytes) -> Any:
    return JSONTranscoder.decode(TRANSCODER, data)


def same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, set | frozenset):
        return a == b
    if hasattr(a, "__dataclass_fields__"):
        return same(vars(a), vars(b))
    return bool(a == b)


def ticket() -> Ticket:
    return Ticket(
        id=uuid4(),
        config_name="node.type.article",
        kind="bundles",
        group="content",
        entity_label="Article",
        title='Ticket \u00e9\u4e2d\U0001f600 "quoted" \\ back\nslash',
        user_story="As an editor",
        analysis="x" * 3000,
        verification="Check",
        generator="offline",
        user_order=3,
        depends_on={uuid4(), uuid4()},
        labels=["a", "b"],
        usage={"total_tokens": 12},
    )


EXAMPLES: list[Any] = [
    {"timestamp": datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC), "ticket_id": uuid4()},
    {"ticket": ticket(), "tickets": {uuid4(): ticket()}},
    {"run": GenerationRun(task_id=uuid4(), generator="offline", attempt=2, errors=[{"a": "b"}])},
    {
        "entity": InventoryEntity.from_dict(
            {
                "config_name": "node.type.a",
                "kind": "bundles",
                "label": "A",
                "attributes": {},
                "depends_on": ["x", "y"],
                "source_file": "b.csv",
                "source_row": 2,
            }
        )
    },
    {"kind": Kind.BUNDLES, "decimal": Decimal("1.10"), "tuple": (1, (2, 3), "x")},
    {"sets": {1, 2}, "frozen": frozenset({"a"}), "pairs": {(1, 2), (3, 4)}},
    {
        "issues": [ExportedIssue(ticket_id=uuid4(), order=1, key="TF-1", url="u", jira_id="1")],
        "fixes": {uuid4(): ManualFix(uuid4(), None, "TF-1", "assignee", "who?", "Assign")},
        "failure": Failure("temporary", "down", uuid4(), 4, ["Retry"]),
    },
    {"nested": [[{"_type_": "uuid_hex", "_data_": uuid4().hex}], {"deep": {"x": [1.5, -0.0]}}]},
    {"looks_tagged": {"_type_": "uuid_hex"}, "three": {"_type_": "x", "_data_": 1, "more": 2}},
    {"nan": float("nan"), "inf": float("inf")},  # orjson refuses: the library decodes
    {"big": 2**70, "small": -(2**70)},  # beyond 64 bits: the library decodes
    [1, "two", None, True, {"a": uuid4()}],
    "just a string",
    42,
]


@pytest.mark.parametrize("value", EXAMPLES, ids=range(len(EXAMPLES)))
def test_decodes_what_the_library_decodes(value: Any) -> None:
    data = TRANSCODER.encode(value)
    expected = library_decode(data)
    assert same(TRANSCODER.fast.decode(data), expected)
    assert same(TRANSCODER.decode(data), expected)
    assert same(FastJSONDecoder(TRANSCODER).decode(data), expected)


def test_a_lone_surrogate_goes_to_the_library() -> None:
    tag = b'{"_type_": "uuid_hex", "_data_": "' + uuid4().hex.encode() + b'"}'
    data = b'{"text": "\\ud800", "id": ' + tag + b"}"
    assert same(TRANSCODER.decode(data), library_decode(data))


def test_an_unknown_tag_fails_as_in_the_library() -> None:
    data = b'{"x": {"_type_": "nobody_registered_this", "_data_": 1}}'
    with pytest.raises(TranscodingNotRegisteredError):
        library_decode(data)
    with pytest.raises(TranscodingNotRegisteredError):
        TRANSCODER.decode(data)


def test_uuids_are_shared_not_parsed_again() -> None:
    decoder = FastJSONDecoder(TRANSCODER)
    same_id = uuid4()
    first = decoder.decode(TRANSCODER.encode({"id": same_id}))["id"]
    second = decoder.decode(TRANSCODER.encode([same_id]))[0]
    assert first == same_id and first is second and type(first) is UUID


def test_inlined_tags_follow_what_is_registered() -> None:
    """A transcoder where `uuid_hex` means something else: the registered one decodes."""

    class UpperHex(UUIDAsHex):
        def decode(self, data: str) -> Any:
            return data.upper()

    custom = TicketForgeTranscoder()
    custom.register(DatetimeAsISO())
    custom.register(UpperHex())
    data = custom.encode({"id": UUID(int=10)})
    expected = {"id": UUID(int=10).hex.upper()}
    assert custom.decode(data) == JSONTranscoder.decode(custom, data) == expected


json_leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.uuids()
    | st.datetimes(timezones=st.just(UTC))
    | st.decimals(allow_nan=False, allow_infinity=False)
)
values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
        | st.dictionaries(st.uuids(), children, max_size=3)
        | st.frozensets(st.integers(), max_size=3)
        | st.sets(st.text(max_size=4), max_size=3)
    ),
    max_leaves=25,
)


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(value=values)
def test_any_state_decodes_as_in_the_library(value: Any) -> None:
    data = TRANSCODER.encode({"state": value})
    assert same(TRANSCODER.decode(data), library_decode(data))


def entity(name: str) -> InventoryEntity:
    return InventoryEntity.from_dict(
        {
            "config_name": name,
            "kind": "fields",
            "label": name.title(),
            "attributes": {"entity_type": "node", "field_name": name},
            "depends_on": ["node.type.a"],
            "source_file": "fields.csv",
            "source_row": 7,
        }
    )


def session_state(tickets: list[Ticket]) -> dict[str, Any]:
    entities = [entity(f"field.{i}") for i in range(3)]
    return {
        "tickets": {t.id: t for t in tickets},
        "entities": {e.config_name: e for e in entities},
        "name": "S",
    }


def test_a_sessions_tickets_and_entities_are_written_as_tables() -> None:
    plain = [ticket(), ticket(), ticket()]
    plain[1].depends_on = set()
    plain[2].validated_at, plain[2].validation_error = 3, None
    value = session_state(plain)
    data = TRANSCODER.encode(value)
    assert b'"ticket_table"' in data and b'"entity_table"' in data
    assert b'"_type_":"ticket"' not in data

    for decoded in (TRANSCODER.decode(data), library_decode(data)):
        assert same(decoded, value)
        assert list(decoded["tickets"]) == [t.id for t in plain]
        assert all(type(k) is UUID for k in decoded["tickets"])
        assert decoded["tickets"][plain[0].id].depends_on == plain[0].depends_on
        assert type(decoded["entities"]["field.0"].depends_on) is tuple


@pytest.mark.parametrize(
    ("odd", "round_trips"),
    [
        ({"labels": ["a", ("tuple",)]}, True),  # not plain: written the general way
        ({"usage": {"ratio": 0.5}}, True),  # a float
        ({"version": 2**70}, True),  # beyond 64 bits
        # A dict that looks like a tag: the general way reads it as one (as it always
        # did); a table must not hide it from the decoders that would.
        ({"usage": {"_type_": "tuple", "_data_": [1]}}, False),
    ],
)
def test_a_ticket_a_table_cannot_hold_is_written_the_general_way(
    odd: dict[str, Any], round_trips: bool
) -> None:
    odd_ticket = ticket()
    for name, value in odd.items():
        setattr(odd_ticket, name, value)
    value = session_state([ticket(), odd_ticket])
    data = TRANSCODER.encode(value)
    assert b'"ticket_table"' not in data
    assert same(TRANSCODER.decode(data), library_decode(data))
    if round_trips:
        assert same(library_decode(data)["tickets"][odd_ticket.id], odd_ticket)


def test_snapshots_written_before_the_tables_still_load() -> None:
    tickets = [ticket(), ticket()]
    legacy = {
        "tickets": {"_type_": "dict_items", "_data_": [[t.id, t] for t in tickets]},
        "entities": {"field.0": entity("field.0")},
    }
    data = JSONTranscoder.encode(TRANSCODER, legacy)  # as the transcoder wrote them then
    assert b'"_type_":"ticket"' in data
    expected = {"tickets": {t.id: t for t in tickets}, "entities": legacy["entities"]}
    assert same(TRANSCODER.decode(data), expected)
    assert same(library_decode(data), expected)
