"""The browser side of bench/load.py: one signed-in session per user, each role's main journey
clicked ``rounds`` times, every click timed from the click to the page settled.

Playwright's async API drives every session from one event loop in one Chromium: a browser
context (a profile) per person, kept across rounds as a returning person's browser keeps the
app's scripts cached, and a new tab per round, so each round is its own Streamlit session
(``first_visits``: a new profile per round, as in the figures before 2026-12-07 08:00). A click
counts only when it causes a script run: the script state is seen to change, or (a run answered
within one task never shows "running": React draws the state once) the app's websocket brings
messages after the click. The time is taken in the page: a ``MutationObserver`` notes each
change of the page, and the first frame after the last change while settled (script not
running, no status widget, no stale element, an h1 drawn) marks the end; a 100 ms poll accepts
it once the page has stayed unchanged for ``_QUIET_MS`` (so a run that an ``st.rerun`` follows
is not cut short, and charts drawn after the run count). The first poll that finds the page
settled also marks when the browser was free again: drawing without a GPU can keep it busy
after the frame (the maps did for a second while they were WebGL). The selectors are the ones
tests/test_journeys.py keeps working; widgets are waited for before the clock starts.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import async_playwright

from tests.browser_support import (APP_IDLE, CHROMIUM, CHROMIUM_ARGS, EXCEPTION, NAV_LINK,
                                   NAV_MORE, OPTION, PASSWORD, ROW_PX, STALE, STATUS, VIEWPORT)

#: Whom each session signs in as, in the order sessions are added (N = 5 takes the first five).
USERS = [("exec", "executive"), ("analyst", "analyst"), ("rm_gongbei", "regional_manager"),
         ("channel_mgr", "channel_manager"), ("account_mgr", "account_manager"),
         ("marketer", "marketer"), ("admin", "administrator"),
         ("rm_xiangzhou", "regional_manager"), ("rm_doumen", "regional_manager"),
         ("rm_jinwan", "regional_manager")]
_QUIET_MS = 500
#: A click that started no script run within this many seconds is made again, once, as a
#: person would; its time still counts from the first click, and it is reported as repeated.
_NO_RUN_S = 15.0
#: Counts the messages the app's websocket brings (set before the page's own scripts run):
#: a run answered within one task never shows "running" in the page (React draws the
#: state once), but its messages still arrive.
_COUNT_WS = """(() => {
  const Native = window.WebSocket;
  window.__wsIn = 0;
  window.__wsLastAt = null;
  window.WebSocket = class extends Native {
    constructor(...args) { super(...args);
      this.addEventListener('message', () => {
        window.__wsIn += 1; window.__wsLastAt = performance.now(); }); }
  };
})();"""
#: Whether a run was seen since the click (``w`` is ``window.__load``).
_RAN_SINCE = "(w.runs.some(s => s !== 'notRunning') || (window.__wsIn || 0) > w.wsArm)"
_RAN = f"() => {{ const w = window.__load; return {_RAN_SINCE}; }}"
_WATCH = f"""() => {{
  if (window.__load) return;
  const w = window.__load = {{runs: [], changedAt: null, drawnAt: null, freeAt: null,
                              wsArm: 0}};
  w.settled = () => {{
    const app = document.querySelector('[data-testid="stApp"]');
    return !!(app && app.getAttribute('data-test-script-state') === 'notRunning'
      && !document.querySelector('{STATUS}, {STALE}') && document.querySelector('h1'));
  }};
  new MutationObserver(records => {{
    for (const r of records)
      if (r.attributeName === 'data-test-script-state')
        w.runs.push(r.target.getAttribute('data-test-script-state'));
    const at = w.changedAt = performance.now();
    w.drawnAt = w.freeAt = null;
    // the first frame drawn after the page's last change: its output is on screen
    if (w.settled())
      requestAnimationFrame(() => {{ if (w.changedAt === at) w.drawnAt = performance.now(); }});
  }}).observe(document.body, {{attributes: true, childList: true, subtree: true,
                              characterData: true}});
}}"""
_ARM = "() => { const w = window.__load; w.runs = []; w.changedAt = w.drawnAt = w.freeAt = " \
       "null; w.wsArm = window.__wsIn || 0; return performance.now(); }"
# Polled every 100 ms: settled once a run was seen (the script state, or the websocket's
# messages) and the page has not changed for _QUIET_MS since the frame after its last change.
# The first poll that finds it so runs once the browser is free again (drawing without a GPU
# can keep it busy after the first frame): ``freeAt``.
_SETTLED = f"""(until) => {{ const w = window.__load;
  if (!({_RAN_SINCE} && w.drawnAt !== null && w.settled() && (!until
        || document.querySelector(until)))) return false;
  if (w.freeAt === null) w.freeAt = performance.now();
  return performance.now() - w.drawnAt >= {_QUIET_MS}
    && [w.drawnAt, w.freeAt, window.__wsLastAt]; }}"""
#: A sign-in has settled only on the landing page (its sign-out button) or on a refusal (an
#: error under the form): between the run that checks the password and the run of the page it
#: switches to, a busy server can leave the form standing, quiet, for more than _QUIET_MS.
_SIGNED_IN_OR_REFUSED = '.st-key-logout, [data-testid="stAlertContentError"]'
# What the page looked like when a click never settled: which condition was missing.
_STATE = f"""() => {{ const w = window.__load || {{runs: []}};
  const app = document.querySelector('[data-testid="stApp"]');
  return [app ? app.getAttribute('data-test-script-state') : 'no app',
          (w.runs.join('>') || 'no run seen') + ', ' + ((window.__wsIn || 0) - (w.wsArm || 0))
            + ' messages', document.querySelectorAll('{STALE}').length,
          !!document.querySelector('{STATUS}'), !!document.querySelector('h1'),
          location.pathname, w.drawnAt !== null && w.drawnAt !== undefined].join(' | '); }}"""
_FORM_READY = f"() => document.querySelector('{APP_IDLE}') && " \
              "document.querySelector('input[aria-label^=\"Username\"]')"


@dataclass(frozen=True)
class Click:
    """One timed click: who, which step of which round, seconds to settled (None when it
    failed), what went wrong, how many exception elements the page then showed, seconds
    until the browser was free again after drawing (within the 100 ms poll), and seconds
    until the last message of the server's answer arrived (the server's part of the click,
    without the drawing after it; None when no message came)."""

    n: int
    user: str
    role: str
    round: int
    step: str
    seconds: float | None
    problem: str = ""
    exceptions: int = 0
    free_seconds: float | None = None
    repeated: bool = False
    answered_seconds: float | None = None
    #: seconds the page's main thread spent in tasks from the click until settled
    #: (Chromium's ``TaskDuration`` counter): the browser's own work for the click
    browser_task_seconds: float | None = None


def _timed_out(exc: BaseException) -> bool:
    return "Timeout" in type(exc).__name__ or "Timeout" in str(exc)[:80]


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [""])[0][:160]


class StepFailed(Exception):
    """A step could not be done or did not settle: the rest of that round is skipped."""


class Session:
    """One person's browser session for one round."""

    def __init__(self, page, base: str, n: int, user: str, role: str, round_: int,
                 timeout_s: float, clicks: list[Click], think_s: float = 0.0) -> None:
        self.page, self.base, self.n, self.user, self.role = page, base, n, user, role
        self.round, self.timeout_ms, self.clicks = round_, timeout_s * 1000, clicks
        self._cdp = None  # Chromium's DevTools session on the page, opened on first use
        self.think_s = think_s
        # the same pauses in every run of the benchmark, different for each person and round
        self._pauses = random.Random(f"{user}:{round_}")

    def pause_s(self) -> float:
        """Seconds this person reads the page (or types the password) before the next click:
        uniform in [0.5, 1.5] × ``think_s``; 0 when the benchmark clicks at once."""
        return self._pauses.uniform(0.5, 1.5) * self.think_s if self.think_s > 0 else 0.0

    async def open(self) -> float:
        """Load the sign-in page (not a click: returned, not recorded)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self.page.add_init_script(_COUNT_WS)
        await self.page.goto(f"{self.base}/", timeout=self.timeout_ms)
        await self.page.wait_for_function(_FORM_READY, timeout=self.timeout_ms, polling=100)
        await self.page.evaluate(_WATCH)
        return loop.time() - started

    async def timed(self, step: str, action: Callable[[], Awaitable[object]],
                    again: Callable[[], Awaitable[object]] | None = None,
                    until: str = "") -> None:
        """Run ``action`` (the click), wait until settled (and, given ``until``, a CSS
        selector, until the page shows it), record the click. When no script run started
        within ``_NO_RUN_S`` seconds the click is made again once (``again``, by default the
        same action). A thinking person first waits :meth:`pause_s` (not timed)."""
        if self.think_s > 0:
            await asyncio.sleep(self.pause_s())
        await self.page.evaluate(_WATCH)  # a no-op unless the document was replaced
        loop = asyncio.get_running_loop()
        tasks_before = await self._task_seconds()
        started = await self.page.evaluate(_ARM)
        deadline, repeated, ran = loop.time() + self.timeout_ms / 1000, False, False
        try:
            await action()
            while True:
                wait_s = deadline - loop.time()
                if not (repeated or ran):  # look again for a run after _NO_RUN_S
                    wait_s = min(wait_s, _NO_RUN_S)
                try:
                    handle = await self.page.wait_for_function(
                        _SETTLED, arg=until, timeout=max(wait_s, 0.1) * 1000, polling=100)
                    break
                except PlaywrightError as exc:
                    if repeated or ran or not _timed_out(exc) or loop.time() >= deadline:
                        raise
                    if await self.page.evaluate(_RAN):
                        ran = True  # it started: wait for it to the deadline
                    else:
                        repeated = True
                        await (again or action)()
            drawn, free, answered = await handle.json_value()
        except PlaywrightError as exc:
            timed_out = _timed_out(exc)
            problem = (f"did not settle within {self.timeout_ms / 1000:.0f} s" if timed_out
                       else _first_line(exc))
            if timed_out:
                try:  # script state | runs seen | stale elements | status widget | h1 | path | drawn
                    problem += f" [{await self.page.evaluate(_STATE)}]"
                except PlaywrightError:
                    pass
            if repeated:
                problem += " (made twice: the first started no script run)"
            self.clicks.append(self.clicked(step, None, problem))
            raise StepFailed(problem) from exc
        shown = await self.page.locator(EXCEPTION).count()
        answered = (min(answered, drawn) - started) / 1000 \
            if answered is not None and answered > started else None
        tasks = await self._task_seconds()
        self.clicks.append(self.clicked(
            step, (drawn - started) / 1000, "", shown, (free - started) / 1000, repeated,
            answered, None if None in (tasks, tasks_before) else tasks - tasks_before))

    async def _task_seconds(self) -> float | None:
        """The page's main-thread task seconds so far (Chromium's performance counters);
        None when they cannot be read."""
        try:
            if self._cdp is None:
                self._cdp = await self.page.context.new_cdp_session(self.page)
                await self._cdp.send("Performance.enable")
            metrics = (await self._cdp.send("Performance.getMetrics"))["metrics"]
        except PlaywrightError:
            return None
        return next((m["value"] for m in metrics if m["name"] == "TaskDuration"), None)

    def clicked(self, step: str, seconds: float | None, problem: str, shown: int = 0,
                free: float | None = None, repeated: bool = False,
                answered: float | None = None, tasks: float | None = None) -> Click:
        return Click(self.n, self.user, self.role, self.round, step, seconds, problem, shown,
                     free, repeated, answered, tasks)

    async def ready(self, locator, step: str):
        """The element the next click needs, visible (not timed); StepFailed otherwise."""
        try:
            await locator.wait_for(state="visible", timeout=min(self.timeout_ms, 60_000))
        except PlaywrightError as exc:
            self.clicks.append(self.clicked(step, None, "its widget never appeared"))
            raise StepFailed(step) from exc
        return locator

    async def sign_in(self) -> None:
        page = self.page
        await page.get_by_label("Username 用户名").fill(self.user)
        await page.get_by_label("Password 密码").fill(PASSWORD.format(role=self.role))
        await self.timed("sign in → landing page",
                         page.get_by_role("button", name="Sign in 登录").click,
                         until=_SIGNED_IN_OR_REFUSED)
        if not await page.locator(".st-key-logout").count():
            shown = await page.locator('[data-testid="stAlert"]').all_inner_texts()
            problem = f"not signed in at {page.url}" + (
                f" (the page said: {' / '.join(shown)[:160]})" if shown
                else " (no message on the page)")
            self.clicks.append(self.clicked("sign in → landing page", None, problem))
            raise StepFailed(problem)

    async def click(self, step: str, locator) -> None:
        await self.timed(step, (await self.ready(locator, step)).click)

    async def go(self, path: str) -> None:
        """Open a page from the sidebar by its url path."""
        step = f"open /{path} from the sidebar"
        link = self.page.locator(f'{NAV_LINK}[href="{self.base}/{path}"]')
        if not await link.is_visible() and await self.page.locator(NAV_MORE).is_visible():
            await self.page.locator(NAV_MORE).click()  # unfolds the menu: no script run
        await self.click(step, link)

    async def choose(self, key: str) -> None:
        """Take the next option of select box ``key`` by keyboard; Enter is the timed part."""
        step = f"choose in {key}"
        box = await self.ready(self.page.locator(f'.st-key-{key} input[role="combobox"]'), step)
        await box.click()
        await box.press("ArrowDown")
        await self.ready(self.page.locator(OPTION).first, step)
        await box.press("ArrowDown")

        async def once_more() -> None:  # the list closed: open it and take the next again
            await box.click()
            await box.press("ArrowDown")
            await self.ready(self.page.locator(OPTION).first, step)
            await box.press("ArrowDown")
            await box.press("Enter")

        await self.timed(step, lambda: box.press("Enter"), once_more)

    async def click_row(self, selector: str, step: str) -> None:
        """Select the first row of the data frame inside ``selector`` (a canvas: a position)."""
        grid = await self.ready(self.page.locator(
            f"{selector} [data-testid='stDataFrameResizable']").first, step)
        await self.timed(step, lambda: grid.click(position={"x": 18, "y": ROW_PX * 1.5}))


async def _executive(s: Session) -> None:
    page = s.page
    cards = '[class*="st-key-sandbox_card_"] button'
    off = page.locator('[data-testid="stColumn"]').filter(has_text="off target").locator(cards)
    await s.ready(page.locator(cards).first, "a KPI card")
    await s.click("KPI card", off.first if await off.count() else page.locator(cards).first)
    await s.click_row('[class*="st-key-sandbox_table_0_"]', "drill: first row")
    await s.click("drill: subscriber rows", page.locator(
        '[class*="st-key-sandbox_level_1"] button').filter(has_text="subscribers"))


async def _analyst(s: Session) -> None:
    await s.choose("diagnosis_template")
    await s.click("run the template", s.page.locator(".st-key-diagnosis_run button"))
    await s.go("alerts")


async def _regional_manager(s: Session) -> None:
    await s.choose("micro_kpi")
    await s.click("drill: another breakdown",
                  s.page.locator('[class*="st-key-micro_level_0"] button').nth(1))
    await s.go("alerts")


async def _channel_manager(s: Session) -> None:
    # Only the open tab runs (pages.common.tabs): opening the channel view is a script run.
    await s.click("open the channel view tab", s.page.get_by_role("tab", name="Channel view"))
    await s.choose("channels_pick")
    await s.go("alerts")
    await s.click("alerts: all", s.page.locator(".st-key-alerts_status button").filter(
        has_text=re.compile(r"^all$")))


async def _account_manager(s: Session) -> None:
    # Lands on enterprise groups (its portfolio); the customer value lists are a page away.
    await s.go("value")
    await s.click("window: 6 months", s.page.locator(".st-key-value_months button").filter(
        has_text=re.compile(r"^6$")))
    await s.click("the other customer list", s.page.locator(".st-key-value_list label").filter(
        has_text="Duplicate benefits"))
    await s.go("churn")


async def _marketer(s: Session) -> None:
    await s.choose("campaigns_pick")
    await s.go("calendar")
    await s.click("calendar: month view", s.page.locator(".st-key-calendar_view button").filter(
        has_text=re.compile(r"^month$")))


async def _administrator(s: Session) -> None:
    await s.go("alerts")
    await s.click("alerts: all", s.page.locator(".st-key-alerts_status button").filter(
        has_text=re.compile(r"^all$")))
    await s.go("admin")


JOURNEYS: dict[str, Callable[[Session], Awaitable[None]]] = {
    "executive": _executive, "analyst": _analyst, "regional_manager": _regional_manager,
    "channel_manager": _channel_manager, "account_manager": _account_manager,
    "marketer": _marketer, "administrator": _administrator}


async def _person(browser, base: str, n: int, user: str, role: str, rounds: int,
                  timeout_s: float, barrier: asyncio.Barrier, clicks: list[Click],
                  opens: list[float], think_s: float, first_visits: bool) -> None:
    """One person's rounds. Each round is a new tab (a new Streamlit session, so a new
    sign-in); the person keeps their browser profile, and with it the app's scripts cached,
    from round to round, as someone who used the app yesterday does (round 1 is the first
    visit). With ``first_visits`` every round starts in a new profile, caches empty."""
    profile = None
    try:
        for round_ in range(rounds):
            page, step = None, "open the sign-in page"
            try:
                try:
                    if profile is None or first_visits:
                        if profile is not None:
                            await profile.close()
                        profile = await browser.new_context(viewport=VIEWPORT)
                    page = await profile.new_page()
                    session = Session(page, base, n, user, role, round_, timeout_s, clicks,
                                      think_s)
                    opens.append(await session.open())
                finally:
                    if round_ == 0:
                        await barrier.wait()  # everyone starts together, even after a failure
                step = "(the journey, between clicks)"
                await session.sign_in()
                await JOURNEYS[role](session)
            except StepFailed:
                pass  # recorded; the next round starts afresh
            except Exception as exc:  # anything else ends this round, reported with the clicks
                clicks.append(Click(n, user, role, round_, step, None,
                                    f"{type(exc).__name__}: {_first_line(exc)}"))
            finally:
                if page is not None:
                    await page.close()
    finally:
        if profile is not None:
            await profile.close()


async def _drive(base: str, users: list[tuple[str, str]], rounds: int, timeout_s: float,
                 think_s: float, first_visits: bool) -> tuple[list[Click], list[float]]:
    clicks: list[Click] = []
    opens: list[float] = []
    n = len(users)
    barrier = asyncio.Barrier(n)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            await asyncio.gather(*(_person(browser, base, n, user, role, rounds, timeout_s,
                                           barrier, clicks, opens, think_s, first_visits)
                                   for user, role in users))
        finally:
            await browser.close()
    return clicks, opens


def drive_sessions(base: str, users: list[tuple[str, str]], rounds: int, timeout_s: float,
                   think_s: float = 0.0, first_visits: bool = False
                   ) -> tuple[list[Click], list[float]]:
    """Run one session per (username, role) at once against the app at ``base``: every click,
    and the seconds each sign-in page took to load. With ``think_s`` each person pauses
    before every click (see :meth:`Session.pause_s`); with 0 they click as soon as the page
    settled. With ``first_visits`` each round starts in a new browser profile (see
    :func:`_person`)."""
    return asyncio.run(_drive(base, users, rounds, timeout_s, think_s, first_visits))
