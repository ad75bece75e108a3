"""Issue 22 on the real engine: the webmail's Authentik objects, through the dynamic provider
process the CLI starts, against the Authentik stand-in (served over TLS): taking over objects
made by hand, changing the allowed groups, the slug."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from e2e.cluster import Cluster
from e2e.homelab import AUTHENTIK_TOKEN, SECRETS, SETTINGS, authentik_over_tls, ca_bundle, https_url
from e2e.stack import Stack
from tests.standins.authentik import AuthentikStandin


@pytest.fixture(scope="module")
def authentik(cluster: Cluster) -> Iterator[AuthentikStandin]:
    with authentik_over_tls(cluster, groups=("mail-users", "admins", "family")) as standin:
        yield standin


@pytest.fixture(scope="module")
def stack(
    cluster: Cluster,
    authentik: AuthentikStandin,
    tools: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Stack:
    workdir = tmp_path_factory.mktemp("authentik")
    env = {"SSL_CERT_FILE": str(ca_bundle(cluster, workdir)), "AUTHENTIK_TOKEN": AUTHENTIK_TOKEN}
    made = Stack.create("authentik", workdir / "a", tools, cluster.admin_kubeconfig, env)
    made.configure(dict(SETTINGS), SECRETS)
    return made


def settings(authentik: AuthentikStandin, **fields: Any) -> dict[str, Any]:
    return {"url": https_url(authentik), **fields}


def bound_groups(authentik: AuthentikStandin) -> list[str]:
    by_pk = {pk: name for name, pk in authentik.groups.items()}
    (application,) = authentik.applications.values()
    return sorted(
        by_pk[str(b["group"])]
        for b in authentik.bindings.values()
        if b["target"] == application["pk"]
    )


def test_objects_made_by_hand_are_taken_over_not_duplicated(
    authentik: AuthentikStandin, stack: Stack
) -> None:
    """mailstack:adopt.authentik: the provider and application clicked together before."""
    pk = authentik.add_provider("Stalwart webmail", host="https://old.example.com")
    authentik._create_application(
        {
            "name": "Stalwart webmail",
            "slug": "stalwart-webmail",
            "provider": pk,
            "meta_launch_url": "x",
        }
    )
    stack.set_path("mailstack:authentik", settings(authentik, groups=["mail-users"]))
    stack.set_path(
        "mailstack:adopt",
        {
            "kubernetes": False,
            "cloudflare": {},
            "authentik": {"provider": pk, "application": "stalwart-webmail"},
        },
    )
    result = stack.up(check=False)
    assert result.returncode == 0, result.stdout[-6000:]
    assert list(authentik.providers) == [pk]
    assert list(authentik.applications) == ["stalwart-webmail"]
    stack.remove("mailstack:adopt")
    stack.up()
    assert authentik.providers[pk]["external_host"] == "https://mail.example.com"
    assert bound_groups(authentik) == ["mail-users"]


TRANSITIONS: tuple[list[str], ...] = (
    ["mail-users", "admins"],  # add
    ["admins", "mail-users"],  # reorder
    ["admins"],  # remove the first
    [],  # empty: everyone Authentik lets in
    ["family"],  # from empty
    ["family", "admins"],
    ["admins", "mail-users"],  # replace one, reorder the other
)


@pytest.mark.parametrize("groups", TRANSITIONS, ids=lambda g: "-".join(g) or "empty")
def test_changing_the_allowed_groups_never_passes_through_fewer_bindings(
    authentik: AuthentikStandin, stack: Stack, groups: list[str]
) -> None:
    before = bound_groups(authentik)
    authentik.binding_counts.clear()
    stack.set_path("mailstack:authentik", settings(authentik, groups=groups))
    stack.up()
    assert bound_groups(authentik) == sorted(groups)
    floor = min(len(before), len(groups))
    assert min(authentik.binding_counts, default=floor) >= floor
    (application,) = authentik.applications.values()
    orders = {
        next(n for n, pk in authentik.groups.items() if pk == str(b["group"])): b["order"]
        for b in authentik.bindings.values()
        if b["target"] == application["pk"]
    }
    assert orders == {group: position for position, group in enumerate(groups)}


def test_a_new_slug_moves_the_application_and_keeps_the_provider(
    authentik: AuthentikStandin, stack: Stack
) -> None:
    (provider,) = authentik.providers
    stack.set_path(
        "mailstack:authentik", settings(authentik, groups=["mail-users"], slug="webmail-2")
    )
    stack.up()
    assert list(authentik.applications) == ["webmail-2"]
    assert authentik.applications["webmail-2"]["provider"] == provider
    assert bound_groups(authentik) == ["mail-users"]
    result = stack.preview("--expect-no-changes", check=False)
    assert result.returncode == 0, result.stdout[-3000:]
