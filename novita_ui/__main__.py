"""``python -m novita_ui``: the command-line tool."""

import sys

from novita_ui.cli import main

if __name__ == "__main__":
    sys.exit(main())
