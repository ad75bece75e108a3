"""Authentik's REST API (`/api/v3`), as the webmail's forward-auth objects need it.

Shapes from Authentik's OpenAPI schema (`schema.yml` of goauthentik/authentik, as vendored in
goauthentik/client-go v3.2026020.2): a proxy provider's `pk` is an integer, an application is
addressed by its `slug` and has a uuid `pk`, an outpost by its uuid `pk` with `providers` a list
of provider numbers; list answers are `{"pagination": {...}, "results": [...]}`; a bad token or a
missing permission is 403 `{"detail": ...}`, a refused value 400 `{"<field>": [...]}`.

The outpost has no "add one provider" call: attaching is read, append, `PATCH {"providers":
[...]}` with the whole list, as terraform-provider-authentik's outpost_provider_attachment does;
only this provider's number is ever added or removed, so the outpost's other providers (other
applications' forward-auth) stay. The list is read again afterwards, to catch a concurrent writer.

All requests go through the bounded client (incluster/client.py): the token is sent to the
configured origin only, no redirect is followed, every message is redacted.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from incluster.client import Client, ClientError, Redactor, Response

MANAGED_EMBEDDED = "goauthentik.io/outposts/embedded"
ATTACH_RETRIES = 3
MAX_PAGES = 50  # lists follow `pagination.next`; a homelab's Authentik has a handful of each


class Api(Client):
    """Failures are ClientErrors whose message names the call and never the token."""

    def __init__(self, url: str, token: str, timeout: float = 20.0) -> None:
        super().__init__(
            url.rstrip("/") + "/api/v3", f"Bearer {token}", Redactor([token]), timeout=timeout
        )

    # -- one exchange ----------------------------------------------------------------------------
    def call(
        self, what: str, method: str, path: str, body: object = None, *, missing_ok: bool = False
    ) -> dict[str, Any] | None:
        """The JSON object answered (`{}` for 204), or None for a 404 when `missing_ok`."""
        try:
            response = self.send(method, path, body)
        except ClientError as err:
            raise ClientError(f"{what}: {err}") from None
        if response.status == 404 and missing_ok:
            return None
        if response.status == 204:
            return {}
        if response.status == 403:
            raise ClientError(
                f"{what}: HTTP 403, the token was refused or lacks a permission "
                f"(docs/how-to/authentik.md): {self._excerpt(response)}"
            )
        answer = self.json(what, response)
        if not isinstance(answer, dict):
            raise ClientError(f"{what}: the answer is not a JSON object")
        return answer

    def _excerpt(self, response: Response) -> str:
        return self.excerpt(response.body) or "(empty)"

    def _list(self, what: str, path: str, query: dict[str, str]) -> list[dict[str, Any]]:
        """Every result of a list call, page after page (`pagination.next`, 0 after the last)."""
        found: list[dict[str, Any]] = []
        page = 1
        for _ in range(MAX_PAGES):
            paged = urllib.parse.urlencode({**query, "page": str(page)})
            reply = self.call(what, "GET", f"{path}?{paged}")
            results = reply.get("results") if isinstance(reply, dict) else None
            if not isinstance(results, list):
                raise ClientError(f"{what}: the answer has no results list")
            found += [r for r in results if isinstance(r, dict)]
            pagination = reply.get("pagination") if isinstance(reply, dict) else None
            following = pagination.get("next") if isinstance(pagination, dict) else 0
            if not isinstance(following, int) or following <= page:
                return found
            page = following
        raise ClientError(f"{what}: more than {MAX_PAGES} pages")

    def _one(self, what: str, path: str, query: dict[str, str]) -> dict[str, Any] | None:
        results = self._list(what, path, query)
        if len(results) > 1:
            raise ClientError(f"{what}: {len(results)} objects match, expected one")
        return results[0] if results else None

    # -- lookups ---------------------------------------------------------------------------------
    def flow_pk(self, slug: str) -> str:
        what = f"flow {slug!r}"
        flow = self.call(what, "GET", f"/flows/instances/{_segment(slug)}/", missing_ok=True)
        if not isinstance(flow, dict) or not flow.get("pk"):
            raise ClientError(f"{what}: no such flow in Authentik (check its slug)")
        return str(flow["pk"])

    def group_pk(self, name: str) -> str:
        what = f"group {name!r}"
        group = self._one(what, "/core/groups/", {"name": name, "include_users": "false"})
        if group is None or not group.get("pk"):
            raise ClientError(f"{what}: no such group in Authentik")
        return str(group["pk"])

    def outpost(self, name: str) -> tuple[str, list[int]]:
        """The outpost's uuid and its providers, by name (the list has no plain `name` filter:
        Authentik would ignore it and list every outpost)."""
        what = f"outpost {name!r}"
        found = self._one(what, "/outposts/instances/", {"name__iexact": name})
        if found is None:
            raise ClientError(f"{what}: no such outpost (check mailstack:authentik.outpost)")
        return str(found["pk"]), _providers(found, what)

    # -- proxy provider --------------------------------------------------------------------------
    def provider_body(self, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": spec["name"],
            "mode": "forward_single",
            "external_host": spec["externalHost"],
            "authorization_flow": self.flow_pk(spec["authorizationFlow"]),
            "invalidation_flow": self.flow_pk(spec["invalidationFlow"]),
        }

    def create_provider(self, spec: dict[str, Any]) -> int:
        made = self.call(
            "create proxy provider", "POST", "/providers/proxy/", self.provider_body(spec)
        )
        return int(_pk(made, "create proxy provider"))

    def read_provider(self, pk: str) -> dict[str, Any] | None:
        return self.call(
            f"proxy provider {pk}", "GET", f"/providers/proxy/{_number(pk)}/", missing_ok=True
        )

    def update_provider(self, pk: str, spec: dict[str, Any]) -> None:
        what = f"update proxy provider {pk}"
        self.call(what, "PATCH", f"/providers/proxy/{_number(pk)}/", self.provider_body(spec))

    def delete_provider(self, pk: str) -> None:
        what = f"delete proxy provider {pk}"
        self.call(what, "DELETE", f"/providers/proxy/{_number(pk)}/", missing_ok=True)

    # -- application -----------------------------------------------------------------------------
    def create_application(self, spec: dict[str, Any]) -> dict[str, Any]:
        return self.call("create application", "POST", "/core/applications/", _app_body(spec)) or {}

    def read_application(self, slug: str) -> dict[str, Any] | None:
        path = f"/core/applications/{_segment(slug)}/"
        return self.call(f"application {slug!r}", "GET", path, missing_ok=True)

    def update_application(self, slug: str, spec: dict[str, Any]) -> dict[str, Any]:
        path = f"/core/applications/{_segment(slug)}/"
        return self.call(f"update application {slug!r}", "PATCH", path, _app_body(spec)) or {}

    def delete_application(self, slug: str) -> None:
        path = f"/core/applications/{_segment(slug)}/"
        self.call(f"delete application {slug!r}", "DELETE", path, missing_ok=True)

    # -- the provider on the outpost -------------------------------------------------------------
    def attach(self, outpost_name: str, provider: int) -> str:
        """Adds `provider` to the outpost's providers (once); returns `<outpost uuid>:<pk>`."""
        for _attempt in range(ATTACH_RETRIES):
            uuid, providers = self.outpost(outpost_name)
            if provider in providers:
                return f"{uuid}:{provider}"
            path = f"/outposts/instances/{_segment(uuid)}/"
            self.call(
                f"attach provider {provider}", "PATCH", path, {"providers": [*providers, provider]}
            )
            if provider in self.outpost(outpost_name)[1]:
                return f"{uuid}:{provider}"
        raise ClientError(
            f"attach provider {provider}: outpost {outpost_name!r} lost it {ATTACH_RETRIES} times "
            "(another writer changes its providers at the same time); run the update again"
        )

    def attached(self, attachment: str) -> bool | None:
        """True/False; None when the outpost itself is gone."""
        uuid, provider = _attachment(attachment)
        found = self.call(
            f"outpost {uuid}", "GET", f"/outposts/instances/{_segment(uuid)}/", missing_ok=True
        )
        if found is None:
            return None
        return provider in _providers(found, f"outpost {uuid}")

    def detach(self, attachment: str) -> None:
        """Removes this provider only; the outpost's other providers stay. A non-embedded
        outpost may not be left without providers (Authentik refuses an empty list,
        outposts/api/outposts.py `validate_providers`): there the provider stays attached, and
        deleting the provider itself, which follows, takes it off the outpost."""
        uuid, provider = _attachment(attachment)
        path = f"/outposts/instances/{_segment(uuid)}/"
        found = self.call(f"outpost {uuid}", "GET", path, missing_ok=True)
        if found is None:
            return
        providers = _providers(found, f"outpost {uuid}")
        if provider in providers:
            kept = [p for p in providers if p != provider]
            if not kept and found.get("managed") != MANAGED_EMBEDDED:
                return
            self.call(f"detach provider {provider}", "PATCH", path, {"providers": kept})

    # -- who may open it -------------------------------------------------------------------------
    def bind_group(self, application_pk: str, group: str, order: int) -> str:
        """A new binding of `group` to the application; returns its pk. Never one that exists:
        its owner's delete would remove it from under this resource (a transition of the group
        list could end with no binding, and Authentik then lets everyone in). A duplicate
        binding of a group is harmless."""
        group_pk = self.group_pk(group)
        body = {"target": application_pk, "group": group_pk, "order": order}
        made = self.call(f"bind group {group!r}", "POST", "/policies/bindings/", body)
        return str(_pk(made, f"bind group {group!r}"))

    def order_binding(self, pk: str, order: int) -> None:
        path = f"/policies/bindings/{_segment(pk)}/"
        self.call(f"order policy binding {pk}", "PATCH", path, {"order": order})

    def read_binding(self, pk: str) -> dict[str, Any] | None:
        path = f"/policies/bindings/{_segment(pk)}/"
        return self.call(f"policy binding {pk}", "GET", path, missing_ok=True)

    def delete_binding(self, pk: str) -> None:
        path = f"/policies/bindings/{_segment(pk)}/"
        self.call(f"delete policy binding {pk}", "DELETE", path, missing_ok=True)


