"""What the browser tests share: the app on a free port with its output captured, one headless
Chromium, signing in, and a recorder of what the browser did besides drawing the page.

Test modules import the fixtures (``from tests.browser_support import app_server, browser,
server``); ``bench/pages.py`` uses the plain functions. Everything waits with Playwright's
auto-waiting ``expect``, never a bare count read right after an action.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "Concerto-2026!{role}"
#: How long ``expect`` retries before failing: a page rerun on a busy two-core machine can
#: take many seconds; a quiet one takes about one.
EXPECT_MS = 30_000
VIEWPORT = {"width": 1400, "height": 1000}
ROW_PX = 35  # height of a data frame's header and of each row
EXCEPTION = '[data-testid="stException"]'
STATUS = '[data-testid="stStatusWidget"]'
STALE = '[data-stale="true"]'
APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
NAV_LINK = '[data-testid="stSidebarNavLink"]'
OPTION = '[role="option"]'
NAV_MORE = '[data-testid="stSidebarNavViewButton"]'
# Starts Streamlit in this interpreter after pointing the churn store at a model folder (the
# store reads ``.data/models/churn`` otherwise, which a test server must not touch).
_LAUNCH = ("import sys; from pathlib import Path; from data_access.store import churn; "
           "churn.MODEL_DIR = Path(sys.argv.pop(1)); from streamlit.web.cli import main; "
           "sys.argv[0] = 'streamlit'; sys.exit(main())")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AppServer:
    """A running app: its base URL, its process, and everything it wrote (stdout and stderr
    go to ``log``, so a long run never blocks on a full pipe)."""

    url: str
    process: subprocess.Popen
    log: Path

    def mark(self) -> int:
        """Where the output ends now: pass it to :meth:`output_since` later."""
        return self.log.stat().st_size if self.log.exists() else 0

    def output_since(self, mark: int) -> str:
        with self.log.open("rb") as handle:
            handle.seek(mark)
            return handle.read().decode("utf-8", errors="replace")


@contextmanager
def running_app(mart_url: str, workflow_url: str, log: Path, *,
                model_dir: Path | None = None, extra_env: dict[str, str] | None = None,
                timeout: float = 90, root: Path = ROOT) -> Iterator[AppServer]:
    """Start ``streamlit run app.py`` on a free port with demo users, wait for
    ``/_stcore/health``, stop it afterwards. Raises RuntimeError if it never answers.

    ``root`` is the project folder whose app runs (a benchmark may run an older commit's
    copy beside this one)."""
    port = free_port()
    env = {**os.environ, "CONCERTO_MART_URL": mart_url, "CONCERTO_WORKFLOW_URL": workflow_url,
           "CONCERTO_DEMO_USERS": "1", **(extra_env or {})}
    run = ["run", str(root / "app.py"), "--server.port", str(port), "--server.address",
           "127.0.0.1", "--server.headless", "true"]
    command = ([sys.executable, "-c", _LAUNCH, str(model_dir), *run] if model_dir is not None
               else [sys.executable, "-m", "streamlit", *run])
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=sink,
                                   stderr=subprocess.STDOUT)
    server = AppServer(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the app exited with {process.returncode}:\n"
                                   f"{server.output_since(0)[-3000:]}")
            try:
                with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not answer /_stcore/health within {timeout:.0f} s")
            time.sleep(0.3)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def launch_chromium(playwright):
    """Debian's Chromium, headless, with its own network chatter switched off (so a request
    the recorder sees comes from the page)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def expect_():
    """Playwright's ``expect`` with this project's timeout."""
    from playwright.sync_api import expect

    expect.set_options(timeout=EXPECT_MS)
    return expect


def settle(page, timeout_ms: int = 60_000) -> None:
    """Wait until the app has drawn and no script run is going on: the app's root says its
    script is not running (``data-test-script-state``, which Streamlit's own browser tests
    read), no status widget, and no element marked stale (a rerun marks the previous run's
    elements stale, and drops or redraws them when it ends)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_timeout(400)  # a rerun the last action started has been requested by now
    page.wait_for_function(
        f"""() => document.querySelector('{APP_IDLE}')
                  && !document.querySelector('{STATUS}, {STALE}')""", timeout=timeout_ms)


def sign_in(page, username: str, role: str, password: str | None = None) -> None:
    """Fill in the sign-in form the way a person would; with the right password, wait for the
    sidebar's sign-out button."""
    settle(page)
    page.get_by_label("Username 用户名").fill(username)
    page.get_by_label("Password 密码").fill(password or PASSWORD.format(role=role))
    page.get_by_role("button", name="Sign in 登录").click()
    if password is None:
        page.wait_for_selector(".st-key-logout", timeout=60_000)
    settle(page)


#: Opened at a page's own path (``/campaigns``), Streamlit's front end first asks for
#: ``/campaigns/_stcore/health`` and ``…/host-config``, gets 404, then asks at the root
#: (streamlit/streamlit#7074, open in 1.67). Those two 404s, and only those, are not errors
#: of this app.
_PROBE_404 = re.compile(r"^/[A-Za-z0-9_-]+/_stcore/(health|host-config)$")


