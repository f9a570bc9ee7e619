"""Approving on a phone (390×844, headless Chromium): the approver's text arrives through the sandbox, its link
opens the request (through sign-in when signed out, straight back), and approving takes at most 3 interactions
from the link; the request pages fit 390 px with 44 px targets and no serious axe-core violation."""
import re

import pytest

from tests.conftest import PASSWORD
from tests.support.approvals import make_approver
from tests.web.test_browser import live_server  # noqa: F401 (a fixture)
from tests.web.test_console import compose_form, preview_then_publish
from tests.web.test_console_phone import AXE, PHONE, Interactions, audit_page, browser  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser
MAX_INTERACTIONS = 3


@pytest.fixture
def settings(settings):
    return settings.replace(APPROVAL_REQUIRED=True)


@pytest.fixture
def texted_link(app, db, users, subscribe, drain, sandbox_client):
    """An author's request through the console; the path of the link the sandbox got in the approver's text."""
    approver = make_approver(db, "ic", PASSWORD)
    approver.phone = "+15125551201"
    db.commit()
    subscribe("+15125551267")
    client = app.test_client()
    client.post("/login", data={"username": "author", "password": PASSWORD,
                                "csrf_token": _token(client.get("/login").get_data(as_text=True))})
    preview_then_publish(client, compose_form(client))
    drain()
    [text] = [m for m in sandbox_client.accepted("twilio") if m["to"] == "+15125551201"]
    return "/approvals/" + text["body"].rsplit("/approvals/", 1)[1]


def _token(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def approve_from_the_link(page, url: str, link: str) -> Interactions:
    """Open the texted link signed in, and approve; the interactions are counted from the link."""
    act = Interactions(page, touch=True)
    page.goto(f"{url}{link}")
    act.tap("#approve")
    page.wait_for_url(re.compile(r".*/updates/\d+(#.*)?$"))
    return act


def test_the_texted_link_approves_on_a_phone_in_three_interactions(browser, live_server, texted_link, drain,  # noqa: F811
                                                                   sandbox_client, db):
    from playwright.sync_api import expect

    page = browser.new_context(**PHONE).new_page()
    # Signed out (a new phone, an ended session): the link signs in, then comes straight back to the request.
    page.goto(f"{live_server}{texted_link}")
    page.fill("#username", "ic")
    page.fill("#password", PASSWORD)
    page.tap("button:has-text('Sign in')")
    page.wait_for_url(re.compile(rf"^{re.escape(live_server + texted_link)}\??$"))
    # Signed in, as an on-call approver is: from the link to approved.
    act = approve_from_the_link(page, live_server, texted_link)
    assert act.count <= MAX_INTERACTIONS, act.log
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    drain()
    expect(page.locator("#release-approved")).to_contain_text("Approved by ic", timeout=60_000)
    subscribers = [m for m in sandbox_client.accepted("twilio") if m["to"] == "+15125551267"]
    assert len(subscribers) == 1 and len(sandbox_client.accepted("x")) == 1


def test_the_approval_pages_fit_a_phone_with_no_serious_axe_violation(browser, live_server, texted_link):  # noqa: F811
    if not AXE.exists():
        pytest.skip(f"axe-core is not installed at {AXE}: run npm ci --prefix .ci/node")
    page = browser.new_context(**PHONE, bypass_csp=True).new_page()
    page.goto(f"{live_server}/login?next={texted_link}")
    page.fill("#username", "ic")
    page.fill("#password", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(re.compile(rf"^{re.escape(live_server + texted_link)}\??$"))
    failures = []
    for path in ("/", "/approvals", texted_link):  # the banner, the list, the request with Approve and Reject
        failures += audit_page(page, live_server, path)
    assert failures == [], "\n".join(failures)
