"""Two clients editing one ticket at once, through two API instances on one database
(as in production, where any API process may answer): one wins, the other gets 409
with the version it missed, and no edit is silently lost.

A client says which version it edited with `If-Match: <version>` (the ticket's ETag;
`version` in the body also works), PRODUCT.md "optimistic concurrency". The versions
are per ticket; the session aggregate's own concurrency (two commands saving at once)
is retried inside the command, so edits of different tickets both land.
test_api_tickets.py has the single-instance race of four writers on one version.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx

from tests.e2e.conftest import Api, assert_error

MAX_ATTEMPTS = 100


def two_instances(api_with: Callable[..., Api]) -> tuple[Api, Api, str, list[Any]]:
    first = api_with()
    second = api_with(like=first)
    session_id, tickets = first.reviewed_session()
    return first, second, session_id, tickets


def ticket_path(session_id: str, ticket_id: str) -> str:
    return f"/api/sessions/{session_id}/tickets/{ticket_id}"


def at_once(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    """Run the calls in threads released together; their answers in call order."""
    barrier = threading.Barrier(len(calls))
    answers: list[httpx.Response | None] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        answers[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(a is not None for a in answers), "a client did not finish"
    return [a for a in answers if a is not None]


def edits_of(api: Api, session_id: str, ticket_id: str) -> list[dict[str, Any]]:
    """The TicketEdited events of one ticket, from the audit trail."""
    head = api.container.app.head_position()
    response = api.get(
        f"/api/admin/sessions/{session_id}/events?type=TicketEdited&limit=1000&min_position={head}",
        user="root",
    )
    assert response.status_code == 200, response.text
    return [
        e["payload"] for e in response.json()["events"] if e["payload"]["ticket_id"] == ticket_id
    ]


def test_one_of_two_edits_on_one_version_wins_the_other_is_409_and_can_reapply(
    api_with: Callable[..., Api],
) -> None:
    first, second, session_id, tickets = two_instances(api_with)
    ticket = tickets[0]
    path = ticket_path(session_id, ticket["id"])
    edits = {
        "first": {"title": "Title from the first client"},
        "second": {"analysis": "Analysis from the second client"},
    }
    clients = {"first": first, "second": second}

    answers = at_once(
        *(
            (lambda who=who: clients[who].patch(path, json=edits[who], headers={"If-Match": '"1"'}))
            for who in clients
        )
    )

    by_status = {a.status_code: who for a, who in zip(answers, clients, strict=True)}
    assert sorted(by_status) == [200, 409], [a.text for a in answers]
    winner, loser = by_status[200], by_status[409]
    refused = assert_error(answers[list(clients).index(loser)], 409, "version 2", "version 1")
    assert refused["current_version"] == 2
    assert refused["recovery_actions"]
    shown = clients[loser].get(path)
    assert shown.headers["ETag"] == '"2"'
    now = shown.json()
    ((field, value),) = edits[winner].items()
    ((lost_field, lost_value),) = edits[loser].items()
    assert now[field] == value
    assert now[lost_field] == ticket[lost_field] != lost_value  # refused, not half-applied

    # The loser is told, re-reads and applies its edit on the version it now sees.
    again = clients[loser].patch(
        path, json=edits[loser], headers={"If-Match": shown.headers["ETag"]}
    )

    assert again.status_code == 200, again.text
    final = first.get(path).json()
    assert final["version"] == 3
    assert final[field] == value and final[lost_field] == lost_value
    assert [sorted(e["changes"]) for e in edits_of(first, session_id, ticket["id"])] == [
        sorted(edits[winner]),
        sorted(edits[loser]),
    ]


def test_read_modify_write_clients_on_two_instances_lose_no_edit(
    api_with: Callable[..., Api],
) -> None:
    """Six clients each add their own label (GET, add, PATCH with the ETag, again on 409):
    every label ends up on the ticket, one version per edit, and a 409 is the only way
    an edit is refused."""
    first, second, session_id, tickets = two_instances(api_with)
    ticket = tickets[1]
    path = ticket_path(session_id, ticket["id"])
    names = [f"client-{i}" for i in range(6)]
    conflicts: list[int] = []

    def add_label(name: str, api: Api) -> httpx.Response:
        for _ in range(MAX_ATTEMPTS):
            current = api.get(path)
            assert current.status_code == 200, current.text
            labels = [*current.json()["labels"], name]
            answer = api.patch(
                path, json={"labels": labels}, headers={"If-Match": current.headers["ETag"]}
            )
            if answer.status_code != 409:
                return answer
            conflicts.append(assert_error(answer, 409)["current_version"])
        raise AssertionError(f"{name} gave up after {MAX_ATTEMPTS} conflicts")

    answers = at_once(
        *(
            (lambda n=n, api=(first if i % 2 else second): add_label(n, api))
            for i, n in enumerate(names)
        )
    )

    assert [a.status_code for a in answers] == [200] * len(names), [a.text for a in answers]
    final = first.get(path).json()
    assert sorted(set(final["labels"]) - set(ticket["labels"])) == sorted(names)
    assert final["version"] == ticket["version"] + len(names)
    assert len(edits_of(first, session_id, ticket["id"])) == len(names)
    assert all(2 <= v <= final["version"] for v in conflicts)


def test_edits_of_different_tickets_at_once_all_land(api_with: Callable[..., Api]) -> None:
    """Different tickets have their own versions: both edits save, the session's own
    write conflict is retried inside the command (a 409 'temporary' would ask the
    client to retry; nothing is dropped either way)."""
    first, second, session_id, tickets = two_instances(api_with)
    chosen = tickets[2:6]

    def edit(index: int) -> httpx.Response:
        api = first if index % 2 else second
        path = ticket_path(session_id, chosen[index]["id"])
        for _ in range(MAX_ATTEMPTS):
            answer = api.patch(
                path, json={"sprint": f"Sprint {index}"}, headers={"If-Match": '"1"'}
            )
            if (
                answer.status_code != 409
                or assert_error(answer, 409)["error_category"] != "temporary"
            ):
                return answer
        raise AssertionError("the session stayed busy")

    answers = at_once(*((lambda i=i: edit(i)) for i in range(len(chosen))))

    assert [a.status_code for a in answers] == [200] * len(chosen), [a.text for a in answers]
    shown = {t["id"]: t for t in first.tickets(session_id)}
    for index, ticket in enumerate(chosen):
        assert shown[ticket["id"]]["sprint"] == f"Sprint {index}"
        assert shown[ticket["id"]]["version"] == 2
