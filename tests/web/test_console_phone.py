"""The console on a phone, in headless Chromium: from the sign-in page to every channel sent in at most six
interactions, the same on a desktop, and every console and public page fitting 390 px with no serious or
critical axe-core violation."""
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from crisiscast.store.models import utcnow
from tests.conftest import PASSWORD
from tests.support import approvals
from tests.web.test_browser import CHROMIUM, live_server  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / ".ci/node/node_modules/axe-core/axe.min.js"
DOCS = os.environ.get("CRISISCAST_DOCS_SCREENSHOTS")  # set to docs/ to refresh the README's phone screenshots
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True, "device_scale_factor": 2}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
MAX_INTERACTIONS = 6


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is not installed at {CHROMIUM}; .ci/run installs it")
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield launched
        launched.close()


class Interactions:
    """What a person does, counted: a tap, a fill, a select, and a scroll when the target is off screen."""

    def __init__(self, page, touch: bool):
        self.page, self.touch, self.log = page, touch, []

    @property
    def count(self) -> int:
        return len(self.log)

    def _reach(self, selector: str):
        target = self.page.locator(selector).first
        target.wait_for(state="visible", timeout=60_000)
        if not self._on_screen(target):
            self.log.append(f"scroll to {selector}")
            target.scroll_into_view_if_needed()
        return target

    def _on_screen(self, target) -> bool:
        box, size = target.bounding_box(), self.page.viewport_size
        return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= size["height"] \
            and box["x"] >= 0 and box["x"] + box["width"] <= size["width"]

    def tap(self, selector: str) -> None:
        target = self._reach(selector)
        self.log.append(f"tap {selector}")
        target.tap() if self.touch else target.click()

    def fill(self, selector: str, value: str) -> None:
        target = self._reach(selector)
        self.log.append(f"fill {selector}")
        target.fill(value)

    def select(self, selector: str, value: str) -> None:
        target = self._reach(selector)
        self.log.append(f"select {selector}")
        target.select_option(value)


def shot(page, name: str) -> None:
    if DOCS:
        Path(DOCS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(DOCS) / name))


def template_to_every_channel(page, url: str, touch: bool, drain, shots: str = "") -> Interactions:
    """Sign in, pick "ER on ambulance diversion", fill its place, publish to all four channels, see them sent."""
    from playwright.sync_api import expect

    act = Interactions(page, touch)
    page.goto(f"{url}/login")
    act.fill("#username", "author")
    act.fill("#password", PASSWORD)
    act.tap("button:has-text('Sign in')")
    if shots:
        page.locator("a.template").first.wait_for(state="visible", timeout=60_000)
        shot(page, f"{shots}-1-dashboard.png")
    act.tap("a.template:has-text('ER on ambulance diversion')")
    act.fill("#ph_place", "Metroplex Hospital")
    publish = page.locator("#publish")
    expect(publish).to_have_text("Publish to 4 channels · 2 texts", timeout=60_000)  # the preview came in place
    assert "Metroplex Hospital" in page.locator("pre[data-channel=sms]").text_content()
    shots and shot(page, f"{shots}-2-preview.png")
    act.tap("#publish")
    page.wait_for_url(re.compile(r".*/updates/\d+(#.*)?$"))
    drain()
    expect(page.locator("#deliveries .state-sent")).to_have_count(4, timeout=60_000)  # it refreshes by itself
    shots and shot(page, f"{shots}-3-sent.png")
    for card in page.locator("#deliveries .channel-card h3").all():
        assert act._on_screen(card), "every channel's state is on screen without scrolling"
    shots and shot(page, f"{shots}-3-sent.png")
    return act


def test_phone_from_sign_in_to_every_channel_sent_in_six_interactions(browser, live_server, users, subscribe,
                                                                      drain, sandbox_client):
    subscribe("+15125551267", "+15125550188")
    page = browser.new_context(**PHONE).new_page()
    act = template_to_every_channel(page, live_server, touch=True, drain=drain, shots="phone")
    assert act.count <= MAX_INTERACTIONS, act.log
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert len(sandbox_client.accepted("twilio")) == 2 and len(sandbox_client.accepted("x")) == 1


