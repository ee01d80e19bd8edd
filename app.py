"""Start the web app: ``python app.py`` (http://127.0.0.1:7860). Also what a Hugging Face Space runs.

The same as ``novita-ui serve``; the flags, and how they meet the environment, are in ``novita_ui.serve``.
"""

from __future__ import annotations

import sys

from novita_ui.serve import build_parser, main, parse_auth, resolve_address

__all__ = ["build_parser", "main", "parse_auth", "resolve_address"]

if __name__ == "__main__":
    sys.exit(main())
