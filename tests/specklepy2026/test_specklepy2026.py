"""Today's Speckle SDK (specklepy 2026.9, the project era) against this server, as a new user
runs it after `pip install specklepy` (SPEC §10): signing in, the server and its users,
projects, models and versions, real objects through `ServerTransport`.

The server is already running at SPECKLE_URL (scripts/lib.sh's run_specklepy_suite starts it
on a fresh database). People and their tokens are made through the real web flow (sign-up,
then the New token dialog's server function); everything after that goes through specklepy.
"""

import asyncio
import os
import sys
import unittest
import warnings
from pathlib import Path
from urllib.parse import urlparse

from specklepy.api import operations
from specklepy.api.client import SpeckleClient
from specklepy.api.enums import (
    ProjectModelsUpdatedMessageType,
    ProjectUpdatedMessageType,
    ProjectVersionsUpdatedMessageType,
    ProjectVisibility,
    UserProjectsUpdatedMessageType,
)
from specklepy.api.inputs.model_inputs import (
    CreateModelInput,
    DeleteModelInput,
    ModelVersionsFilter,
    UpdateModelInput,
)
from specklepy.api.inputs.project_inputs import (
    ProjectCreateInput,
    ProjectInviteCreateInput,
    ProjectInviteUseInput,
    ProjectModelsFilter,
    ProjectUpdateInput,
    ProjectUpdateRoleInput,
)
from specklepy.api.inputs.project_inputs import WorkspaceProjectCreateInput
from specklepy.api.inputs.user_inputs import UserProjectsFilter, UserUpdateInput
from specklepy.api.inputs.version_inputs import (
    CreateVersionInput,
    DeleteVersionsInput,
    MarkReceivedVersionInput,
    MoveVersionsInput,
    UpdateVersionInput,
)
from specklepy.logging import metrics
from specklepy.logging.exceptions import GraphQLException, SpeckleException
from specklepy.objects import Base
from specklepy.transports.memory import MemoryTransport
from specklepy.transports.server import ServerTransport

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from people import HOST, URL, Person  # noqa: E402 (tests/people.py, shared by the Python suites)

metrics.disable()  # no telemetry: nothing outside this machine is reachable
warnings.filterwarnings("ignore", category=DeprecationWarning)  # ServerTransport, version.create

# A second server on the same database, for the live updates (on PostgreSQL: scripts/lib.sh
# starts one); on SQLite, events are in-process, so both sides use the one server.
OTHER_HOST = urlparse(os.environ.get("SPECKLE_OTHER_URL", URL)).netloc

EVERYTHING = ["streams:read", "streams:write", "profile:read", "profile:write", "profile:email", "users:read"]


def signed_in(person, scopes=EVERYTHING):
    client = SpeckleClient(host=HOST, use_ssl=False)
    client.authenticate_with_token(person.token(scopes))
    return client


def a_building(floors):
    """A small model with detached children, as a connector sends one."""
    building = Base()
    building["name"] = "Building"
    floors_ = []
    for level in range(floors):
        floor = Base()
        floor["level"] = level
        floor["area"] = 100.0 + level
        floors_.append(floor)
    building["@floors"] = floors_
    core = Base()
    core["kind"] = "core"
    building["core"] = core
    return building


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
        found = client.other_user.user_search("Bob", limit=10)
        self.assertIn(bob.id, [user.id for user in found.items])
        # Asked of the token: this one may not create projects, one with streams:write may.
        self.assertFalse(client.active_user.can_create_personal_projects().authorized)
        self.assertTrue(signed_in(self.alice).active_user.can_create_personal_projects().authorized)

    def test_workspaces_are_not_enabled_and_each_of_their_calls_says_so(self):
        client = signed_in(self.alice)
        calls = (
            client.active_user.get_workspaces,
            client.active_user.get_active_workspace,
            lambda: client.project.create_in_workspace(
                WorkspaceProjectCreateInput(name="W", description=None, visibility=None, workspaceId="w")
            ),
        )
        for call in calls:
            with self.assertRaises((GraphQLException, SpeckleException)) as refused:
                call()
            self.assertIn("Workspaces are not enabled", str(refused.exception))

    def test_a_token_made_through_the_client_works_until_it_is_revoked(self):
        client = signed_in(self.alice, ["profile:read", "streams:read", "tokens:write"])
        # Listing the server's apps takes apps:read, as on Speckle's server.
        with self.assertRaises(GraphQLException) as refused:
            client.server.apps()
        self.assertIn("apps:read", str(refused.exception))
        listed = {app["id"]: app for app in signed_in(self.alice, ["profile:read", "apps:read"]).server.apps()}
        self.assertEqual(listed["explorer"]["name"], "Speckle Explorer")
        self.assertFalse(listed["explorer"]["trustByDefault"])
        # A subset of the maker's scopes, for as long as one job.
        child = client.server.create_token("job", ["profile:read"], 9001)
        child_client = SpeckleClient(host=HOST, use_ssl=False)
        child_client.authenticate_with_token(child)
        self.assertEqual(child_client.active_user.get().name, "Alice")
        with self.assertRaises(GraphQLException):
            client.server.create_token("wider", ["streams:write"], 3_600_000)
        self.assertTrue(client.server.revoke_token(child))
        with self.assertRaises((GraphQLException, SpeckleException)):
            SpeckleClient(host=HOST, use_ssl=False).authenticate_with_token(child)

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


