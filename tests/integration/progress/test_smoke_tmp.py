from application.users import User
from interfaces.bootstrap import Container
from tests.integration.progress.support import *


def test_smoke(live: Container) -> None:
    user, token = live.users.create("alice", False)
    sid = new_session(live, user)
    live.worker.start(1)
    task_id, _, result = live.app.request_generation(sid, "offline", user)
    live.wrote(result.position)
    wait_until(lambda: live.app.load_session(sid).generation.status == "completed")
    wait_until(lambda: progress_caught_up(live))
    msgs = stream_messages(live, sid)
    print(len(msgs))
    for seq, m in msgs[:3] + msgs[-2:]:
        print(seq, m)
    for _, m in msgs:
        validate(m)
