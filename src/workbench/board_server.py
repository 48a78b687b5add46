"""TensorBoard behind a per-launch secret: the process that ``workbench board`` starts.

TensorBoard has no login, and binding loopback keeps nobody out on a shared login node: every
user of the host reaches 127.0.0.1. So :func:`workbench.board.start` makes a fresh secret for each
launch and runs this module, which is TensorBoard's own program (its plugins, flags and Werkzeug
server) with one change: the server serves TensorBoard's WSGI app through :class:`TokenGate`, so
no request reaches TensorBoard without the secret. There is deliberately no second port: an
ungated TensorBoard behind a gating proxy would still answer everyone on the host on its own port.
For the same reason TensorBoard's fast-loading data server is turned off (``--load_fast=false``):
it is a separate gRPC server on another loopback port that hands every run's data to anyone.

The secret arrives in the environment variable ``WORKBENCH_BOARD_TOKEN``, never in argv: any user
can read any process's command line (``ps``), only the owner can read its environment
(``/proc/PID/environ``). It is removed from this process's environment at once, so nothing that
TensorBoard starts inherits it.
"""

from __future__ import annotations

import hmac
import html
import json
import os
import sys
from urllib.parse import quote, urlencode

from werkzeug.wrappers import Request, Response

TOKEN_VARIABLE = "WORKBENCH_BOARD_TOKEN"

NO_TOKEN = ("This TensorBoard is private to the user who started it, and this request has no token.\n"
            "Open the address `workbench board` printed: it ends in ?token=... (a SLURM job writes it to "
            "the file its .out names). A script sends the header `Authorization: token ...` instead.\n")
WRONG_TOKEN = ("The token in this address is not this TensorBoard's (an address from an earlier launch, "
               "or cut short when copied).\n"
               "Open the address `workbench board` printed for this launch: it ends in ?token=...\n")


def cookie_name(port: int) -> str:
    """The cookie that remembers the secret. Browsers keep cookies per host, not per host and
    port, so two boards on one host (two users, or one user's two runs) need names of their own."""
    return f"workbench-board-{port}"


class TokenGate:
    """WSGI middleware: hand a request to ``app`` only if it carries ``token``.

    * ``?token=SECRET`` (the printed address): a GET or HEAD is answered with a cookie holding the
      secret and a page that sends the browser on to the same page without it (see
      :func:`landing`), so the secret leaves the address bar and the history; any other method is
      served as it is.
    * the cookie, or the header ``Authorization: token SECRET`` (scripts): served.
    * anything else: 403 with a line saying where the right address is.
    """

    def __init__(self, app, token: str, port: int):
        self.app = app
        self._token = token.encode()
        self.port = port  # the port the server bound: it names the cookie

    def __call__(self, environ, start_response):
        request = Request(environ)
        offered = request.args.getlist("token")
        if offered:
            if not all(self._is_token(value) for value in offered):
                return refusal(WRONG_TOKEN)(environ, start_response)
            if request.method in ("GET", "HEAD"):
                return self._remember(request)(environ, start_response)
            environ["QUERY_STRING"] = query_without_token(request)
            return self.app(environ, start_response)
        if self._is_token(request.cookies.get(cookie_name(self.port))) or \
                self._is_token(authorization_token(request)):
            return self.app(environ, start_response)
        return refusal(NO_TOKEN)(environ, start_response)

    def _is_token(self, offered: str | None) -> bool:
        # compare_digest takes as long for a near miss as for a wild guess: no timing hints.
        return offered is not None and hmac.compare_digest(offered.encode(), self._token)

    def _remember(self, request: Request) -> Response:
        response = landing(same_page_without_token(request))
        # No Path: the browser then scopes the cookie to the directory of the address it asked
        # for, "/" when it reaches the port directly (or through an ssh tunnel), and
        # /user/NAME/proxy/PORT under jupyter-server-proxy, whose prefix TensorBoard never sees
        # (Path=/ there would hand the cookie to every other app on the Jupyter server's origin).
        # HttpOnly: no page script can read it; SameSite=Strict: no other site's page can make
        # the browser send it.
        response.set_cookie(cookie_name(self.port), self._token.decode(), path=None, httponly=True,
                            samesite="Strict")
        return response