class Projects(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.alice = Person("Alice")
        cls.bob = Person("Bob")
        cls.client = signed_in(cls.alice)
        cls.bob_client = signed_in(cls.bob)
        cls.bob_id = cls.bob_client.account.userInfo.id

    def test_projects_are_created_read_updated_shared_and_deleted(self):
        project = self.client.project.create(
            ProjectCreateInput(name="Tower", description="Forty floors", visibility=ProjectVisibility.PRIVATE)
        )
        self.assertEqual((project.name, project.visibility, project.role), ("Tower", ProjectVisibility.PRIVATE, "stream:owner"))
        self.assertIsNone(project.workspace_id)
        self.assertEqual(self.client.project.get(project.id).description, "Forty floors")

        updated = self.client.project.update(ProjectUpdateInput(id=project.id, name="Tower A", visibility=ProjectVisibility.PUBLIC))
        self.assertEqual((updated.name, updated.description, updated.visibility), ("Tower A", "Forty floors", ProjectVisibility.PUBLIC))
        shared = self.client.project.update_role(ProjectUpdateRoleInput(user_id=self.bob_id, project_id=project.id, role="stream:contributor"))
        self.assertEqual(sorted(member.role for member in shared.team), ["stream:contributor", "stream:owner"])
        self.assertEqual(shared.invited_team, [])
        self.assertEqual(self.bob_client.project.get(project.id).role, "stream:contributor")
        team = self.client.project.get_with_team(project.id).team
        self.assertIn("Bob", [member.user.name for member in team])

        mine = self.client.active_user.get_projects(filter=UserProjectsFilter(search="tower a"))
        self.assertEqual([p.id for p in mine.items], [project.id])
        self.assertEqual(self.bob_client.active_user.get_projects(filter=UserProjectsFilter(only_with_roles=["stream:contributor"])).total_count, 1)
        checks = self.bob_client.project.get_permissions(project.id)
        self.assertTrue(checks.can_create_model.authorized)
        self.assertFalse(checks.can_delete.authorized)
        self.assertTrue(self.client.project.get_permissions(project.id).can_delete.authorized)
        with_permissions = self.client.active_user.get_projects_with_permissions()
        self.assertTrue(all(p.permissions.can_load.authorized for p in with_permissions.items))
        self.assertTrue(self.client.active_user.can_create_personal_projects().authorized)

        unshared = self.client.project.update_role(ProjectUpdateRoleInput(user_id=self.bob_id, project_id=project.id, role=None))
        self.assertEqual([member.role for member in unshared.team], ["stream:owner"])
        self.assertTrue(self.client.project.delete(project.id))
        with self.assertRaises(GraphQLException):
            self.client.project.get(project.id)

    def test_models_and_versions_carry_real_objects(self):
        project = self.client.project.create(ProjectCreateInput(name="Campus", description=None, visibility=None))
        with_models = self.client.project.get_with_models(project.id)
        self.assertEqual([m.name for m in with_models.models.items], ["main"])
        model = self.client.model.create(CreateModelInput(name="Site/Landscape", description="trees", project_id=project.id))
        self.assertEqual((model.name, model.display_name, model.author.name), ("site/landscape", "landscape", "Alice"))
        self.assertEqual(self.client.model.get(model.id, project.id).description, "trees")
        renamed = self.client.model.update(UpdateModelInput(id=model.id, name="site/park", project_id=project.id))
        self.assertEqual((renamed.name, renamed.description), ("site/park", "trees"))
        found = self.client.model.get_models(project.id, models_filter=ProjectModelsFilter(search="park"))
        self.assertEqual([m.id for m in found.items], [model.id])
        model_checks = self.client.model.get_permissions(project.id, model.id)
        self.assertTrue(model_checks.can_create_version.authorized and model_checks.can_delete.authorized)

        building = a_building(3)
        transport = ServerTransport(project.id, client=self.client)
        object_id = operations.send(building, [transport], use_default_cache=False)
        version = self.client.version.create(
            CreateVersionInput(object_id=object_id, model_id=model.id, project_id=project.id, message="first")
        )
        self.assertEqual((version.message, version.source_application, version.author_user.name), ("first", "py", "Alice"))
        self.assertTrue(version.preview_url)
        read = self.client.version.get(version.id, project.id)
        received = operations.receive(read.referenced_object, ServerTransport(project.id, client=self.client), MemoryTransport())
        self.assertEqual(received.get_id(decompose=True), object_id)
        self.assertEqual([floor.level for floor in received["@floors"]], [0, 1, 2])
        self.assertTrue(self.client.version.received(MarkReceivedVersionInput(version_id=version.id, project_id=project.id, source_application="specklepy")))

        second = self.client.version.create(CreateVersionInput(object_id=object_id, model_id=model.id, project_id=project.id, message="second"))
        listed = self.client.version.get_versions(model.id, project.id, limit=10)
        self.assertEqual((listed.total_count, [v.id for v in listed.items]), (2, [second.id, version.id]))
        first_first = self.client.model.get_with_versions(model.id, project.id, versions_filter=ModelVersionsFilter(priority_ids=[version.id]))
        self.assertEqual(first_first.versions.items[0].id, version.id)
        self.assertEqual(self.client.version.update(UpdateVersionInput(version_id=version.id, project_id=project.id, message="the first")).message, "the first")
        target = self.client.version.move_to_model(MoveVersionsInput(target_model_name="archive", version_ids=[version.id], project_id=project.id))
        self.assertEqual(self.client.model.get(target, project.id).name, "archive")
        self.assertTrue(self.client.version.delete(DeleteVersionsInput(version_ids=[second.id], project_id=project.id)))
        self.assertEqual(self.client.version.get_versions(model.id, project.id).total_count, 0)
        self.assertTrue(self.client.model.delete(DeleteModelInput(id=model.id, project_id=project.id)))

    def test_a_read_only_token_reads_but_is_refused_writes_with_a_clear_error(self):
        project = self.client.project.create(ProjectCreateInput(name="Read only", description=None, visibility=None))
        reader = signed_in(self.alice, ["streams:read", "profile:read"])
        self.assertEqual(reader.project.get(project.id).name, "Read only")
        with self.assertRaises(GraphQLException) as refused:
            reader.project.update(ProjectUpdateInput(id=project.id, name="Renamed"))
        self.assertIn("streams:write", str(refused.exception))
        with self.assertRaises(GraphQLException) as refused:
            reader.model.create(CreateModelInput(name="nope", project_id=project.id))
        self.assertIn("streams:write", str(refused.exception))
        self.assertEqual(self.client.project.get(project.id).name, "Read only")

    def test_a_token_limited_to_one_project_works_there_and_nowhere_else(self):
        chosen = self.client.project.create(ProjectCreateInput(name="For the job", description=None, visibility=None))
        other = self.client.project.create(ProjectCreateInput(name="Not for the job", description=None, visibility=None))
        secret = self.alice.token(EVERYTHING, name="one project", streams=[(chosen.id, "write")])
        limited = SpeckleClient(host=HOST, use_ssl=False)
        limited.authenticate_with_token(secret)
        self.assertEqual(limited.project.get(chosen.id).name, "For the job")
        self.assertEqual([p.id for p in limited.active_user.get_projects().items], [chosen.id])
        with self.assertRaises(GraphQLException) as hidden:
            limited.project.get(other.id)
        self.assertIn("not found", str(hidden.exception).lower())
        model = limited.model.create(CreateModelInput(name="job", project_id=chosen.id))
        object_id = operations.send(a_building(2), [ServerTransport(chosen.id, client=limited)], use_default_cache=False)
        version = limited.version.create(CreateVersionInput(object_id=object_id, model_id=model.id, project_id=chosen.id))
        self.assertEqual(self.client.version.get(version.id, chosen.id).referenced_object, object_id)
        with self.assertRaises(Exception) as refused:  # requests' HTTPError, from its batch sender
            operations.send(a_building(2), [ServerTransport(other.id, client=limited)], use_default_cache=False)
        self.assertIn("404", str(refused.exception))
        with self.assertRaises(GraphQLException) as refused:
            limited.project.create(ProjectCreateInput(name="New", description=None, visibility=None))
        self.assertIn("outside this token's streams", str(refused.exception))

    def test_the_profile_is_updated(self):
        me = self.client.active_user.update(UserUpdateInput(bio="Builds towers"))
        self.assertEqual((me.name, me.bio), ("Alice", "Builds towers"))
        self.assertEqual(self.client.active_user.get().bio, "Builds towers")


class Invitations(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.owner = Person("Olga")
        cls.guest = Person("Gus")
        cls.owner_client = signed_in(cls.owner, EVERYTHING + ["users:invite"])
        cls.guest_client = signed_in(cls.guest)
        cls.guest_id = cls.guest_client.account.userInfo.id

    def invite(self, project_id, email=None, user_id=None, role=None):
        invite = ProjectInviteCreateInput(email=email, role=role, server_role=None, userId=user_id)
        return self.owner_client.project_invite.create(project_id, invite)

    def test_one_invitation_is_accepted_and_another_declined(self):
        harbour = self.owner_client.project.create(ProjectCreateInput(name="Harbour", description=None, visibility=None))
        lighthouse = self.owner_client.project.create(ProjectCreateInput(name="Lighthouse", description=None, visibility=None))
        with_team = self.invite(harbour.id, user_id=self.guest_id, role="stream:reviewer")
        self.assertEqual([(i.title, i.role) for i in with_team.invited_team], [("Gus", "stream:reviewer")])
        self.invite(lighthouse.id, email=self.guest.email)

        mine = {invite.project_name: invite for invite in self.guest_client.active_user.get_project_invites()}
        self.assertEqual(sorted(mine), ["Harbour", "Lighthouse"])
        self.assertEqual(mine["Harbour"].invited_by.name, "Olga")
        found = self.guest_client.project_invite.get(harbour.id, mine["Harbour"].token)
        self.assertEqual(found.invite_id, mine["Harbour"].invite_id)
        self.assertIsNone(self.guest_client.project_invite.get(harbour.id, "not-a-token"))

        use = ProjectInviteUseInput(accept=True, project_id=harbour.id, token=mine["Harbour"].token)
        self.assertTrue(self.guest_client.project_invite.use(use))
        self.assertEqual(self.guest_client.project.get(harbour.id).role, "stream:reviewer")
        use = ProjectInviteUseInput(accept=False, project_id=lighthouse.id, token=mine["Lighthouse"].token)
        self.assertTrue(self.guest_client.project_invite.use(use))
        with self.assertRaises(GraphQLException):
            self.guest_client.project.get(lighthouse.id)
        self.assertEqual(self.guest_client.active_user.get_project_invites(), [])
        self.assertEqual(self.owner_client.project.get_with_team(lighthouse.id).invited_team, [])

    def test_an_owner_cancels_an_invitation_and_a_token_without_users_invite_cannot_send_one(self):
        project = self.owner_client.project.create(ProjectCreateInput(name="Quay", description=None, visibility=None))
        with_team = self.invite(project.id, email="not-yet-signed-up@example.com")
        invite = with_team.invited_team[0]
        self.assertEqual(invite.title, "not-yet-signed-up@example.com")
        self.assertIsNone(invite.token)  # only the invitee's to use
        self.assertEqual(self.owner_client.project_invite.cancel(project.id, invite.invite_id).invited_team, [])

        without_scope = signed_in(self.owner)
        invite = ProjectInviteCreateInput(email="someone@example.com", role=None, server_role=None, userId=None)
        with self.assertRaises(GraphQLException) as refused:
            without_scope.project_invite.create(project.id, invite)
        self.assertIn("users:invite", str(refused.exception))


class LiveUpdates(unittest.TestCase):
    """specklepy's `subscription` resource, each call on a client of its own (as the SDK
    opens one connection per subscription), listening on the other server."""

    @classmethod
    def setUpClass(cls):
        cls.alice = Person("Alice")
        cls.writer = signed_in(cls.alice)

    def listener(self, name="listener"):
        client = SpeckleClient(host=OTHER_HOST, use_ssl=False)
        client.authenticate_with_token(self.alice.token(["streams:read", "profile:read"], name=name))
        return client

    def test_each_subscription_sees_what_the_other_server_does(self):
        heard = {"user": [], "project": [], "models": [], "versions": []}

        async def until(kind, count=1):
            for _ in range(200):  # ten seconds: generous, the promise is one
                if len(heard[kind]) >= count:
                    return
                await asyncio.sleep(0.05)
            self.fail(f"no {kind} event came: {heard}")

        async def scenario():
            user = asyncio.create_task(self.listener().subscription.user_projects_updated(heard["user"].append))
            await asyncio.sleep(1)
            # The writer's calls block the loop a moment: what the subscriptions hear waits in
            # their sockets meanwhile.
            project = self.writer.project.create(ProjectCreateInput(name="Live", description=None, visibility=None))
            await until("user")
            sub = self.listener().subscription
            tasks = [
                user,
                asyncio.create_task(sub.project_updated(heard["project"].append, project.id)),
                asyncio.create_task(self.listener().subscription.project_models_updated(heard["models"].append, project.id)),
                asyncio.create_task(self.listener().subscription.project_versions_updated(heard["versions"].append, project.id)),
            ]
            await asyncio.sleep(1)
            self.writer.project.update(ProjectUpdateInput(id=project.id, name="Live, renamed", description=None, visibility=None))
            model = self.writer.model.create(CreateModelInput(name="Site/Survey", description=None, project_id=project.id))
            object_id = operations.send(a_building(2), [ServerTransport(project.id, self.writer)])
            version = CreateVersionInput(object_id=object_id, model_id=model.id, project_id=project.id, message="live")
            self.writer.version.create(version)
            for kind in ("project", "models", "versions"):
                await until(kind)
            for task in tasks:
                task.cancel()
            return project, model

        project, model = asyncio.run(asyncio.wait_for(scenario(), 60))
        added = heard["user"][0]
        self.assertEqual((added.type, added.id), (UserProjectsUpdatedMessageType.ADDED, project.id))
        self.assertEqual(added.project.role, "stream:owner")
        updated = heard["project"][0]
        self.assertEqual((updated.type, updated.project.name), (ProjectUpdatedMessageType.UPDATED, "Live, renamed"))
        created = heard["models"][0]
        self.assertEqual((created.type, created.model.display_name), (ProjectModelsUpdatedMessageType.CREATED, "survey"))
        made = heard["versions"][0]
        self.assertEqual((made.type, made.model_id), (ProjectVersionsUpdatedMessageType.CREATED, model.id))
        self.assertEqual((made.version.message, made.version.author_user.name), ("live", "Alice"))

    def test_a_revoked_token_s_subscription_is_closed(self):
        client = self.listener(name="doomed")

        async def scenario():
            task = asyncio.create_task(client.subscription.user_projects_updated(lambda message: None))
            await asyncio.sleep(1)
            self.assertFalse(task.done(), "the subscription runs")
            listed = self.alice.browser.post(f"{URL}/api/list_tokens", data={"filter": "doomed"}).json()
            doomed = next(token for token in listed["rows"] if token["name"] == "doomed")
            self.alice.browser.post(f"{URL}/api/revoke_token", data={"id": doomed["id"]}).raise_for_status()
            # The promise is a second; five is a generous bound.
            done, _ = await asyncio.wait([task], timeout=5)
            self.assertEqual(done, {task}, "the subscription was not closed")
            return task.exception()

        ended = asyncio.run(asyncio.wait_for(scenario(), 30))
        self.assertIsNotNone(ended, "closed by the server, which the SDK raises")


if __name__ == "__main__":
    unittest.main(verbosity=2)
