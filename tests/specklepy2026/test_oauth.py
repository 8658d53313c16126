"""Apps the standard way (SPEC §11), as a third-party Python app gets its tokens: authlib
(pinned) runs the authorization code grant with PKCE S256 against a callback listening on a
random loopback port, the person answers on the real consent page in Chromium, and specklepy
then acts with the access token; a refresh, a revocation; and a command-line tool's device
grant, the person typing the code on /device; and the SDK's own test fixtures seeding a user.

The server is already running at SPECKLE_URL (scripts/lib.sh's run_specklepy_suite). The
person signs up through the web flow (tests/people.py); Chromium carries their session.
"""

import http.server
import os
import secrets
import sys
import threading
import time
import unittest
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.integrations.base_client.errors import OAuthError
from playwright.sync_api import expect, sync_playwright
from specklepy.api.client import SpeckleClient
from specklepy.api.enums import ProjectVisibility
from specklepy.api.inputs.project_inputs import ProjectCreateInput
from specklepy.logging import metrics
from specklepy.logging.exceptions import GraphQLException, SpeckleException

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from people import HOST, URL, Person  # noqa: E402

metrics.disable()  # no telemetry: nothing outside this machine is reachable
warnings.filterwarnings("ignore", category=DeprecationWarning)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCOPES = "streams:read streams:write profile:read"


class Callback(http.server.ThreadingHTTPServer):
    """The app's redirect URI: a listener on a random loopback port that keeps the URL of
    the first request to /callback and tells the person they may close the tab. Anything
    else (the browser asks for /favicon.ico after the page) is a 404 and is not kept."""

    def __init__(self):
        self.received = threading.Event()
        self.url = None
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if urlparse(self.path).path != "/callback":
                    self.send_error(404)
                    return
                if not outer.received.is_set():
                    outer.url = f"http://127.0.0.1:{outer.server_address[1]}{self.path}"
                    outer.received.set()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"Signed in: you can close this tab.")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def redirect_uri(self):
        return f"http://127.0.0.1:{self.server_address[1]}/callback"


def speckle(token):
    client = SpeckleClient(host=HOST, use_ssl=False)
    client.authenticate_with_token(token)
    return client


def works(token):
    """Whether specklepy gets the person with this token."""
    try:
        return speckle(token).active_user.get() is not None
    except (GraphQLException, SpeckleException):
        return False