def authorization_token(request: Request) -> str | None:
    """SECRET from the header ``Authorization: token SECRET`` (Jupyter's form), else None."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "token" else None


def query_without_token(request: Request) -> str:
    return urlencode([(key, value) for key, value in request.args.items(multi=True) if key != "token"])


def same_page_without_token(request: Request) -> str:
    """A relative address (``./`` plus the last path segment and the rest of the query): behind
    jupyter-server-proxy the browser's path starts with /user/NAME/proxy/PORT/, which TensorBoard
    never sees, so an absolute path would leave the proxy."""
    last_segment = request.environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
    # WSGI hands the path over as latin-1 decoded bytes: quote the original bytes.
    location = "./" + quote(last_segment.encode("latin-1"), safe="!$&'()*+,;=:@-._~")
    query = query_without_token(request)
    return f"{location}?{query}" if query else location


def landing(target: str) -> Response:
    """The answer to the printed address: a page that replaces itself with ``target``.

    Not an HTTP redirect, because of SameSite=Strict: when the printed address is opened from a
    page of another site (a chat in a browser tab, or JupyterLab on localhost:8888 opening
    127.0.0.1, a different site), the browser counts a redirect as part of that cross-site
    navigation and holds the new cookie back, so the redirected page would be refused. A
    navigation this page starts is same-site and carries the cookie. (Strict, not Lax: the
    profile plugin's ``capture_profile`` is a GET that makes TensorBoard connect to an address
    and write into the log directory, and Lax would let any site trigger it by navigation.)
    ``location.replace`` keeps the fragment (``#hparams``) and leaves no history entry with the
    token; the meta refresh covers a browser without JavaScript. Its title is not TensorBoard's,
    so whoever waits for the title "TensorBoard" waits for the app itself."""
    script_target = json.dumps(target).replace("<", "\\u003c")
    page = (f'<!doctype html>\n<meta charset="utf-8"><title>Opening TensorBoard</title>\n'
            f'<meta http-equiv="refresh" content="0; url={html.escape(target, quote=True)}">\n'
            f"<script>location.replace({script_target} + location.hash)</script>\n")
    return Response(page, status=200, content_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


def refusal(message: str) -> Response:
    return Response(message, status=403, content_type="text/plain; charset=utf-8",
                    headers={"Cache-Control": "no-store"})


def token_gated_server(token: str):
    """TensorBoard's ``server_class``: its own Werkzeug server (port scanning included), serving
    the app through :class:`TokenGate`."""
    from tensorboard import program, version

    class TokenGatedServer(program.WerkzeugServer):
        def print_serving_message(self) -> None:
            # TensorBoard's own line shows the bare address, which now answers 403.
            sys.stderr.write(f"TensorBoard {version.VERSION} at {self.get_url()}, for requests with this "
                             "launch's token only: `workbench board` prints the addresses that carry it\n")
            sys.stderr.flush()

    def make(wsgi_app, flags):
        gate = TokenGate(wsgi_app, token, port=flags.port)
        server = TokenGatedServer(gate, flags)
        gate.port = server.server_port  # flags.port may be 0, "any free port"
        return server

    return program.with_port_scanning(make)


def main() -> None:
    """``python -m workbench.board_server TENSORBOARD-FLAGS`` with the secret in the environment."""
    token = os.environ.pop(TOKEN_VARIABLE, "")
    if not token:
        sys.exit(f"{TOKEN_VARIABLE} is not set: start TensorBoard with `workbench board` (or "
                 "workbench.board.start), which makes a secret for the launch and passes it here")
    from absl import app
    from tensorboard import default, main_lib, program
    from tensorboard.plugins import base_plugin

    main_lib.global_init()
    tensorboard = program.TensorBoard(plugins=default.get_plugins(), server_class=token_gated_server(token))
    try:  # as tensorboard.main.run_main, with the data server forced off whatever the flags say
        app.run(tensorboard.main, flags_parser=lambda argv: tensorboard.configure(argv, load_fast="false"))
    except base_plugin.FlagsError as error:
        sys.exit(f"Error: {error}")


if __name__ == "__main__":
    main()
