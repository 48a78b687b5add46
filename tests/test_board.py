"""`workbench board`'s per-launch secret: TensorBoard answers only requests that carry it.

Loopback is no wall on a shared login node (every user of the host reaches 127.0.0.1), so each
launch gets a secret and TensorBoard is served only through a check of it (workbench.board_server).
Two real boards over an empty log directory, asked over HTTP as another user of the host would ask
them, and in headless Chromium as their owner would open them: directly, from a link on another
site, and behind a prefix-stripping proxy as jupyter-server-proxy runs it. No training here.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import http.server
import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from workbench import board as boards
from workbench.board_server import cookie_name


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    return tmp_path_factory.mktemp("board-logs")


@pytest.fixture(scope="module")
def board(logdir):
    with boards.start(logdir) as running:
        yield running


@pytest.fixture(scope="module")
def other_board(logdir):
    """A second board on the same host, as another user (or the same user's second launch) runs it."""
    with boards.start(logdir) as running:
        yield running


def ask(board, path: str = "/data/logdir", headers: dict | None = None) -> tuple[int, dict, str]:
    """(status, headers, body) of a GET, redirects not followed, refusals returned, not raised."""
    request = urllib.request.Request(f"http://127.0.0.1:{board.port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers, refused.read().decode()


def set_cookie(headers) -> tuple[str, str, dict[str, str]]:
    """The one Set-Cookie header as (name, value, attributes with lower-case names)."""
    (header,) = headers.get_all("Set-Cookie")
    pair, *attributes = [part.strip() for part in header.split(";")]
    name, value = pair.split("=", 1)
    return name, value, {key.lower(): value for key, _, value in (a.partition("=") for a in attributes)}


def landing_target(page: str) -> str:
    """Where the page answering the printed address sends the browser."""
    return json.loads(re.search(r"location\.replace\((\"[^\"]*\")", page).group(1))


def test_a_request_without_the_token_is_refused_and_told_where_the_address_is(board):
    for path in ("/", "/data/logdir", "/data/plugin/scalars/tags"):
        status, headers, body = ask(board, path)
        assert status == 403, path
        assert headers["Content-Type"].startswith("text/plain")
        assert "`workbench board` printed" in body and "?token=" in body
        assert board.token not in body


def test_a_wrong_token_is_refused_in_the_address_the_header_and_the_cookie(board):
    wrong = board.token[:-1] + ("A" if board.token[-1] != "A" else "B")
    status, _, body = ask(board, f"/data/logdir?token={wrong}")
    assert status == 403 and "not this TensorBoard's" in body
    assert ask(board, "/data/logdir", {"Authorization": f"token {wrong}"})[0] == 403
    assert ask(board, "/data/logdir", {"Cookie": f"{cookie_name(board.port)}={wrong}"})[0] == 403


def test_the_printed_address_sets_a_strict_httponly_cookie_and_sends_the_browser_on_without_it(board):
    status, headers, page = ask(board, f"/data/logdir?token={board.token}&tag=epoch_loss")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    name, value, attributes = set_cookie(headers)
    assert (name, value) == (cookie_name(board.port), board.token)
    assert "httponly" in attributes and attributes["samesite"] == "Strict"
    # No Path: the browser scopes the cookie to the directory it asked in ("/" directly,
    # /user/NAME/proxy/PORT behind jupyter-server-proxy); no Domain: this host only.
    assert "path" not in attributes and "domain" not in attributes
    target = landing_target(page)
    assert target == "./logdir?tag=epoch_loss"  # relative: it stays under a proxy's prefix
    assert board.token not in target
    followed = urllib.parse.urljoin(f"/data/logdir?token={board.token}", target)
    assert ask(board, followed, {"Cookie": f"{name}={value}"})[0] == 200
    assert ask(board, followed)[0] == 403


def test_the_cookie_from_the_printed_address_lets_the_browser_in(board):
    _, headers, _ = ask(board, f"/?token={board.token}")
    name, value, _ = set_cookie(headers)
    status, _, body = ask(board, "/data/logdir", {"Cookie": f"other=1; {name}={value}"})
    assert status == 200 and json.loads(body)["logdir"] == str(board.logdir)
    assert ask(board, "/data/logdir", {"Cookie": "other=1"})[0] == 403


def test_a_script_gets_in_with_the_authorization_header(board):
    assert board.authorization == {"Authorization": f"token {board.token}"}
    status, _, body = ask(board, "/data/logdir", board.authorization)
    assert status == 200 and json.loads(body)["logdir"] == str(board.logdir)
    assert ask(board, "/data/logdir")[0] == 403


def test_the_token_reaches_tensorboard_in_its_environment_never_its_command_line(board):
    """Every user can read every process's command line (ps); only the owner its environment."""
    pid = board.process.pid
    command_line = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"workbench.board_server" in command_line
    assert not any(board.token.encode() in part for part in command_line)
    environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")  # readable: we own it
    assert f"WORKBENCH_BOARD_TOKEN={board.token}".encode() in environment


def test_each_launch_has_its_own_secret_and_two_boards_refuse_each_others_cookies(board, other_board):
    assert board.token != other_board.token and board.port != other_board.port
    assert cookie_name(board.port) != cookie_name(other_board.port)  # cookies ignore ports
    _, headers, _ = ask(board, f"/?token={board.token}")
    name, value, _ = set_cookie(headers)
    # A browser sends every cookie of the host to every port: the other board gets ours, under
    # our name and under its own.
    assert ask(other_board, "/data/logdir", {"Cookie": f"{name}={value}"})[0] == 403
    assert ask(other_board, "/data/logdir", {"Cookie": f"{cookie_name(other_board.port)}={value}"})[0] == 403
    assert ask(other_board, f"/data/logdir?token={board.token}")[0] == 403
    assert ask(other_board, "/data/logdir", other_board.authorization)[0] == 200


def listening_ports(pid: int) -> set[int]:
    """TCP ports listened on by ``pid`` and its descendants, from /proc (no psutil)."""
    family = {pid}
    for _ in range(3):  # children, grandchildren, great-grandchildren
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) in family:
                family.add(int(stat.parent.name))
    inodes = set()
    for member in family:
        for fd in Path(f"/proc/{member}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_tensorboard_listens_on_the_gated_port_only(board):
    """TensorBoard's fast-loading data server is a gRPC server on a second loopback port that
    answers anyone: the board runs without it, so its one port is the gated one."""
    assert listening_ports(board.process.pid) == {board.port}


def test_every_printed_address_carries_the_token(board, monkeypatch):
    monkeypatch.setenv("WORKBENCH_LOGIN_HOST", "login.example.org")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    monkeypatch.delenv("TENSORBOARD_PROXY_URL", raising=False)
    text = board.instructions()
    port, token = board.port, board.token
    assert f"is at http://127.0.0.1:{port}/?token={token}" in text
    assert f"ssh -N -L {port}:localhost:{port}" in text and token not in text.splitlines()[1]
    assert f"then open http://localhost:{port}/?token={token}" in text
    assert f"In JupyterLab: /user/alice/proxy/{port}/?token={token}" in text
    assert board.url_with_token == f"http://127.0.0.1:{port}/?token={token}"
    assert boards.with_token("/proxy/6006/?x=1", "abc") == "/proxy/6006/?x=1&token=abc"


# --- in a browser ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: `./workshop test` installs it (apt)")
        pytest.skip("no chromium here")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=browser, args=["--no-sandbox"])
        yield launched
        launched.close()


def open_tensorboard(context, address: str, loaded_from: str):
    """Open ``address`` in a page of ``context``; return the page once TensorBoard's app has
    asked for (and been given) data/environment, which it does first."""
    page = context.new_page()
    with page.expect_response(lambda r: r.url.startswith(loaded_from) and r.url.endswith("/data/environment"),
                              timeout=90_000) as environment:
        page.goto(address)
    assert environment.value.status == 200, environment.value.url
    return page


def test_a_browser_opens_the_printed_address_and_keeps_the_token_out_of_the_address_bar(chromium, board):
    context = chromium.new_context()
    try:
        page = open_tensorboard(context, f"{board.url_with_token}#scalars", board.url)
        assert page.url == f"{board.url}#scalars"  # token gone, fragment kept
        page.go_back()
        assert page.url == "about:blank"  # the token address left no history entry
        (cookie,) = context.cookies()
        assert (cookie["name"], cookie["path"], cookie["httpOnly"], cookie["sameSite"]) == \
            (cookie_name(board.port), "/", True, "Strict")
        fresh = chromium.new_context()  # another browser (another user): the bare address is refused
        try:
            assert fresh.new_page().goto(board.url).status == 403
        finally:
            fresh.close()
    finally:
        context.close()


def test_a_link_from_another_site_opens_the_board(chromium, board, tmp_path):
    """localhost and 127.0.0.1 are different sites: after a redirect, the browser would withhold
    the new SameSite=Strict cookie on a navigation another site started; the landing page's own
    navigation is same-site."""
    (tmp_path / "index.html").write_text(f'<a id="board" href="{board.url_with_token}#scalars">board</a>')
    handler = functools.partial(QuietFiles, directory=str(tmp_path))
    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as site:
        context = chromium.new_context()
        try:
            page = context.new_page()
            page.goto(f"http://localhost:{site.server_address[1]}/index.html")
            environment = f"{board.url}data/environment"
            with page.expect_response(lambda r: r.url == environment, timeout=90_000) as got:
                page.click("#board")
            assert got.value.status == 200
            assert page.url == f"{board.url}#scalars"
            page.go_back()
            assert page.url.startswith("http://localhost:")  # back to the link, not to the token
        finally:
            context.close()


def test_behind_jupyter_server_proxy_the_cookie_stays_under_the_prefix_and_the_app_loads(chromium, board):
    prefix = f"/user/alice/proxy/{board.port}/"
    handler = type("Proxy", (PrefixProxy,), {"prefix": prefix, "upstream": board.port})
    with serving(http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)) as proxy:
        base = f"http://127.0.0.1:{proxy.server_address[1]}{prefix}"
        context = chromium.new_context()
        try:
            page = open_tensorboard(context, boards.with_token(base, board.token) + "#scalars", base)
            assert page.url == f"{base}#scalars"
            (cookie,) = context.cookies()
            assert cookie["name"] == cookie_name(board.port) and cookie["path"] == prefix.rstrip("/")
        finally:
            context.close()


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class PrefixProxy(http.server.BaseHTTPRequestHandler):
    """What jupyter-server-proxy does with /user/NAME/proxy/PORT/...: strip the prefix, pass the
    rest to 127.0.0.1:PORT with the browser's headers (Cookie included), and pass the answer back
    with its headers (Set-Cookie included) as they are."""

    prefix: str
    upstream: int

    def do_GET(self) -> None:
        self.forward()

    def do_POST(self) -> None:
        self.forward()

    def forward(self) -> None:
        if not self.path.startswith(self.prefix):
            self.send_error(404)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream, timeout=60)
        upstream.request(self.command, self.path[len(self.prefix) - 1:], body=body or None, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serving(server):
    """Run an http.server in a thread for the duration of a ``with`` block."""
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
