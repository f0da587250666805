"""`python -m admin [--port N]`: run the admin console (what `seat serve admin` starts)."""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace

from aiohttp import web

from admin.app import create_app
from admin.config import AdminConfig
from ground.settings import current


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m admin", description=__doc__)
    parser.add_argument("--port", type=int, help="default ADMIN_PORT or 8080")
    parser.add_argument("--host", help="default ADMIN_HOST or 0.0.0.0")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)  # query strings may hold search words
    try:
        config = AdminConfig.from_settings(current())
    except ValueError as exc:  # a bad number in the environment: say which, no traceback
        raise SystemExit(f"admin console: bad setting: {exc}") from None
    config = replace(config, port=args.port or config.port, host=args.host or config.host)
    print(f"admin console on http://localhost:{config.port}/ (flows in {config.flows_dir})", flush=True)
    web.run_app(create_app(config), host=config.host, port=config.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
