"""The Authentik objects as Pulumi dynamic resources over components/authentik/api.py.

Why dynamic resources: `pulumi-authentik` on PyPI (2025.8.1, a third party's parameterized bridge
of the goauthentik Terraform provider) fails on the first resource with this stack's pulumi SDK
(it calls `pulumi.runtime.settings._sync_monitor_supports_parameterization`, which pulumi 3.259
removed) and has no outpost attachment; a local SDK from `pulumi package add` needs the CLI and
the network at build time. docs/how-to/authentik.md says more.

Each provider class is stateless and lives in this importable module, so Pulumi's serializer
(dill) stores it by reference: the state holds `components.authentik.dynamic.<Class>`, no
bytecode, and a laptop and CI with different Python versions read the same state. The provider
process imports this module from the project directory, which is where Pulumi starts it.

Every resource carries `url` and `token` (secret, `additional_secret_outputs`) in its state, so
that a refresh or a delete after the settings changed still reaches the same Authentik.

Taking over objects made by hand (`mailstack:adopt.authentik`) happens in `create`, not through
Pulumi's import: the engine imports by calling the provider's Read with the id alone, and the
dynamic-provider host cannot tell which provider class to run without the `__provider` property
of a state (KeyError '__provider', seen in make e2e with the pinned engine; pulumi/pulumi#16175).
So the resource gets an `adopt` property: `create` finds that object, brings it to the declared
values and returns its id. `adopt` is never diffed, so removing the setting later changes nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import (
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from components.authentik.api import Api
from incluster.client import ClientError


def _api(props: dict[str, Any]) -> Api:
    return Api(str(props["url"]), str(props["token"]))


class _Provider(ResourceProvider):
    """What all four share: which properties an update changes, which replace."""

    managed: ClassVar[tuple[str, ...]] = ()
    """Properties whose change is an update in place."""
    replaced_by: ClassVar[tuple[str, ...]] = ()
    """Properties whose change makes a new object (the old one is deleted after)."""

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # A new token is an update that only stores it: refresh and delete use the state's
        # token, which must not be one Authentik has revoked.
        keys = (*self.managed, *self.replaced_by, "token")
        changed = [key for key in keys if olds.get(key) != news.get(key)]
        replaces = [key for key in changed if key in self.replaced_by]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Only the token can change in place here; everything else replaces."""
        return UpdateResult(outs=dict(news))


class ProxyProviderProvider(_Provider):
    managed = ("name", "externalHost", "authorizationFlow", "invalidationFlow")
    replaced_by = ("url",)

    def create(self, props: dict[str, Any]) -> CreateResult:
        api = _api(props)
        adopt = props.get("adopt")
        if adopt:
            if api.read_provider(str(adopt)) is None:
                raise ClientError(
                    f"mailstack:adopt.authentik.provider {adopt}: no such proxy provider"
                )
            api.update_provider(str(adopt), props)
            pk = int(adopt)
        else:
            pk = api.create_provider(props)
        return CreateResult(id_=str(pk), outs={**props, "pk": int(pk)})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        found = _api(props).read_provider(id_)
        if found is None:
            return ReadResult(id_="", outs={})
        return ReadResult(
            id_=id_, outs={**props, "pk": int(id_), "externalHost": found.get("external_host")}
        )

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _api(news).update_provider(id_, news)
        return UpdateResult(outs={**news, "pk": int(id_)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        _api(props).delete_provider(id_)


class ApplicationProvider(_Provider):
    managed = ("name", "provider", "launchUrl")
    replaced_by = ("url", "slug")

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # A new slug is a new application, and a provider belongs to one application only
        # (Authentik refuses a second one on it): the old one goes first.
        result = super().diff(id_, olds, news)
        return DiffResult(
            changes=result.changes,
            replaces=result.replaces,
            delete_before_replace=bool(result.replaces),
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        api = _api(props)
        adopt = props.get("adopt")
        if adopt:
            if api.read_application(str(adopt)) is None:
                raise ClientError(
                    f"mailstack:adopt.authentik.application {adopt!r}: no such application"
                )
            made = api.update_application(str(adopt), props)
        else:
            made = api.create_application(props)
        return CreateResult(id_=str(props["slug"]), outs={**props, "uuid": str(made.get("pk"))})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        found = _api(props).read_application(id_)
        if found is None:
            return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "slug": id_, "uuid": str(found.get("pk"))})

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        changed = _api(news).update_application(id_, news)
        return UpdateResult(outs={**news, "uuid": str(changed.get("pk"))})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        _api(props).delete_application(id_)


class OutpostAttachmentProvider(_Provider):
    replaced_by = ("url", "outpost", "provider")

    def create(self, props: dict[str, Any]) -> CreateResult:
        attachment = _api(props).attach(str(props["outpost"]), int(props["provider"]))
        return CreateResult(id_=attachment, outs=dict(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        present = _api(props).attached(id_)
        return ReadResult(id_=id_ if present else "", outs=dict(props) if present else {})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        _api(props).detach(id_)


class GroupBindingProvider(_Provider):
    # Named by group (webmail.py): a new position in the list is an update of `order`, never a
    # replacement, which would make a second resource own the group's one binding and delete it.
    managed = ("order",)
    replaced_by = ("url", "application", "group")

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        _api(news).order_binding(id_, int(news["order"]))
        return UpdateResult(outs=dict(news))

    def create(self, props: dict[str, Any]) -> CreateResult:
        pk = _api(props).bind_group(
            str(props["application"]), str(props["group"]), int(props["order"])
        )
        return CreateResult(id_=pk, outs=dict(props))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        found = _api(props).read_binding(id_)
        return ReadResult(id_=id_ if found else "", outs=dict(props) if found else {})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        _api(props).delete_binding(id_)


def _opts(opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(additional_secret_outputs=["token"])
    )


class ProxyProvider(Resource, module="authentik", name="ProxyProvider"):
    """A Proxy provider in "Forward auth (single application)" mode."""

    pk: pulumi.Output[int]
    """The provider's number in Authentik."""

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ProxyProviderProvider(), name, {**props, "pk": None}, _opts(opts))


class Application(Resource, module="authentik", name="Application"):
    """An Application linked to the provider, launching the webmail."""

    uuid: pulumi.Output[str]
    """The application's uuid (what a policy binding targets)."""

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ApplicationProvider(), name, {**props, "uuid": None}, _opts(opts))


class OutpostAttachment(Resource, module="authentik", name="OutpostAttachment"):
    """The provider on an existing outpost, beside the outpost's other providers."""

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(OutpostAttachmentProvider(), name, props, _opts(opts))


class GroupBinding(Resource, module="authentik", name="GroupBinding"):
    """A group allowed to open the application."""

    def __init__(
        self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(GroupBindingProvider(), name, props, _opts(opts))
