"""`tfseg view PATH [--serve [--port N]]`: opens a report page in the default browser, or serves its folder."""

from __future__ import annotations

import argparse
import functools
import http.server
import signal
import webbrowser
from pathlib import Path
from typing import Sequence
from urllib.parse import quote

from tfseg.cli.command import ArgumentParser, add_verbose_flag, run

PAGES = ("report.html", "index.html")
"""The pages looked for in a folder, in order: evaluate.py's and compare.py's, then predict.py's."""

EXAMPLES = """\
examples:
  tfseg view runs/demo/eval/test                # its report.html in the default browser
  tfseg view studies/ph2_losses/report.html
  tfseg view runs/demo/predictions --serve      # index.html at 127.0.0.1:PORT (Ctrl-C stops)
  tfseg view runs/demo/eval/test --serve --port 8000
"""
"""The examples at the end of `tfseg view --help`."""


def view_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of `tfseg view`."""
    parser = ArgumentParser(prog=prog, usage="%(prog)s PATH [--serve [--port N]]", epilog=EXAMPLES,
                            description="Open a report page (report.html, index.html) in the default browser,\n"
                                        "or serve its folder on 127.0.0.1.")
    parser.add_argument("path", help="an HTML page, or a folder with report.html or index.html (an evaluation, a "
                                     "study, predictions)")
    parser.add_argument("--serve", action="store_true",
                        help="serve the page's folder on 127.0.0.1 and print its address instead of opening a browser "
                             "(e.g. on a remote machine, with ssh -L); Ctrl-C stops")
    parser.add_argument("--port", type=int, default=0, metavar="N",
                        help="with --serve: the port (default: 0, a free one)")
    add_verbose_flag(parser)
    return parser


def find_page(path: str | Path) -> Path:
    """The page `path` names: an HTML file, or a folder's report.html, else its index.html."""
    from tfseg.errors import TfsegError

    path = Path(path)
    if path.is_file() and path.suffix.lower() in (".html", ".htm"):
        return path.resolve()
    if path.is_dir():
        for name in PAGES:
            if (path / name).is_file():
                return (path / name).resolve()
        raise TfsegError(f"{path}: no {' or '.join(PAGES)} in this folder; expected an evaluation's folder "
                         "(RUN_DIR/eval/SPLIT), a study's or predict.py --overlays' output")
    raise TfsegError(f"{path}: no such HTML page or folder; expected report.html, index.html or a folder with one")


def serve(page: Path, port: int) -> None:
    """Serves the page's folder on 127.0.0.1:`port` (0: a free one) and prints the page's address
    until Ctrl-C or SIGTERM, which close the server. The handlers are installed whatever the
    process inherited (a shell's background job starts with SIGINT ignored)."""
    handler = functools.partial(QuietHandler, directory=str(page.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    previous = {number: signal.signal(number, _interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
    print(f"tfseg: serving {page.parent} at http://127.0.0.1:{server.server_address[1]}/{quote(page.name)} "
          "(Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("tfseg: stopped", flush=True)
    finally:
        server.server_close()
        for number, previous_handler in previous.items():
            signal.signal(number, previous_handler)


def _interrupt(number: int, frame: object) -> None:
    raise KeyboardInterrupt


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without a log line per request."""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the name http.server gives it)
        pass


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """`tfseg view PATH`: opens the page in the default browser, or serves its folder (`--serve`)."""
    args = view_parser(prog).parse_args(argv)

    def command() -> None:
        from tfseg.errors import TfsegError

        page = find_page(args.path)
        if args.serve:
            serve(page, args.port)
        elif webbrowser.open(page.as_uri()):
            print(f"tfseg: {page} opened in the browser")
        else:
            raise TfsegError(f"no browser found to open {page}; serve it instead: tfseg view {args.path} --serve")

    return run(command, args.verbose, tensorflow=False)
