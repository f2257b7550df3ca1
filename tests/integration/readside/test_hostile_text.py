"""Read-model rows keep every character: on PostgreSQL a batch of many rows goes
through COPY's text format, whose escapes (backslash, tab, newline, carriage return,
`\\N`) must round-trip exactly; SQLite takes the same rows as plain parameters."""

from __future__ import annotations

from interfaces.bootstrap import Container

HOSTILE = [
    "tab\there",
    "new\nline",
    "carriage\rreturn",
    "back\\slash",
    "\\N",
    "\\.",
    "ends with backslash \\",
    "quote \" and ' and `",
    "unicode ✓ — ünïcödé 🚀",
    "\\t literally",
    '{"json": "inside\\n"}',
    "",
]


def test_many_rows_with_hostile_text_round_trip(container: Container) -> None:
    store = container.store
    rows = {
        f"{i}:{text}": {"text": text, "nested": {"list": [text, i]}, "i": i}
        for i in range(300)  # past the COPY threshold, several times over
        for text in [HOSTILE[i % len(HOSTILE)]]
    }
    with store.transaction("hostile") as tx:
        for key, doc in rows.items():
            tx.put("hostile_rows", key, doc)
        tx.position = 1
    for key, doc in rows.items():
        assert store.get("hostile_rows", key) == doc, key
    assert store.position("hostile") == 1
