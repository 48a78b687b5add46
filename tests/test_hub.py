"""A participant's first session, for real: JupyterHub spawns JupyterLab as a SLURM job, a browser runs it.

Nothing is mocked: JupyterHub with configurable-http-proxy (npm, ``hub/package.json``) runs the
sample configuration sites get (``hub/jupyterhub_config.py``) with a test authenticator; its
SlurmSpawner (batchspawner) submits the participant's JupyterLab to the local SLURM the other
SLURM tests use, as that participant's own Unix user; Debian's chromium, driven by Playwright,
logs in and works through the JupyterLab UI: the setup notebook and lab 02 in quick mode (Run All
Cells, outputs and plots), a progress bar, then TensorBoard through jupyter-server-proxy, by
``workbench board``'s address and by the ``%tensorboard`` magic. Screenshots go to
``test-output/hub/``.

Servers listen on 127.0.0.1 (the participant's JupyterLab on the compute node's address, as on a
cluster) and are stopped by the test. Outside CI the test skips, naming what is missing, when it
cannot have SLURM, chromium, root (to create the participant) or the proxy; in CI it must run.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from workbench.board import free_port

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "test-output" / "hub"
PARTICIPANT = "wb-participant"
PROXY = ROOT / "hub" / "node_modules" / ".bin" / "configurable-http-proxy"
SPAWN_SECONDS = 300  # sbatch, the job starting, JupyterLab answering the hub
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook in front (restored tabs stay hidden)

pytestmark = [pytest.mark.slurm, pytest.mark.notebook]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the hub test: `./workshop test` installs what it needs)")
    pytest.skip(reason)


def _wait_for(url: str, seconds: float, process: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"JupyterHub exited ({process.returncode}):\n{log.read_text()[-4000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"JupyterHub did not answer {url} in {seconds:.0f} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def requirements():
    if os.geteuid() != 0:
        _unavailable("the hub test creates a participant's Unix user and runs the hub as root")
    if shutil.which("sinfo") is None or subprocess.run(["sinfo"], capture_output=True).returncode != 0:
        _unavailable("no SLURM running (./workshop test starts a local one as root)")
    for tool in ("sudo", "chromium"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} is missing (`./workshop test` installs it with apt)")
    if not PROXY.exists():
        _unavailable(f"{PROXY} is missing: `npm ci --prefix hub` (./workshop test runs it)")


@pytest.fixture(scope="module")
def participant(requirements, real_data):
    """A participant's Unix account with the two notebooks in ~/notebooks and the kernel registered.

    The kernel is registered the way a participant does it, as that user: ``workbench kernel
    install --user`` with the staged data and quick mode.
    """
    created = False
    try:
        pwd.getpwnam(PARTICIPANT)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", PARTICIPANT], check=True)
        created = True
    home = Path(pwd.getpwnam(PARTICIPANT).pw_dir)
    subprocess.run(["scancel", "--user", PARTICIPANT], capture_output=True)  # a server an earlier run left
    opened = _let_everyone_through(Path(os.path.realpath(ROOT / ".venv" / "bin" / "python")), ROOT)
    work = home / "notebooks"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "check_your_setup.ipynb", work)
    # Lab 02 as a participant has it at the end: every exercise answered (the instructor's solution).
    shutil.copy(ROOT / "solutions" / "02_mnist_cnn.ipynb", work)
    nbformat.write(_browser_checks_notebook(), work / "browser_checks.ipynb")
    subprocess.run(["chown", "-R", f"{PARTICIPANT}:", str(home)], check=True)
    subprocess.run(["runuser", "-u", PARTICIPANT, "--", str(ROOT / ".venv" / "bin" / "workbench"), "kernel",
                    "install", "--user", "--quick", "--data", str(real_data)], check=True, cwd=home)
    yield PARTICIPANT, home
    subprocess.run(["scancel", "--user", PARTICIPANT], capture_output=True)
    for directory, mode in opened:
        directory.chmod(mode)
    if created:
        subprocess.run(["userdel", "--remove", PARTICIPANT], capture_output=True)


def _let_everyone_through(*paths: Path) -> list[tuple[Path, int]]:
    """Let other users traverse the folders above ``paths``; return what to restore.

    On a cluster the workbench's environment is installed where every participant can run it. On
    a test machine its Python may come from root's home (pyenv in /root, mode 700), which the
    participant's job could not start; the folders that block it get the search bit only
    (``o+x``: pass through, not list) for the length of the test.
    """
    opened = []
    for path in paths:
        for directory in reversed(path.parents):
            mode = directory.stat().st_mode
            if not mode & 0o001:
                directory.chmod(mode | 0o001)
                opened.append((directory, mode & 0o7777))
    return opened


def _browser_checks_notebook():
    """What the test runs beside the course notebooks: a progress bar, and TensorBoard both ways."""
    cells = [
        # Keras' progress bar (verbose=1) redraws one line per epoch with carriage returns.
        "import keras, numpy as np\n"
        "model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])\n"
        "model.compile('sgd', 'mse')\n"
        "model.fit(np.zeros((512, 4)), np.zeros(512), batch_size=8, epochs=2, verbose=1)",
        "from workbench import board, settings\n"
        "settings.logs_root().mkdir(parents=True, exist_ok=True)\n"
        "tensorboard = board.start(settings.logs_root())\n"
        "print(tensorboard.instructions())",
        "%load_ext tensorboard\n%tensorboard --logdir logs",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    notebook.metadata["kernelspec"] = nbformat.read(ROOT / "notebooks" / "check_your_setup.ipynb",
                                                    as_version=4).metadata["kernelspec"]
    return notebook


@pytest.fixture(scope="module")
def hub(participant, tmp_path_factory):
    """The sample hub configuration, with a test authenticator and local ports, running."""
    where = tmp_path_factory.mktemp("hub")
    port, hub_port, api_port = free_port(), free_port(), free_port()
    password = secrets.token_urlsafe(12)
    config = where / "jupyterhub_config.py"
    config.write_text("\n".join([
        "c = get_config()  # noqa",
        f"load_subconfig({str(ROOT / 'hub' / 'jupyterhub_config.py')!r})",
        "# What a test changes: who may log in, and where everything listens.",
        "c.JupyterHub.authenticator_class = 'dummy'",
        f"c.DummyAuthenticator.password = {password!r}",
        f"c.Authenticator.allowed_users = {{{PARTICIPANT!r}}}",
        f"c.JupyterHub.bind_url = 'http://127.0.0.1:{port}/'",
        f"c.JupyterHub.hub_ip = '127.0.0.1'\nc.JupyterHub.hub_port = {hub_port}",
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{api_port}'",
        f"c.ConfigurableHTTPProxy.command = [{str(PROXY)!r}]",
        f"c.JupyterHub.db_url = 'sqlite:///{where / 'hub.sqlite'}'",
        f"c.JupyterHub.cookie_secret_file = {str(where / 'cookie_secret')!r}",
        f"c.JupyterHub.pid_file = {str(where / 'hub.pid')!r}",
        "c.SlurmSpawner.req_nprocs = '2'",
        "c.SlurmSpawner.req_runtime = '00:20:00'",
    ]) + "\n")
    log = where / "jupyterhub.log"
    env = {**os.environ, "WORKBENCH_ROOT": str(ROOT),
           "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}"}
    with log.open("w") as out:
        process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "jupyterhub"), "-f", str(config)],
                                   cwd=where, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{url}/hub/api", 60, process, log)
        yield url, password, log
    finally:
        # JupyterHub stops the servers it spawned (scancel) when it shuts down.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(log, SCREENSHOTS / "jupyterhub.log")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def lab_page(hub, browser, participant):
    """A participant logged in, with JupyterLab spawned by SLURM and open."""
    url, password, log = hub
    user, _home = participant
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{url}/hub/login")
    page.fill("#username_input", user)
    page.fill("#password_input", password)
    page.click("#login_submit")
    try:
        page.wait_for_url(re.compile(rf".*/user/{user}/lab.*"), timeout=SPAWN_SECONDS * 1000)
        page.wait_for_selector(".jp-LabShell", timeout=120_000)
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / "spawn-failed.png"))
        queue = subprocess.run(["squeue", "--all"], capture_output=True, text=True).stdout
        raise AssertionError(f"JupyterLab did not open; the queue:\n{queue}\nhub log:\n"
                             f"{log.read_text()[-6000:]}") from None
    page.screenshot(path=str(SCREENSHOTS / "01-jupyterlab.png"))
    yield page
    context.close()


def _run_all_cells(page, url: str, user: str, home: Path, name: str, seconds: float) -> dict:
    """Open ``notebooks/NAME`` in JupyterLab, Run → Run All Cells, wait, save; return the saved file."""
    page.goto(f"{url}/user/{user}/lab/tree/notebooks/{name}?reset")  # reset: no tabs from earlier
    page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=120_000)
    page.wait_for_selector(f"{NOTEBOOK} .jp-Notebook-ExecutionIndicator[data-status='idle']",
                           timeout=120_000)
    # The notebook names the kernel keras-workbench, which the participant registered: no dialog.
    kernel_name = page.locator(f"{NOTEBOOK} .jp-KernelName").first
    try:
        kernel_name.filter(has_text="Keras workbench").wait_for(timeout=60_000)
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / f"{name}-kernel.png"))
        specs = page.request.get(f"{url}/user/{user}/api/kernelspecs").text()
        raise AssertionError(f"{name} opened in kernel {kernel_name.inner_text()!r}, not the workbench's; "
                             f"the server's kernels: {specs}") from None
    # The toolbar names the kernel as soon as it is asked for; the status bar says "Idle" only once it
    # is connected. JupyterLab silently clears, not queues, cells run before that (CodeCell.execute
    # returns when the session has no kernel yet): under load, Run All would run nothing at all.
    try:
        idle = re.compile(r"Keras workbench \(Python 3\.11\) \| Idle")
        page.locator("#jp-main-statusbar", has_text=idle).wait_for(timeout=120_000)
    except Exception:
        page.screenshot(path=str(SCREENSHOTS / f"{name}-kernel-not-idle.png"))
        status = page.locator("#jp-main-statusbar").inner_text()
        raise AssertionError(f"{name}: the kernel never became idle; the status bar: {status!r}") from None
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    deadline, stopped_since = time.time() + seconds, None
    prompts = []
    while time.time() < deadline:
        prompts = page.eval_on_selector_all(f"{NOTEBOOK} .jp-CodeCell .jp-InputPrompt",
                                            "nodes => nodes.map(n => n.textContent.trim())")
        numbered = [p for p in prompts if re.fullmatch(r"\[\d+\]:", p)]
        # JupyterLab may take cells far from the view out of the page, so the prompts seen here can
        # be fewer than the cells: done when every one shown has run; the saved file says the rest.
        if prompts and len(numbered) == len(prompts):
            break
        # Run All stops at a cell that raised: something ran, nothing is queued or running any more,
        # and some cells have not run. (Before the first cell starts, nothing has run: not stopped.)
        if numbered and "[*]:" not in prompts:
            stopped_since = stopped_since or time.time()
            if time.time() - stopped_since > 10:
                break  # the saved notebook below shows the error
        else:
            stopped_since = None
        time.sleep(1)
    else:
        page.screenshot(path=str(SCREENSHOTS / f"{name}-timeout.png"), full_page=True)
        raise AssertionError(f"{name}: cells still running or not run after {seconds:.0f} s: {prompts}")
    page.locator(f"{NOTEBOOK} .jp-Cell").first.click()
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !document.querySelector('.jp-mod-dirty')")
    time.sleep(1)
    saved = json.loads((home / "notebooks" / name).read_text())
    not_run = [i for i, cell in enumerate(saved["cells"])
               if cell["cell_type"] == "code" and cell["execution_count"] is None]
    assert not not_run or _errors(saved), f"{name}: cells {not_run} never ran, and none raised"
    return saved


def _errors(saved: dict) -> list[str]:
    return [f"{o['ename']}: {o['evalue']}" for cell in saved["cells"] for o in cell.get("outputs", [])
            if o.get("output_type") == "error"]


def _text(saved: dict) -> str:
    parts = []
    for cell in saved["cells"]:
        for output in cell.get("outputs", []):
            text = output.get("text") or output.get("data", {}).get("text/plain", "")
            parts.append(text if isinstance(text, str) else "".join(text))
    return "".join(parts)


def test_participant_runs_the_setup_notebook_in_a_jupyterlab_spawned_by_slurm(lab_page, hub, participant):
    url, _password, _log = hub
    user, home = participant
    jobs = subprocess.run(["squeue", "--noheader", "--user", user, "--format", "%j %T"],
                          capture_output=True, text=True).stdout
    assert "spawner-jupyterhub RUNNING" in jobs, f"no JupyterLab job of {user} running in SLURM: {jobs!r}"
    saved = _run_all_cells(lab_page, url, user, home, "check_your_setup.ipynb", 240)
    lab_page.screenshot(path=str(SCREENSHOTS / "02-check_your_setup.png"), full_page=True)
    assert _errors(saved) == []
    text = _text(saved)
    for topic in ("kernel", "versions", "devices", "data", "training"):
        assert f"✔ {topic}:" in text, text
    assert "ready for the labs" in text
    assert lab_page.locator(f"{NOTEBOOK} .jp-RenderedImage img").count() == 1  # the digits


def test_participant_runs_lab_02_through_the_ui_with_plots(lab_page, hub, participant):
    url, _password, _log = hub
    user, home = participant
    saved = _run_all_cells(lab_page, url, user, home, "02_mnist_cnn.ipynb", 420)
    lab_page.screenshot(path=str(SCREENSHOTS / "03-02_mnist_cnn.png"), full_page=True)
    assert _errors(saved) == []
    assert "Epoch 1/2" in _text(saved)  # quick mode: two epochs, one line each (verbose=2)
    images = [o for c in saved["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "lab 02 showed no plot"
    assert lab_page.locator(f"{NOTEBOOK} .jp-RenderedImage img").count() == len(images)


def test_progress_bars_and_tensorboard_through_the_proxy(lab_page, hub, participant, browser):
    url, _password, _log = hub
    user, home = participant
    saved = _run_all_cells(lab_page, url, user, home, "browser_checks.ipynb", 180)
    lab_page.screenshot(path=str(SCREENSHOTS / "04-browser_checks.png"), full_page=True)
    assert _errors(saved) == []
    # The progress bar: JupyterLab applies the carriage returns, so each epoch shows one bar line.
    shown = lab_page.locator(f"{NOTEBOOK} .jp-CodeCell").first.locator(".jp-OutputArea").inner_text()
    bars = [line for line in shown.splitlines() if "64/64" in line]
    assert len(bars) == 2 and all("━" in line for line in bars), shown

    # `workbench board`'s proxied address (with its secret) opens TensorBoard in the same session.
    printed = _text(saved)
    match = re.search(r"In JupyterLab: (\S+)", printed)
    assert match, f"workbench board printed no proxied address:\n{printed}"
    address = match.group(1)
    assert address.startswith(f"/user/{user}/proxy/")
    # Without the secret the proxied path is refused, even to the logged-in participant ...
    refused = lab_page.context.request.get(url + address.split("?")[0], max_redirects=0)
    assert refused.status == 403, refused.status
    board_page = lab_page.context.new_page()
    response = board_page.goto(url + address)
    assert response.ok
    board_page.wait_for_function("() => document.title === 'TensorBoard'", timeout=60_000)
    board_page.screenshot(path=str(SCREENSHOTS / "05-tensorboard-proxied.png"))
    board_page.close()
    # ... and without a hub login, nobody gets past JupyterHub at all.
    stranger = browser.new_page()
    stranger.goto(url + address)
    assert "/hub/login" in stranger.url
    stranger.close()

    # TensorBoard's own %tensorboard magic shows TensorBoard inline, in an iframe through the proxy.
    frame = lab_page.frame_locator(f"{NOTEBOOK} iframe").first
    frame.locator("body").wait_for(timeout=60_000)
    title = lab_page.wait_for_function(
        "() => { const f = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) iframe');"
        " return f && f.contentDocument && f.contentDocument.title; }", timeout=60_000).json_value()
    assert title == "TensorBoard"
    lab_page.screenshot(path=str(SCREENSHOTS / "06-tensorboard-magic.png"), full_page=True)