class AppsTheStandardWay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.person = Person("Grace")
        # A developer registers a public desktop app, as the New app dialog does.
        developer = Person("Developer")
        form = [
            ("name", "Python Board"),
            ("description", "Shows projects."),
            ("redirect_urls", "http://127.0.0.1/callback"),
            ("public", "yes"),
        ] + [(f"scopes[{i}]", scope) for i, scope in enumerate(SCOPES.split())]
        answer = developer.browser.post(f"{URL}/api/create_app", data=form)
        answer.raise_for_status()
        cls.client_id = answer.json()["id"]

    def in_chromium(self, steps):
        """Runs `steps(page)` in Chromium, the person signed in (their session, as the sign-up
        set it). Chromium runs only for these steps: with Playwright's event loop running in this
        thread, specklepy hung when the server refused a token (seen here), so the two never
        run at once."""
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                context = chromium.new_context(base_url=URL)
                context.set_default_timeout(15_000)
                context.add_cookies(
                    [{"name": c.name, "value": c.value, "url": URL} for c in self.person.browser.cookies]
                )
                steps(context.new_page())
            finally:
                chromium.close()

    def test_code_with_pkce_through_the_consent_page_then_specklepy_refresh_and_revoke(self):
        callback = Callback()
        self.addCleanup(callback.shutdown)
        session = OAuth2Session(
            self.client_id,
            redirect_uri=callback.redirect_uri,
            scope=SCOPES,
            code_challenge_method="S256",
            token_endpoint_auth_method="none",
        )
        verifier = secrets.token_urlsafe(48)
        url, state = session.create_authorization_url(f"{URL}/oauth/authorize", code_verifier=verifier)

        def consent(page):
            page.goto(url)
            expect(page.get_by_role("heading", level=1, name="Authorize Python Board")).to_be_visible()
            expect(page.get_by_text("an app on this computer")).to_be_visible()
            expect(page.locator("html[data-hydrated]")).to_have_count(1)
            page.get_by_role("button", name="Authorize").click()
            self.assertTrue(callback.received.wait(15), "the app's callback was never called")

        self.in_chromium(consent)
        self.assertIn(f"state={state}", callback.url)

        token = session.fetch_token(
            f"{URL}/oauth/token", authorization_response=callback.url, code_verifier=verifier
        )
        self.assertEqual(token["token_type"], "Bearer")
        self.assertEqual(token["expires_in"], 3600)
        client = speckle(token["access_token"])
        self.assertEqual(client.active_user.get().name, "Grace")
        project = client.project.create(
            ProjectCreateInput(name="Made by an app", description=None, visibility=ProjectVisibility.PRIVATE)
        )
        self.assertEqual(project.name, "Made by an app")

        renewed = session.refresh_token(f"{URL}/oauth/token", refresh_token=token["refresh_token"])
        self.assertNotEqual(renewed["access_token"], token["access_token"])
        self.assertFalse(works(token["access_token"]), "a refresh ends the old access token")
        self.assertTrue(works(renewed["access_token"]))
        session.revoke_token(
            f"{URL}/oauth/revoke", token=renewed["refresh_token"], token_type_hint="refresh_token"
        )
        self.assertFalse(works(renewed["access_token"]), "revoking the refresh token ends the grant")

    def test_a_command_line_tool_gets_tokens_through_the_device_page(self):
        start = requests.post(
            # Less than the other test asks for, so that its consent page is still shown.
            f"{URL}/oauth/device_authorization",
            data={"client_id": self.client_id, "scope": "streams:read profile:read"},
        )
        start.raise_for_status()
        device = start.json()
        session = OAuth2Session(self.client_id, token_endpoint_auth_method="none")

        def poll():
            return session.fetch_token(
                f"{URL}/oauth/token",
                grant_type="urn:ietf:params:oauth:grant-type:device_code",
                device_code=device["device_code"],
            )

        polled_at = time.monotonic()
        with self.assertRaises(OAuthError) as pending:
            poll()
        self.assertEqual(pending.exception.error, "authorization_pending")

        def answer(page):
            page.goto(urlparse(device["verification_uri"]).path)
            expect(page.locator("html[data-hydrated]")).to_have_count(1)
            page.get_by_role("textbox", name="Code").fill(device["user_code"])
            page.get_by_role("button", name="Continue").click()
            expect(page.get_by_role("textbox", name="Code")).to_have_accessible_description("for Python Board")
            expect(page.locator("html[data-hydrated]")).to_have_count(1)
            page.get_by_role("button", name="Authorize").click()
            expect(page.get_by_role("status")).to_contain_text("may now act for you")

        self.in_chromium(answer)

        # The next poll waits its interval, as RFC 8628 asks.
        time.sleep(max(0, polled_at + device["interval"] + 0.2 - time.monotonic()))
        token = poll()
        self.assertEqual(speckle(token["access_token"]).active_user.get().name, "Grace")
        with self.assertRaises(OAuthError) as again:
            poll()
        self.assertEqual(again.exception.error, "invalid_grant", "a device code is exchanged once")


class SpecklesOwnFixtures(unittest.TestCase):
    def test_the_sdk_fixtures_seed_a_user_as_they_do_and_specklepy_uses_its_token(self):
        """specklepy's tests/integration/conftest.py `seed_user`, request for request."""
        seed = secrets.token_hex(16)
        user = {
            "email": f"{seed[0:7]}@example.org",
            "password": "$uper$3cr3tP@ss",
            "name": f"{seed[0:7]} Name",
            "company": "test spockle",
        }
        registered = requests.post(
            f"{URL}/auth/local/register?challenge=pyspeckletests", data=user, allow_redirects=False
        )
        self.assertTrue(registered.ok, registered.text)
        access_code = parse_qs(urlparse(registered.headers["location"]).query)["access_code"][0]
        tokens = requests.post(
            f"{URL}/auth/token",
            json={
                "appSecret": "spklwebapp",
                "appId": "spklwebapp",
                "accessCode": access_code,
                "challenge": "pyspeckletests",
            },
        )
        self.assertEqual(sorted(tokens.json()), ["refreshToken", "token"])
        client = speckle(tokens.json()["token"])
        me = client.active_user.get()
        self.assertEqual((me.name, me.company), (user["name"], "test spockle"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