def _app_body(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": spec["name"],
        "slug": spec["slug"],
        "provider": int(spec["provider"]),
        "meta_launch_url": spec["launchUrl"],
        "policy_engine_mode": "any",
    }


def _segment(text: str) -> str:
    return urllib.parse.quote(str(text), safe="")


def _number(pk: str) -> int:
    try:
        return int(pk)
    except ValueError:
        raise ClientError(f"{pk!r} is not a provider number") from None


def _pk(reply: Any, what: str) -> Any:
    if not isinstance(reply, dict) or reply.get("pk") in (None, ""):
        raise ClientError(f"{what}: the answer has no pk")
    return reply["pk"]


def _providers(outpost: dict[str, Any], what: str) -> list[int]:
    providers = outpost.get("providers")
    if not isinstance(providers, list) or not all(
        isinstance(p, int) and not isinstance(p, bool) for p in providers
    ):
        raise ClientError(f"{what}: the answer's providers is not a list of numbers")
    return list(providers)


def _attachment(attachment: str) -> tuple[str, int]:
    uuid, _, provider = attachment.rpartition(":")
    if not uuid or not (provider.isascii() and provider.isdigit()):
        raise ClientError(f"{attachment!r} is not an attachment id (<outpost uuid>:<number>)")
    return uuid, int(provider)
