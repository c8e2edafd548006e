"""Member accounts: signing in, project scope, and the owner's routes closed to them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from labelarts.errors import UnauthorizedError
from tests.conftest import PASSWORD, LiveServer, Tenant, assert_error, create_dataset, login
from tests.routes import OWNER_ROUTES, Route
from tests.team.conftest import Member, make_member

MemberFactory = Callable[..., Member]


def _send(client: httpx.Client, route: Route, url: str) -> httpx.Response:
    if route.has_body:
        return client.request(route.method, url, json={})
    return client.request(route.method, url)


@pytest.fixture(scope="module")
def member_and_dataset(
    shared_server: LiveServer, shared_tenants: tuple[Tenant, Tenant]
) -> Iterator[tuple[Member, str]]:
    owner, _ = shared_tenants
    member = make_member(shared_server, owner.project_id)
    dataset_id = create_dataset(owner.aksk, owner.project_id, "members-see-nothing")
    yield member, dataset_id
    member.close()


@pytest.mark.parametrize("route", OWNER_ROUTES, ids=lambda r: r.id)
def test_members_are_refused_on_every_owner_route(
    shared_tenants: tuple[Tenant, Tenant], member_and_dataset: tuple[Member, str], route: Route
) -> None:
    owner, _ = shared_tenants
    member, dataset_id = member_and_dataset
    url = route.url(project_id=owner.project_id, dataset_id=dataset_id)
    for client in (member.aksk, member.token_client):
        response = _send(client, route, url)
        assert_error(response, 403, "ModelArts.4600")
        assert dataset_id not in response.text


def test_the_owners_access_is_unchanged(
    shared_tenants: tuple[Tenant, Tenant], member_and_dataset: tuple[Member, str]
) -> None:
    owner, _ = shared_tenants
    _member, dataset_id = member_and_dataset
    for client in (owner.aksk, owner.token_client):
        assert client.get(owner.v2(f"/datasets/{dataset_id}")).status_code == 200
        assert client.get(owner.v2("/datasets")).status_code == 200


def test_a_member_signs_in_to_the_owners_project(
    shared_server: LiveServer, shared_tenants: tuple[Tenant, Tenant], member_factory: MemberFactory
) -> None:
    owner, other = shared_tenants
    member = member_factory(owner.project_id)
    principal = shared_server.services.auth.authenticate_token(member.token)
    assert (principal.role, principal.email, principal.project_id) == (
        "member",
        member.email,
        owner.project_id,
    )
    # Not a member of the other project: no token for it.
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": member.email, "password": PASSWORD, "domain": {"name": "Default"}}
                },
            },
            "scope": {"project": {"id": other.project_id}},
        }
    }
    assert_error(httpx.post(f"{shared_server.url}/v3/auth/tokens", json=body), 401, "ModelArts.4119")
    # Owners keep their role.
    assert shared_server.services.auth.authenticate_token(owner.token).role == "owner"


def test_a_member_of_two_projects_chooses_the_project_at_sign_in(
    shared_server: LiveServer, shared_tenants: tuple[Tenant, Tenant], member_factory: MemberFactory
) -> None:
    owner, other = shared_tenants
    member = member_factory(owner.project_id)
    shared_server.services.members.add_membership(member.email, other.project_id)
    token = login(shared_server.url, member.email, other.project_id)
    principal = shared_server.services.auth.authenticate_token(token)
    assert (principal.project_id, principal.role) == (other.project_id, "member")
    # The token for one project does not reach the other.
    response = httpx.get(
        f"{shared_server.url}/v2/{owner.project_id}/datasets", headers={"X-Auth-Token": token}
    )
    assert_error(response, 403)
    # Ending the membership ends its tokens; the home project's token still works.
    shared_server.services.members.remove_membership(member.email, other.project_id)
    with pytest.raises(UnauthorizedError):
        shared_server.services.auth.authenticate_token(token)
    assert shared_server.services.auth.authenticate_token(member.token).project_id == owner.project_id


def test_an_invitation_creates_a_member_once(
    shared_server: LiveServer, shared_tenants: tuple[Tenant, Tenant]
) -> None:
    owner, other = shared_tenants
    members = shared_server.services.members
    token = members.invite(owner.project_id, "Invited.Person@Example.com")
    assert members.describe_invitation(token) == ("invited.person@example.com", owner.project_id, False)
    creds = members.accept(token, "a-good-password")
    assert creds is not None and creds.user == "invited.person@example.com"
    with pytest.raises(UnauthorizedError):
        members.accept(token, "a-good-password")  # used
    signed_in = login(shared_server.url, "invited.person@example.com", owner.project_id, "a-good-password")
    assert shared_server.services.auth.authenticate_token(signed_in).role == "member"
    # A second project's invitation for the same address adds a membership, with the password.
    second = members.invite(other.project_id, "invited.person@example.com")
    with pytest.raises(UnauthorizedError):
        members.accept(second, "not-the-password")
    assert members.accept(second, "a-good-password") is None
    login(shared_server.url, "invited.person@example.com", other.project_id, "a-good-password")
    with pytest.raises(UnauthorizedError):
        members.accept("LAI1.forged", "a-good-password")
