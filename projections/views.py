"""Every query object, one per read model; the composition root builds them once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from projections.audit import AuditView
from projections.base import ProjectionRunner
from projections.exports import ExportsView
from projections.revisions import RevisionsView
from projections.sessions import SessionsView
from projections.status import ProjectionsView
from projections.store import ReadModelStore
from projections.tickets import TicketsView


@dataclass(frozen=True)
class Views:
    sessions: SessionsView
    tickets: TicketsView
    exports: ExportsView
    audit: AuditView
    projections: ProjectionsView
    revisions: RevisionsView

    @classmethod
    def over(
        cls,
        store: ReadModelStore,
        runner: ProjectionRunner,
        head: Callable[[], int],
        publishing: ProjectionRunner | None = None,
    ) -> Views:
        """The queries on `store`'s read models, and on `runner`'s positions (`head`:
        the event store's last position; `publishing`: the runner of the projections
        that publish to the bus, listed with the others)."""
        tickets = TicketsView(store)
        return cls(
            sessions=SessionsView(store),
            tickets=tickets,
            exports=ExportsView(store, tickets),
            audit=AuditView(store),
            projections=ProjectionsView(runner, head, publishing),
            revisions=RevisionsView(store),
        )