def test_desktop_from_sign_in_to_every_channel_sent_in_six_interactions(browser, live_server, users, subscribe,
                                                                        drain, sandbox_client):
    subscribe("+15125551267", "+15125550188")
    page = browser.new_context(**DESKTOP).new_page()
    act = template_to_every_channel(page, live_server, touch=False, drain=drain)
    assert act.count <= MAX_INTERACTIONS, act.log
    assert [m["body"].count("Metroplex Hospital") for m in sandbox_client.accepted("twilio")] == [1, 1]


def test_a_failed_channel_shows_its_reason_and_retry_on_a_phone(browser, live_server, users, publish, drain,
                                                                sandbox_client):
    from playwright.sync_api import expect

    sandbox_client.configure(script={"x": ["permanent"]})
    update = publish(channels=("x", "feed"))
    drain()
    page = browser.new_context(**PHONE).new_page()
    sign_in(page, live_server, f"/updates/{update.id}")
    card = page.locator("#deliveries [data-channel=x]")
    expect(card.locator(".state-failed")).to_be_visible(timeout=60_000)
    act = Interactions(page, touch=True)
    assert act._on_screen(card.locator(".field-error")) and act._on_screen(card.locator("button"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def sign_in(page, url: str, then: str) -> None:
    page.goto(f"{url}/login?next={then}")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{url}{then}")


def test_every_console_and_public_page_fits_390_px_with_no_serious_axe_violation(
        browser, live_server, users, subscribe, publish, drain, db, runtime):
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{AXE} is missing; .ci/run installs it (npm ci --prefix .ci/node)")
        pytest.skip(f"axe-core is not installed at {AXE}: run npm ci --prefix .ci/node")
    subscribe("+15125551267")
    subscribe("+15125551268", "+15005550001", lists=("drill",))  # a drill with a failure, for its report
    drill = publish(channels=("sms", "x", "feed"), lists=("drill",), exercise=True, headline="Evacuation drill")
    # its promise is past: every console page carries the overdue alarm, which must fit and pass too (a drill
    # published after it neither keeps nor clears it)
    update = publish(channels=("sms", "feed"), lists=("public",), next_update_at=utcnow() - timedelta(minutes=1))
    drain()
    request = approvals.ask(db, runtime.settings, users["author"])  # tests/web/test_approval_phone.py: as approver
    page = browser.new_context(**PHONE, bypass_csp=True).new_page()  # axe is injected as a script
    pages = ["/login"]
    failures = audit_page(page, live_server, "/login")
    sign_in(page, live_server, "/")
    pages += ["/", "/account", "/updates/new", "/updates/new?template=1", f"/updates/{update.id}", "/subscribers/",
              "/audit",
              "/admin/users", "/admin/templates", "/admin/templates/1", "/status", f"/u/{update.uid}",
              f"/updates/{update.id}/hics-213", f"/incidents/{update.incident_id}/hics-214",
              "/approvals", f"/approvals/{request.id}",
              f"/updates/{drill.id}", f"/updates/{drill.id}/drill-report", f"/updates/{update.id}/drill-report"]
    for path in pages[1:]:
        failures += audit_page(page, live_server, path)
        assert path.startswith(("/status", "/u/")) or page.locator("#overdue-alarm").count() == 1, path
    assert failures == [], "\n".join(failures)


# Controls a thumb must hit (links inside a sentence are exempt, as in WCAG 2.5.8).
TARGETS = ("button, select, input[type=text], input[type=password], input[type=time], a.button, summary, "
           "label:has(input[type=checkbox]), header.top a, .small-links a")
SMALL_TARGETS = """[...document.querySelectorAll('%s')]
  .filter(e => e.offsetParent !== null)
  .filter(e => { const r = e.getBoundingClientRect(); return r.height < 44 || r.width < 44; })
  .map(e => e.outerHTML.slice(0, 60))""" % TARGETS


def audit_page(page, url: str, path: str) -> list[str]:
    """Load `path` and return what overflows 390 px and axe-core's serious and critical violations."""
    response = page.goto(f"{url}{path}")
    assert response.status == 200, path
    problems = []
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > 390:
        problems.append(f"{path}: {width} px wide")
    small = page.evaluate(SMALL_TARGETS)
    if small:
        problems.append(f"{path}: tap targets under 44 px: {small}")
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("axe.run(document).then(r => r.violations.filter("
                               "v => ['serious', 'critical'].includes(v.impact)).map("
                               "v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', ')))")
    return problems + [f"{path}: {v}" for v in violations]


def test_without_script_the_preview_posts_and_comes_back_at_the_preview(browser, live_server, users, subscribe,
                                                                          drain):
    from playwright.sync_api import expect

    subscribe("+15125551267")
    page = browser.new_context(**PHONE, java_script_enabled=False).new_page()
    sign_in(page, live_server, "/updates/new?template=1")
    page.fill("#ph_place", "Metroplex Hospital")
    page.tap("#publish-bar button[value=preview]")
    expect(page.locator("#publish")).to_have_text("Publish to 4 channels · 1 text")
    assert page.url.endswith("#preview") and page.evaluate("window.scrollY") > 0  # not back at the top
    page.tap("#publish")
    page.wait_for_url(re.compile(r".*/updates/\d+(#.*)?$"))
    drain()
    page.reload()
    expect(page.locator("#deliveries .state-sent")).to_have_count(4)


def test_a_retraction_and_its_deliveries_fit_a_phone(browser, live_server, users, subscribe, publish, drain, db):
    """The retract form (with its notice tick) before, and the delete and notice cards after, at 390 px."""
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{AXE} is missing; .ci/run installs it (npm ci --prefix .ci/node)")
        pytest.skip(f"axe-core is not installed at {AXE}: run npm ci --prefix .ci/node")
    subscribe("+15125551267")
    update = publish(channels=("sms", "x", "facebook", "feed"), lists=("public",))
    drain()
    page = browser.new_context(**PHONE, bypass_csp=True).new_page()
    sign_in(page, live_server, f"/updates/{update.id}")
    failures = audit_page(page, live_server, f"/updates/{update.id}")
    page.fill("input[name=reason]", "Sent in error")
    page.check("input[name=text_recipients]")
    page.click("button:has-text('Retract')")
    drain()
    failures += audit_page(page, live_server, f"/updates/{update.id}")
    assert "X: delete the post" in page.content() and "SMS: retraction notice" in page.content()
    failures += audit_page(page, live_server, f"/u/{update.uid}")
    assert failures == [], "\n".join(failures)


def test_on_a_phone_the_promise_takes_one_tap_and_no_further_updates_one_more(browser, live_server, users,
                                                                                 subscribe):
    """+30 min from a template's form: one tap, the clock time filled, every channel's preview saying it; then
    "No further updates planned" instead: the time cleared, one tick. The promise fieldset passes the audit."""
    from playwright.sync_api import expect

    subscribe("+15125551267")
    page = browser.new_context(**PHONE, bypass_csp=True).new_page()
    sign_in(page, live_server, "/updates/new?template=1")
    page.fill("#ph_place", "Metroplex Hospital")
    act = Interactions(page, touch=True)
    act.tap("button.quick[value='30']")
    page.wait_for_url(re.compile(r".*#promise$"))
    typed = page.locator("#next_at").input_value()
    assert re.fullmatch(r"\d\d:\d\d", typed)
    expect(page.locator("pre[data-channel=sms]")).to_contain_text(f"Next update by {typed} UTC.")
    expect(page.locator("pre[data-channel=x]")).to_contain_text(f"Next update by {typed} UTC.")
    assert act.count <= 2, act.log  # the tap, and at most a scroll to reach it
    page.locator("#next_at").fill("")
    act.tap("label:has(input[name=no_further_updates])")
    expect(page.locator("pre[data-channel=sms]")).to_contain_text("No further updates planned.")
    if AXE.exists():
        assert audit_page(page, live_server, "/updates/new?template=1") == []
