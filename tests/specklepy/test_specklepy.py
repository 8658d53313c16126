"""Speckle's own Python SDK (specklepy, stream era) against this server, as a user runs it.

The server is already running at SPECKLE_URL (scripts/lib.sh's run_specklepy_suite starts it
on a fresh database). People and their tokens are made through the real web flow (sign-up, then the
New token dialog's server function); everything after that goes through specklepy only.
"""

import re
import sys
import time
import unittest
import warnings
from pathlib import Path

from specklepy.api import operations
from specklepy.api.client import SpeckleClient
from specklepy.logging import metrics
from specklepy.logging.exceptions import GraphQLException, SpeckleException
from specklepy.objects import Base
from specklepy.transports.memory import MemoryTransport
from specklepy.transports.server import ServerTransport

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import people  # noqa: E402 (tests/people.py, shared by the Python suites)
from people import HOST  # noqa: E402

metrics.disable()  # no telemetry: nothing outside this machine is reachable
# `object.get` answers one object with references to its children, which specklepy then looks
# for in its local cache and warns about: that is the method's documented behaviour.
warnings.filterwarnings("ignore", message="Could not find the referenced child object")
# The `user` resource is deprecated in specklepy, still shipped, and tested here too.
warnings.filterwarnings("ignore", message="Call to deprecated method")

EVERYTHING = [
    "streams:read",
    "streams:write",
    "profile:read",
    "profile:write",
    "profile:email",
    "users:read",
    "tokens:read",
    "tokens:write",
]


class Person(people.Person):
    """A person whose tokens sign in a stream-era client."""

    def client(self, scopes):
        client = SpeckleClient(host=HOST, use_ssl=False)
        client.authenticate_with_token(self.token(scopes))
        return client


def ok(result):
    """specklepy answers errors as values: fail with them."""
    if isinstance(result, Exception):
        raise result
    return result


def a_tower(floors=12, number=0):
    """A nested object with everything the serializer does: children, detached children,
    a chunked list and a detached list. Towers of different numbers share no object."""
    tower = Base()
    tower.name = "Tower"
    tower.number = number
    tower.height = 48.5
    tower.tags = ["concrete", "steel"]
    tower["@chunked(100)"] = list(range(1000))
    tower["@floors"] = []
    for level in range(floors):
        floor = Base(speckle_type="Objects.BuiltElements.Floor")
        floor.level = level
        floor.area = 100.0 + level
        corners = [[0, 0], [10, 0], [10, 10], [0, 10]] + [[x / 8, 10.5] for x in range(160)]
        floor["@outline"] = Base(points=corners, level=level, tower=number)
        tower["@floors"].append(floor)
    tower.core = Base(kind="core", walls=[Base(thickness=0.3 + i / 100, tower=number) for i in range(3)])
    return tower


