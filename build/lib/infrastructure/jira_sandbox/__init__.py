"""A local stand-in for Jira Cloud, for tests and demos (like stripe-mock).

    app = create_sandbox_app(Path("sandbox.db"), faults=FaultConfig(fail_create_next=1))
    run_sandbox("127.0.0.1", 8080, Path("sandbox.db"))

Run-time control: `POST /_sandbox/faults`, `POST /_sandbox/limits`,
`GET /_sandbox/stats`, `POST /_sandbox/reset`, `PATCH /_sandbox/issues/{key}`.
"""

from infrastructure.jira_sandbox.app import Credentials, create_sandbox_app
from infrastructure.jira_sandbox.faults import FaultConfig
from infrastructure.jira_sandbox.limits import LimitConfig
from infrastructure.jira_sandbox.server import SandboxServer, run_sandbox

__all__ = [
    "Credentials",
    "FaultConfig",
    "LimitConfig",
    "SandboxServer",
    "create_sandbox_app",
    "run_sandbox",
]
