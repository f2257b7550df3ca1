"""The JetStream stream that holds progress messages, and how to make sure it exists.

One subject per session (`ticketforge.progress.<session_id>`), bounded by age and by
messages per subject, file storage so a restarted server still has the latest state,
and a duplicate window within which a re-published `Nats-Msg-Id` is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from projections.progress import SUBJECT_PREFIX

STREAM_NAME = "TICKETFORGE_PROGRESS"


@dataclass(frozen=True)
class ProgressStream:
    name: str = STREAM_NAME
    max_age_s: float = 24 * 3600.0
    max_msgs_per_subject: int = 10_000
    duplicate_window_s: float | None = None  # None: as long as messages are kept
    replicas: int = 1

    def config(self) -> StreamConfig:
        return StreamConfig(
            name=self.name,
            description="ticketforge live progress, one subject per session",
            subjects=[f"{SUBJECT_PREFIX}.*"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            discard=DiscardPolicy.OLD,
            max_age=self.max_age_s,
            max_msgs_per_subject=self.max_msgs_per_subject,
            # A re-published message id is dropped within this window. Making it as
            # long as messages are kept means a batch that failed halfway may be
            # re-published after any outage without a duplicate: the projection does
            # not publish events older than `max_age` at all.
            duplicate_window=min(self.duplicate_window_s or self.max_age_s, self.max_age_s),
            num_replicas=self.replicas,
            allow_direct=True,
        )


_COMPARED = ("subjects", "max_age", "max_msgs_per_subject", "duplicate_window", "num_replicas")


def _differs(current: Any, wanted: StreamConfig) -> bool:
    return any(getattr(current, k) != getattr(wanted, k) for k in _COMPARED)


async def ensure_stream(js: JetStreamContext, stream: ProgressStream, *, update: bool) -> None:
    """Create the stream if missing; with `update`, bring its limits to ours."""
    wanted = stream.config()
    try:
        info = await js.stream_info(stream.name)
    except NotFoundError:
        await js.add_stream(wanted)
        return
    if update and _differs(info.config, wanted):
        await js.update_stream(wanted)