class SpecklepyStreamEra(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.alice = Person("Alice")
        cls.bob = Person("Bob")
        cls.client = cls.alice.client(EVERYTHING)
        cls.bob_client = cls.bob.client(["profile:read", "streams:read", "streams:write"])
        cls.bob_id = ok(cls.bob_client.active_user.get()).id

    def test_server_and_users(self):
        info = ok(self.client.server.get())
        self.assertEqual(info.name, "Speckle Tokens")
        self.assertGreaterEqual(self.client.server.version()[:3], (2, 6, 4))
        self.assertIn("streams:read", [scope["name"] for scope in info.scopes])
        # Listing the server's apps takes apps:read, as on Speckle's server.
        with self.assertRaises(GraphQLException) as refused:
            ok(self.client.server.apps())
        self.assertIn("apps:read", str(refused.exception))
        listed = {app["id"]: app for app in ok(self.alice.client(["profile:read", "apps:read"]).server.apps())}
        self.assertEqual(listed["explorer"]["name"], "Speckle Explorer")

        me = ok(self.client.active_user.get())
        self.assertEqual((me.name, me.email), ("Alice", self.alice.email))
        self.assertTrue(ok(self.client.active_user.update(bio="Builds towers", company="ACME")))
        me = ok(self.client.active_user.get())
        self.assertEqual((me.bio, me.company), ("Builds towers", "ACME"))

        bob = ok(self.client.other_user.get(self.bob_id))
        self.assertEqual(bob.name, "Bob")
        found = ok(self.client.other_user.search("Bob"))
        self.assertIn(self.bob_id, [user.id for user in found])
        self.assertEqual(ok(self.client.active_user.get_all_pending_invites()), [])

    def test_activity_is_recorded_and_favourites_are_kept(self):
        stream_id = ok(self.client.stream.create(name="Quiet", is_public=False))
        created = ok(self.client.stream.activity(stream_id))
        self.assertEqual((created.totalCount, created.items[0].actionType), (1, "stream_create"))
        # Her own activity, through both resources, has it; Bob, who may not read the stream,
        # does not see it in hers.
        alice_id = ok(self.client.active_user.get()).id
        for activity in (self.client.active_user.activity(), self.client.user.activity()):
            self.assertIn(stream_id, [a.streamId for a in ok(activity).items])
        seen_by_bob = ok(self.bob.client(["profile:read", "users:read"]).other_user.activity(alice_id)).items
        self.assertNotIn(stream_id, [a.streamId for a in seen_by_bob])
        self.assertIsNone(ok(self.client.active_user.get_pending_invite(stream_id)))
        # Favourites are kept.
        favourite = ok(self.client.stream.favorite(stream_id))
        self.assertEqual((favourite.id, favourite.favoritesCount), (stream_id, 1))
        self.assertIsNotNone(favourite.favoritedDate)
        unmarked = ok(self.client.stream.favorite(stream_id, False))
        self.assertEqual((unmarked.favoritedDate, unmarked.favoritesCount), (None, 0))
        # The deprecated `user` resource asks the same of the same fields.
        self.assertEqual(ok(self.client.user.get()).name, "Alice")
        self.assertIn(self.bob_id, [u.id for u in ok(self.client.user.search("bob"))])

    def test_streams_sharing_and_search(self):
        stream_id = ok(self.client.stream.create(name="Bridge", description="span", is_public=False))
        stream = ok(self.client.stream.get(stream_id))
        self.assertEqual((stream.name, stream.description, stream.isPublic), ("Bridge", "span", False))
        self.assertEqual(stream.role, "stream:owner")
        self.assertEqual([b.name for b in stream.branches.items], ["main"])
        self.assertIn(stream_id, [s.id for s in ok(self.client.stream.list())])

        self.assertTrue(ok(self.client.stream.update(stream_id, name="Bridge 2", is_public=True)))
        self.assertEqual(ok(self.client.stream.get(stream_id)).name, "Bridge 2")
        self.assertIn(stream_id, [s.id for s in ok(self.client.stream.search("bridge 2"))])

        self.assertTrue(ok(self.client.stream.update_permission(stream_id, self.bob_id, "stream:contributor")))
        roles = {c.id: c.role for c in ok(self.client.stream.get(stream_id)).collaborators}
        self.assertEqual(roles[self.bob_id], "stream:contributor")
        self.assertEqual(ok(self.bob_client.stream.get(stream_id)).role, "stream:contributor")
        self.assertTrue(ok(self.client.stream.revoke_permission(stream_id, self.bob_id)))
        self.assertEqual(ok(self.bob_client.stream.get(stream_id)).role, None)  # public: readable, no role

        self.assertEqual(ok(self.client.stream.get_all_pending_invites(stream_id)), [])
        # Each change was recorded, newest first.
        activity = ok(self.client.stream.activity(stream_id))
        self.assertEqual(
            [a.actionType for a in activity.items],
            ["stream_permissions_remove", "stream_permissions_add", "stream_update", "stream_create"],
        )
        self.assertEqual(activity.totalCount, 4)
        self.assertTrue(ok(self.client.stream.delete(stream_id)))
        self.assertIsInstance(self.client.stream.get(stream_id), GraphQLException)

    def test_branches(self):
        stream_id = ok(self.client.stream.create(name="Branchy"))
        branch_id = ok(self.client.branch.create(stream_id, "Feature/Walls", "the walls"))
        branch = ok(self.client.branch.get(stream_id, "feature/walls"))
        self.assertEqual((branch.id, branch.name, branch.description), (branch_id, "feature/walls", "the walls"))
        self.assertEqual(sorted(b.name for b in ok(self.client.branch.list(stream_id))), ["feature/walls", "main"])
        self.assertTrue(ok(self.client.branch.update(stream_id, branch_id, name="feature/roof")))
        self.assertEqual(ok(self.client.branch.get(stream_id, "feature/roof")).id, branch_id)
        # Speckle's rules on names; main stays.
        self.assertIsInstance(self.client.branch.create(stream_id, "#nope"), GraphQLException)
        main = ok(self.client.branch.get(stream_id, "main"))
        self.assertIsInstance(self.client.branch.delete(stream_id, main.id), GraphQLException)
        self.assertTrue(ok(self.client.branch.delete(stream_id, branch_id)))
        self.assertEqual([b.name for b in ok(self.client.branch.list(stream_id))], ["main"])

    def test_send_commit_and_receive_an_equal_object(self):
        stream_id = ok(self.client.stream.create(name="Objects", is_public=False))
        tower = a_tower()
        transport = ServerTransport(stream_id=stream_id, client=self.client)
        object_id = operations.send(tower, [transport], use_default_cache=False)

        commit_id = ok(
            self.client.commit.create(stream_id, object_id, "main", message="First tower", source_application="pytest")
        )
        commit = ok(self.client.commit.get(stream_id, commit_id))
        self.assertEqual((commit.referencedObject, commit.message, commit.branchName), (object_id, "First tower", "main"))
        self.assertEqual(commit.authorName, "Alice")
        self.assertEqual(commit.sourceApplication, "pytest")
        self.assertGreater(commit.totalChildrenCount, 12)
        self.assertEqual([c.id for c in ok(self.client.commit.list(stream_id))], [commit_id])
        self.assertTrue(ok(self.client.commit.update(stream_id, commit_id, "First tower, revised")))
        self.assertEqual(ok(self.client.commit.get(stream_id, commit_id)).message, "First tower, revised")
        self.assertTrue(ok(self.client.commit.received(stream_id, commit_id)))

        # Received into an empty local cache: every object comes from the server.
        received = operations.receive(object_id, transport, local_transport=MemoryTransport())
        self.assertEqual(received.get_id(decompose=True), object_id)
        self.assertEqual(received.name, "Tower")
        self.assertEqual(received["@chunked(100)"], list(range(1000)))
        self.assertEqual([f.level for f in received["@floors"]], list(range(12)))
        self.assertEqual(received["@floors"][3]["@outline"].points[2], [10, 10])
        self.assertEqual(len(received.core.walls), 3)

        # The same through a second client that only reads.
        reader = self.alice.client(["streams:read", "profile:read"])
        again = operations.receive(object_id, ServerTransport(stream_id, client=reader), MemoryTransport())
        self.assertEqual(again.get_id(decompose=True), object_id)

        fetched = ok(self.client.object.get(stream_id, object_id))
        self.assertEqual(fetched.name, "Tower")
        created = ok(self.client.object.create(stream_id, [{"id": "f" * 32, "speckle_type": "Base", "x": 1}]))
        self.assertEqual(created, ["f" * 32])

        branch = ok(self.client.branch.get(stream_id, "main"))
        self.assertEqual([c.id for c in branch.commits.items], [commit_id])
        self.assertTrue(ok(self.client.commit.delete(stream_id, commit_id)))
        self.assertEqual(ok(self.client.commit.list(stream_id)), [])

    def test_a_model_of_thousands_of_objects_in_several_batches(self):
        stream_id = ok(self.client.stream.create(name="Campus", is_public=False))
        campus = Base(name="Campus")
        campus["@buildings"] = [a_tower(floors=100, number=n) for n in range(10)]  # about 2,000 objects, several MB
        transport = ServerTransport(stream_id=stream_id, client=self.client)
        object_id = operations.send(campus, [transport], use_default_cache=False)
        self.assertTrue(ok(self.client.commit.create(stream_id, object_id, message="campus")))
        received = operations.receive(object_id, transport, local_transport=MemoryTransport())
        self.assertEqual(received.get_id(decompose=True), object_id)
        self.assertEqual(len(received["@buildings"]), 10)
        self.assertEqual(received["@buildings"][9]["@floors"][99].level, 99)
        commit = ok(self.client.commit.list(stream_id))[0]
        self.assertGreater(commit.totalChildrenCount, 2000)

    def test_a_read_only_token_cannot_send(self):
        stream_id = ok(self.client.stream.create(name="Guarded", is_public=False))
        reader = self.alice.client(["streams:read", "profile:read"])
        with self.assertRaises(Exception) as refused:
            operations.send(a_tower(2), [ServerTransport(stream_id, client=reader)], use_default_cache=False)
        self.assertRegex(str(refused.exception), r"403|Invalid credentials")
        # A stranger to a private stream cannot read it either.
        sent = operations.send(a_tower(2), [ServerTransport(stream_id, client=self.client)], use_default_cache=False)
        stranger = ServerTransport(stream_id, client=self.bob_client)
        with self.assertRaises(SpeckleException) as hidden:
            operations.receive(sent, stranger, MemoryTransport())
        self.assertIn("404", str(hidden.exception))

    def test_a_token_limited_to_one_stream_works_there_and_nowhere_else(self):
        chosen = ok(self.client.stream.create(name="Chosen", is_public=False))
        other = ok(self.client.stream.create(name="Other", is_public=False))
        limited = SpeckleClient(host=HOST, use_ssl=False)
        scopes = ["profile:read", "streams:read", "streams:write"]
        limited.authenticate_with_token(self.alice.token(scopes, name="one stream", streams=[(chosen, "write")]))
        self.assertEqual([s.id for s in ok(limited.stream.list())], [chosen])
        self.assertIsInstance(limited.stream.get(other), Exception)
        sent = operations.send(a_tower(2), [ServerTransport(chosen, client=limited)], use_default_cache=False)
        self.assertTrue(ok(limited.commit.create(chosen, sent, "main", message="from the job")))
        with self.assertRaises(Exception) as hidden:
            operations.send(a_tower(2), [ServerTransport(other, client=limited)], use_default_cache=False)
        self.assertIn("404", str(hidden.exception))
        refused = limited.stream.create(name="New")
        self.assertIsInstance(refused, Exception)
        self.assertIn("outside this token's streams", str(refused))

    def test_invitations_are_sent_listed_accepted_declined_and_cancelled(self):
        inviter = self.alice.client(EVERYTHING + ["users:invite"])
        dock, pier, jetty = (ok(inviter.stream.create(name=name, is_public=False)) for name in ("Dock", "Pier", "Jetty"))
        self.assertTrue(ok(inviter.stream.invite(dock, user_id=self.bob_id, role="stream:reviewer", message="Have a look")))
        self.assertTrue(ok(inviter.stream.invite(pier, email=self.bob.email)))
        self.assertTrue(ok(inviter.stream.invite_batch(jetty, emails=["later@example.com"])))
        pending = ok(inviter.stream.get_all_pending_invites(jetty))
        self.assertEqual([(p.title, p.token) for p in pending], [("later@example.com", None)])
        self.assertTrue(ok(inviter.stream.invite_cancel(jetty, pending[0].inviteId)))
        self.assertEqual(ok(inviter.stream.get_all_pending_invites(jetty)), [])
        # Inviting someone twice is refused, with why.
        twice = inviter.stream.invite(dock, user_id=self.bob_id)
        self.assertIsInstance(twice, GraphQLException)
        self.assertIn("already has a pending invitation", str(twice))

        bob = self.bob.client(["profile:read", "profile:write", "streams:read"])
        mine = {invite.streamName: invite for invite in ok(bob.active_user.get_all_pending_invites())}
        self.assertEqual(sorted(mine), ["Dock", "Pier"])
        self.assertEqual(mine["Dock"].invitedBy.name, "Alice")
        self.assertEqual(ok(bob.active_user.get_pending_invite(dock)).id, mine["Dock"].id)
        self.assertTrue(ok(bob.stream.invite_use(dock, mine["Dock"].token, accept=True)))
        self.assertTrue(ok(bob.stream.invite_use(pier, mine["Pier"].token, accept=False)))
        self.assertEqual(ok(bob.stream.get(dock)).role, "stream:reviewer")
        self.assertIsInstance(bob.stream.get(pier), GraphQLException)
        self.assertEqual(ok(bob.active_user.get_all_pending_invites()), [])

    def test_tokens_made_and_revoked_through_the_client(self):
        child = ok(self.client.server.create_token("child", ["profile:read", "streams:read"], 3_600_000))
        self.assertTrue(re.fullmatch(r"spk_[A-Za-z0-9]{36}", child))
        child_client = SpeckleClient(host=HOST, use_ssl=False)
        child_client.authenticate_with_token(child)
        self.assertEqual(ok(child_client.active_user.get()).name, "Alice")
        self.assertTrue(ok(self.client.server.revoke_token(child)))
        # Dead on the next request: the client cannot even sign in with it.
        with self.assertRaises(Exception) as refused:
            SpeckleClient(host=HOST, use_ssl=False).authenticate_with_token(child)
        self.assertIn("Your token is not valid.", str(refused.exception))
        self.assertIsInstance(child_client.stream.list(), SpeckleException)

    def test_a_token_for_the_next_nine_seconds(self):
        # Speckle takes any positive lifespan in milliseconds: a script may want a token that
        # lives only as long as one job.
        brief = ok(self.client.server.create_token("brief", ["profile:read"], 9001))
        brief_client = SpeckleClient(host=HOST, use_ssl=False)
        brief_client.authenticate_with_token(brief)
        self.assertEqual(ok(brief_client.active_user.get()).name, "Alice")
        time.sleep(10)
        with self.assertRaises(Exception) as refused:
            SpeckleClient(host=HOST, use_ssl=False).authenticate_with_token(brief)
        self.assertIn("Your token is not valid.", str(refused.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
