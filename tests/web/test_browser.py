"""The console's key flow in headless Chromium: sign in, compose, preview, publish, watch it go out."""
import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from crisiscast.core.domain import CHANNELS

pytestmark = pytest.mark.browser
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = os.environ.get("CRISISCAST_SCREENSHOTS")


@pytest.fixture
def live_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def page():
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is not installed at {CHROMIUM}; .ci/run installs it")
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        yield context.new_page()
        browser.close()


def shot(page, name):
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


def test_sign_in_compose_preview_publish_and_watch_delivery(page, live_server, users, subscribe, drain,
                                                            sandbox_client):
    from playwright.sync_api import expect

    subscribe("+15125551267", "+15125550188")
    page.goto(f"{live_server}/")
    page.fill("#username", "author")
    page.fill("#password", "correct horse battery")
    page.click("button:has-text('Sign in')")
    page.click("text=Write a new update")

    page.click("button:has-text('Preview')")
    expect(page.locator("text=Write a headline.")).to_be_visible(timeout=60_000)  # the form came back

    page.fill("#incident", "Fort Hood shooting response")
    page.select_option("#er_access", "open_delays")
    page.select_option("#operating_status", "limited")
    page.fill("#headline", "ER open with delays; blood donors needed")
    page.fill("#body", "Families: call 254-724-2111 for news. Donate blood at the Red Cross center on 1st Street. "
                       "Please keep the ER entrance clear for ambulances.")
    page.click("button:has-text('Preview')")
    # Each channel is one line until tapped open; what it carries is in the page all the same.
    assert "ER open with delays; blood donors needed" in page.locator("pre[data-channel=sms]").text_content()
    shot(page, "compose-preview.png")

    # A new form offers every configured channel, and the sandbox configures them all.
    page.click(f"button:has-text('Publish to {len(CHANNELS)} channels')")
    page.wait_for_url("**/updates/*")
    assert page.locator(".flash.success").inner_text().startswith("Published.")
    drain()
    # The page refreshes its deliveries by itself; no reload here.
    expect(page.locator("#deliveries .state-sent")).to_have_count(len(CHANNELS), timeout=60_000)
    shot(page, "update-status.png")
    assert len(sandbox_client.accepted("twilio")) == 2
    assert len(sandbox_client.accepted("x")) == 1
    assert len(sandbox_client.accepted("bluesky")) == 1


def test_the_dashboard_on_a_phone_fits_the_screen_and_says_how_recovery_is(page, live_server, users):
    """390x844, as on-call staff hold it: no sideways scrolling, and the recovery state in words."""
    from playwright.sync_api import expect

    sign_in_on_a_phone(page, live_server)
    expect(page.locator("#recovery-health")).to_be_visible(timeout=60_000)
    expect(page.locator("#recovery-health .narrow")).to_be_visible()  # the summary, not only a coloured pill
    assert_fits_a_phone(page)
    shot(page, "dashboard-phone.png")


def sign_in_on_a_phone(page, live_server) -> None:
    """Sign in as the author at 390x844, as on-call staff hold a phone."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server}/")
    page.fill("#username", "author")
    page.fill("#password", "correct horse battery")
    page.click("button:has-text('Sign in')")


def assert_fits_a_phone(page) -> None:
    """No sideways scrolling, and every header link and button a 44 px touch target."""
    # Measured after the load event: before the stylesheet arrives, the unstyled tables are 426 px wide.
    page.wait_for_load_state("load")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    heights = page.evaluate("[...document.querySelectorAll('header a, header button, main a.button, main button')]"
                            ".map(e => e.getBoundingClientRect().height)")
    assert heights and min(heights) >= 44, heights


def test_the_account_page_on_a_phone(page, live_server, users):
    """390x844: the header (with the account link) fits; a new password is refused, then taken, on the phone."""
    from playwright.sync_api import expect

    sign_in_on_a_phone(page, live_server)
    page.click("header a:has-text('author')")
    expect(page.locator("h1")).to_have_text("Your account")
    assert_fits_a_phone(page)
    page.fill("#current", "correct horse battery")
    page.fill("#password", "author password")
    page.click("button:has-text('Change password')")
    expect(page.locator(".field-error")).to_have_text("The password must not contain the username.")
    shot(page, "account-phone.png")
    page.fill("#current", "correct horse battery")
    page.fill("#password", "amber kettle violin")
    page.click("button:has-text('Change password')")
    expect(page.locator(".flash.success")).to_contain_text("Your password is changed.")
    page.click("button:has-text('Sign out everywhere')")
    expect(page.locator("h1")).to_have_text("Sign in")


def test_the_composer_saves_what_is_typed_and_brings_it_back_after_signing_in_again(page, live_server, users):
    from playwright.sync_api import expect

    page.goto(f"{live_server}/login")
    page.fill("#username", "author")
    page.fill("#password", "correct horse battery")
    page.click("button:has-text('Sign in')")
    page.goto(f"{live_server}/updates/new")
    page.fill("#headline", "ER on ambulance diversion")
    page.fill("#body", "Typed on a phone at 2 a.m.")
    expect(page.locator("#draft-status")).to_contain_text("Draft saved", timeout=60_000)

    page.context.clear_cookies()  # the session is gone: expired, or signed out in another tab
    page.goto(f"{live_server}/updates/new")
    page.fill("#username", "author")
    page.fill("#password", "correct horse battery")
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/updates/new")
    expect(page.locator("#headline")).to_have_value("ER on ambulance diversion")
    expect(page.locator("#body")).to_have_value("Typed on a phone at 2 a.m.")
