"""`python -m infrastructure.jira_sandbox --port 8080 --db ./sandbox.db`"""

from __future__ import annotations

import argparse
from pathlib import Path

from infrastructure.jira_sandbox.app import Credentials
from infrastructure.jira_sandbox.server import run_sandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m infrastructure.jira_sandbox",
        description="A local Jira Cloud sandbox (REST v3 subset). "
        "Log in with demo@example.com / demo-token, or Bearer demo-bearer-token.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: in memory)")
    parser.add_argument(
        "--flavor",
        choices=("cloud", "datacenter"),
        default="cloud",
        help="Jira Cloud (REST v3) or Jira Data Center (REST v2, wiki markup, PAT auth)",
    )
    parser.add_argument("--latency-ms", type=float, default=0, help="delay every API answer")
    parser.add_argument(
        "--credential",
        action="append",
        default=[],
        metavar="EMAIL:TOKEN",
        help="accept this email and API token as well (repeatable)",
    )
    args = parser.parse_args(argv)
    credentials = Credentials()
    extra: dict[str, str] = {}
    for item in args.credential:
        email, separator, token = item.partition(":")
        if not (email and separator and token):
            parser.error(f"--credential wants EMAIL:TOKEN, not {item!r}")
        extra[email] = token
    if extra:
        credentials = Credentials(basic={**credentials.basic, **extra}, bearer=credentials.bearer)
    print(
        f"Jira sandbox on http://{args.host}:{args.port} (browse: /browse/DEMO-1, "
        "control: /_sandbox/faults, /_sandbox/stats). "
        "JIRA_EMAIL=demo@example.com JIRA_API_TOKEN=demo-token",
        flush=True,
    )
    run_sandbox(
        args.host,
        args.port,
        args.db,
        latency_ms=args.latency_ms,
        credentials=credentials,
        flavor=args.flavor,
    )


if __name__ == "__main__":
    main()
