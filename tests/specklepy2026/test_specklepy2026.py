"""Today's Speckle SDK (specklepy 2026.9, the project era) against this server, as a new user
runs it after `pip install specklepy` (SPEC §10; issue 18, first part: signing in).

The server is already running at SPECKLE_URL (scripts/lib.sh's run_specklepy_suite starts it
on a fresh database). People and their tokens are made through the real web flow (sign-up,
then the New token dialog's server function); everything after that goes through specklepy.
"""

import sys
import unittest
from pathlib import Path

from specklepy.api.client import SpeckleClient
from specklepy.logging import metrics
from specklepy.logging.exceptions import GraphQLException, SpeckleException

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from people import HOST, URL, Person  # noqa: E402 (tests/people.py, shared by the Python suites)

metrics.disable()  # no telemetry: nothing outside this machine is reachable

class SignIn(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.alice = Person("Alice")
        cls.bob = Person("Bob")

    def test_a_token_from_the_profile_signs_in_and_reads_the_server_and_its_user(self):
        client = SpeckleClient(host=HOST, use_ssl=False)
        client.authenticate_with_token(self.alice.token(["profile:read", "profile:email", "users:read"]))
        self.assertEqual(client.account.userInfo.email, self.alice.email)
        self.assertEqual(client.account.userInfo.name, "Alice")

        info = client.server.get()
        self.assertEqual(info.name, "Speckle Tokens")
        self.assertIs(info.workspaces.workspaces_enabled, False)
        self.assertIn("streams:read", [scope["name"] for scope in info.scopes])
        self.assertGreaterEqual(client.server.version()[:3], (2, 6, 4))

        me = client.active_user.get()
        self.assertEqual((me.name, me.email), ("Alice", self.alice.email))
        bob_id = SpeckleClient(host=HOST, use_ssl=False)
        bob_id.authenticate_with_token(self.bob.token(["profile:read"]))
        bob = client.other_user.get(bob_id.account.userInfo.id)
        self.assertEqual(bob.name, "Bob")

    def test_a_revoked_token_no_longer_signs_in(self):
        secret = self.alice.token(["profile:read"], name="doomed")
        client = SpeckleClient(host=HOST, use_ssl=False)
        client.authenticate_with_token(secret)
        self.assertEqual(client.active_user.get().name, "Alice")
        listed = self.alice.browser.post(f"{URL}/api/list_tokens", data={"filter": "doomed"}).json()
        doomed = next(token for token in listed["rows"] if token["name"] == "doomed")
        self.alice.browser.post(f"{URL}/api/revoke_token", data={"id": doomed["id"]}).raise_for_status()
        with self.assertRaises((GraphQLException, SpeckleException)):
            SpeckleClient(host=HOST, use_ssl=False).authenticate_with_token(secret)


if __name__ == "__main__":
    unittest.main(verbosity=2)
