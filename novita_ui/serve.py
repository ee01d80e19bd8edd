"""The web app's front end: ``novita-ui`` (or ``novita-ui serve``), ``python app.py``, a Hugging Face Space.

Flags win over the environment, which wins over defaults (all environment reads go through
``novita_ui.config``): host ``--host`` > ``GRADIO_SERVER_NAME`` > 0.0.0.0 on a Space (``SPACE_ID``) >
127.0.0.1; port ``--port`` > ``GRADIO_SERVER_PORT`` > ``PORT`` > 7860; sign-in ``--auth USER:PASS`` >
``NOVITA_UI_AUTH``; MCP tools ``--mcp`` / ``--no-mcp`` > ``NOVITA_UI_MCP`` > off. ``NOVITA_API_KEY`` is
the server's key (without it the Offline engine is the default).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command-line flags."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Remove objects from photos in the browser (Novita AI or offline). Ctrl+C stops it.",
    )
    parser.add_argument(
        "--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)"
    )
    parser.add_argument("--port", type=int, help="port to listen on (default 7860)")
    parser.add_argument(
        "--share", action="store_true", help="also open a temporary public *.gradio.live link"
    )
    parser.add_argument("--auth", metavar="USER:PASS", help="require this sign-in (also NOVITA_UI_AUTH)")
    parser.add_argument(
        "--mcp",
        action=argparse.BooleanOptionalAction,
        help="also serve /erase, /cleanup and /local as MCP tools at /gradio_api/mcp/ (also NOVITA_UI_MCP=1)",
    )
    parser.add_argument("--output-dir", type=Path, metavar="DIR", help="also save every result here (+ JSON)")
    parser.add_argument(
        "--max-requests-per-hour",
        type=int,
        metavar="N",
        help="cap the Novita requests made with the server's key: every POST attempt counts, retries "
        "included (visitors' own keys are not counted)",
    )
    parser.add_argument(
        "--novita-concurrency",
        type=int,
        default=32,  # = Options.novita_concurrency (not imported here: --help stays instant)
        metavar="N",
        help="Novita requests in flight at once, across all users (default 32; they wait on the network)",
    )
    return parser


def parse_auth(value: str | None) -> tuple[str, str] | None:
    """``"user:pass"`` -> ("user", "pass"); the password may contain colons."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("--auth / NOVITA_UI_AUTH must look like USER:PASS")
    return user, password


def resolve_address(host: str | None, port: int | None) -> tuple[str, int]:
    """Flag > Gradio's own variables > PORT > default; 0.0.0.0 on a Hugging Face Space."""
    from novita_ui.config import env_value

    name = host or env_value("GRADIO_SERVER_NAME") or ("0.0.0.0" if env_value("SPACE_ID") else "127.0.0.1")
    raw = port if port is not None else env_value("GRADIO_SERVER_PORT") or env_value("PORT") or 7860
    try:
        number = int(raw)
    except ValueError:
        raise ValueError(f"the port must be a number, got {raw!r}") from None
    return name, number


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse flags, build settings and the UI, launch (blocks until Ctrl-C)."""
    args = build_parser(prog).parse_args(argv)
    import dataclasses
    import logging

    from novita_ui.config import Settings, env_flag, env_value
    from novita_ui.ui import Options, build_app, launch_kwargs, queue_kwargs

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per HTTP request is noise
    try:
        settings = Settings.load(max_requests_per_hour=args.max_requests_per_hour)
        if settings.image_processes is None:  # the server: image work in worker processes
            settings = dataclasses.replace(settings, image_processes=True)
        auth = parse_auth(args.auth or env_value("NOVITA_UI_AUTH"))
        host, port = resolve_address(args.host, args.port)
        mcp = args.mcp if args.mcp is not None else env_flag("NOVITA_UI_MCP")
        if args.max_requests_per_hour is not None and args.max_requests_per_hour < 0:
            raise ValueError("--max-requests-per-hour cannot be negative")
        if args.novita_concurrency < 1:
            raise ValueError("--novita-concurrency must be at least 1")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    options = Options(
        output_dir=args.output_dir,
        novita_concurrency=args.novita_concurrency,
    )
    demo = build_app(settings, options)
    demo.queue(**queue_kwargs(options))
    demo.launch(**launch_kwargs(options, host=host, port=port, share=args.share, auth=auth, mcp=mcp))
    return 0