@dataclass
class BrowserRecorder:
    """What a page did besides drawing itself: requests to any host but the app's own,
    console errors and uncaught script errors."""

    origin: str
    foreign: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def attach(self, page) -> BrowserRecorder:
        page.on("request", lambda request: self._url(request.url))
        page.on("websocket", lambda socket_: self._url(socket_.url))
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.console_errors.append(f"uncaught: {error}"))
        return self

    def _allowed(self, url: str) -> bool:
        if url.startswith(("data:", "blob:")):
            return True
        own = self.origin.split("://", 1)[1]
        return any(url == f"{scheme}://{own}" or url.startswith(f"{scheme}://{own}/")
                   for scheme in ("http", "ws"))

    def _url(self, url: str) -> None:
        if not self._allowed(url):
            self.foreign.append(url)

    def _console(self, message) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        if _PROBE_404.match(where.removeprefix(self.origin)) and "404" in message.text:
            return  # Streamlit's own probe of a deep link's folder (see _PROBE_404)
        self.console_errors.append(f"{message.text} ({where or '?'})")


class Journey:
    """One person's session in the browser, checked at every step like a careful tester:
    each step waits for the page to settle and finds no exception element; :meth:`finish`
    also wants no traceback in what the server wrote meanwhile, no request to another host
    and no console error."""

    def __init__(self, server: AppServer, browser) -> None:
        self.server, self.mark = server, server.mark()
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.recorder = BrowserRecorder(server.url).attach(self.page)
        self.expect = expect_()
        self.steps: list[str] = []

    def step(self, what: str) -> None:
        """Wait for the page to settle, then check it drew no exception."""
        self.steps.append(what)
        settle(self.page)
        self.expect(self.page.locator(EXCEPTION),
                    f"an exception is drawn after: {' → '.join(self.steps)}").to_have_count(0)

    def sign_in(self, username: str, role: str, path: str = "") -> None:
        """Open ``path`` (a page's url path; "" is the landing page) and sign in there."""
        self.page.goto(f"{self.server.url}/{path}", timeout=60_000)
        sign_in(self.page, username, role)
        self.step(f"sign in as {username} at /{path}")
        self.expect(self.page.locator("h1").first).not_to_be_empty()

    def go(self, path: str, heading: str) -> None:
        """Open a page from the sidebar by its url path (its link's address; a reload would
        start a new session, signed out) and wait for its heading."""
        link = self.page.locator(f'{NAV_LINK}[href="{self.server.url}/{path}"]')
        if not link.is_visible():  # the page settled: the link is shown, or folded away
            self.page.locator(NAV_MORE).click()
        link.click()
        self.step(f"open /{path}")
        self.expect(self.page).to_have_url(re.compile(rf"^{re.escape(self.server.url)}/{path}"
                                                      r"(\?.*)?$"))
        self.expect(self.page.locator("h1").first).to_contain_text(heading)

    def click(self, locator, what: str) -> None:
        locator.click()
        self.step(what)

    def choose(self, key: str) -> str:
        """In the select box (or multiselect) with widget key ``key``, take the option after
        the one the list opens at, by keyboard as a person might (a pointer click on the
        list's options is flaky while it animates); returns the box's value after."""
        box = self.page.locator(f'.st-key-{key} input[role="combobox"]')
        box.click()
        box.press("ArrowDown")  # opens the list
        self.expect(self.page.locator(OPTION).first).to_be_visible()
        box.press("ArrowDown")
        box.press("Enter")
        box.press("Escape")  # a multiselect's list stays open otherwise
        self.step(f"choose in {key}")
        return box.input_value()

    def click_row(self, key: str, row: int = 0) -> None:
        """Select a row of the data frame with widget key ``key`` by its row marker (the grid
        is drawn on a canvas: a row is a position)."""
        grid = self.page.locator(f".st-key-{key} [data-testid='stDataFrameResizable']")
        self.expect(grid).to_be_visible()
        grid.click(position={"x": 18, "y": ROW_PX * (row + 1) + ROW_PX // 2})
        self.step(f"select row {row} of {key}")

    def finish(self) -> None:
        """The end-of-journey checks."""
        self.step("finish")
        output = self.server.output_since(self.mark)
        assert "Traceback" not in output, f"the server wrote a traceback:\n{output[-4000:]}"
        assert self.recorder.foreign == [], "requests to other hosts"
        assert self.recorder.console_errors == [], "console errors"

    def close(self) -> None:
        self.context.close()


# ── fixtures ─────────────────────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def churn_model_dir() -> Path | None:
    """A churn model folder for the app (a module overrides this to give one); None keeps the
    app on an empty folder, so no test server reads the developer's ``.data`` models."""
    return None


@pytest.fixture(scope="module")
def app_server(duck_mart: str, churn_model_dir: Path | None,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """One app per test module on the shared test mart, a fresh SQLite store, demo users."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    folder = tmp_path_factory.mktemp("browser")
    models = churn_model_dir if churn_model_dir is not None else folder / "no-models"
    # a module's model folder may come with the store its scores were written to
    store = models / "workflow.sqlite" if (models / "workflow.sqlite").exists() else \
        folder / "workflow.sqlite"
    try:
        with running_app(duck_mart, f"sqlite:///{store}",
                         folder / "server.log", model_dir=models) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def server(app_server: AppServer) -> str:
    """The app's base URL, ``http://127.0.0.1:<port>``."""
    return app_server.url


@pytest.fixture(scope="module")
def browser(app_server: AppServer):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


@pytest.fixture
def journey(app_server: AppServer, browser) -> Iterator[Journey]:
    """A fresh browser session on the module's app (close it to free the page)."""
    trip = Journey(app_server, browser)
    try:
        yield trip
    finally:
        trip.close()
