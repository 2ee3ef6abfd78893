"""`python -m amlmon.emulator serve --data DIR [--host H] [--port N]`: run the emulator in the foreground.

`amlmon emulator start` uses this entry point (also for --detach, as a child process)."""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m amlmon.emulator")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve")
    serve.add_argument("--data", type=Path, required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    from amlmon.emulator.server import EmulatorServer

    try:
        server = EmulatorServer(args.data, host=args.host, port=args.port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            from amlmon.emulator.client import PORT_IN_USE_EXIT

            print(f"error: port {args.port} on {args.host} is already in use", file=sys.stderr)
            return PORT_IN_USE_EXIT
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OverflowError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
