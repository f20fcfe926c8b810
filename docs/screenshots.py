"""Screenshots of the built documentation in a real headless browser (``make docs-screenshots``).

Serves ``docs/_build/html`` on a free localhost port and has Chromium render the index, one API
page and one gallery page to PNG files in ``docs/_build/screenshots/`` (or ``--out``), so a person
can look at what a reader sees. Chromium comes from the system (Debian: ``apt-get install
chromium``); ``--browser PATH`` or ``$CHROMIUM`` names another binary.

Exit status 1 with one line when the site is not built, the browser is missing, or a page fails
to render.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGES = {
    "index": "index.html",
    "api-dmrg": "api/generated/tnkit.mps.dmrg.html",
    "gallery-dmrg": "gallery/plot_dmrg_heisenberg.html",
}
# Without these, Chromium on a machine with no network keeps trying to reach Google's hosts.
QUIET = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def _browser(explicit: str | None) -> str:
    for candidate in (explicit, os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if candidate and (path := shutil.which(candidate)):
            return path
    raise SystemExit(
        "docs-screenshots: no Chromium found; install it (apt-get install chromium) or pass --browser PATH"
    )


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *_: object) -> None:  # no access log on the terminal
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=HERE / "_build" / "html", help="the built site")
    parser.add_argument("--out", type=Path, default=HERE / "_build" / "screenshots", help="where the PNGs go")
    parser.add_argument("--browser", default=None, help="Chromium binary (default: $CHROMIUM or chromium on PATH)")
    parser.add_argument("--size", default="1280,1600", help="window size W,H in pixels")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        print(f"docs-screenshots: {args.site}/index.html is missing; run `make docs` first", file=sys.stderr)
        return 1
    browser = _browser(args.browser)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(args.site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    try:
        for name, page in PAGES.items():
            if not (args.site / page).is_file():
                failed.append(f"{page} (not built)")
                continue
            png = args.out / f"{name}.png"
            with tempfile.TemporaryDirectory() as profile:
                done = subprocess.run(
                    [
                        browser,
                        *QUIET,
                        f"--user-data-dir={profile}",
                        f"--window-size={args.size}",
                        f"--screenshot={png}",
                        f"http://127.0.0.1:{server.server_port}/{page}",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
            if done.returncode != 0 or not png.is_file() or png.stat().st_size == 0:
                failed.append(f"{page} (browser exit {done.returncode}: {done.stderr.strip()[-200:]})")
            else:
                print(f"{png}  <- {page}")
    finally:
        server.shutdown()
    if failed:
        print("docs-screenshots: failed to render " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
