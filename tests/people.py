"""The people of the Python suites (tests/specklepy*, run by scripts/lib.sh's
run_specklepy_suite): someone who signs up in the browser and makes tokens in the New token
dialog, through the server functions the pages call, as a person would before handing a token
to a script. The server is already running at SPECKLE_URL."""

import os
import uuid
from urllib.parse import urlparse

import requests

URL = os.environ.get("SPECKLE_URL", "http://127.0.0.1:3000")
HOST = urlparse(URL).netloc
PASSWORD = "correct horse battery staple"


class Person:
    """Someone who signed up in the browser and makes tokens in the New token dialog."""

    def __init__(self, name):
        self.name = name
        self.email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
        self.browser = requests.Session()
        self.browser.headers.update({"Origin": URL, "Accept": "application/json"})
        answer = self.browser.post(
            f"{URL}/api/signup", data={"name": name, "email": self.email, "password": PASSWORD}
        )
        answer.raise_for_status()

    def token(self, scopes, name="script", expiration="30", streams=None):
        """A token with these scopes; with `streams` (`[(id, "read" | "write")]`) only for those
        streams, as the dialog's `Only selected streams` makes it (SPEC §12)."""
        form = [("name", name), ("expiration", expiration)]
        form += [(f"scopes[{i}]", scope) for i, scope in enumerate(scopes)]
        if streams:
            form.append(("reach", "selected"))
            form += [(f"streams[{i}]", stream) for i, (stream, _) in enumerate(streams)]
            form += [(f"levels[{i}]", f"{stream}:{level}") for i, (stream, level) in enumerate(streams)]
        answer = self.browser.post(f"{URL}/api/create_token", data=form)
        answer.raise_for_status()
        return answer.json()["secret"]
