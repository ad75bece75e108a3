"""The Authentik side of the public webmail's forward-auth (the old runbook's step 11).

Traefik's `authentik-authentik-forward-auth` middleware, which the public Ingress names, asks
Authentik's outpost about every request; the outpost answers for the providers attached to it. So
the webmail needs: a Proxy provider in `forward_single` mode whose external host is the webmail,
an Application linked to it (launching the webmail), that provider on the outpost, and optionally
the groups allowed in. The outpost itself is never a resource here: it serves other applications
too, and a resource that owned its provider list would drop their forward-auth.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.authentik.dynamic import Application, GroupBinding, OutpostAttachment, ProxyProvider
from settings.model import AuthentikSettings

COMPONENT_TYPE = "mailstack:authentik:WebmailForwardAuth"


@dataclass(frozen=True)
class WebmailForwardAuthArgs:
    authentik: AuthentikSettings
    """Where Authentik is, its token, the outpost, flows and groups."""
    webmail_url: str
    """`https://<webmail host>`: the provider's external host and the launch URL."""
    adopted_ids: dict[str, str]
    """`mailstack:adopt.authentik`: `provider` number and `application` slug to take over."""


class WebmailForwardAuth(pulumi.ComponentResource):
    """Provider, application, its place on the outpost, and the groups allowed in."""

    provider_pk: pulumi.Output[int]
    """The Proxy provider's number in Authentik."""
    application_slug: str
    """The Application's slug."""

    def __init__(
        self, name: str, args: WebmailForwardAuthArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(COMPONENT_TYPE, name, None, opts)
        settings = args.authentik
        connection = {"url": settings.url, "token": settings.token}
        child = pulumi.ResourceOptions(parent=self)
        provider = ProxyProvider(
            f"{name}-provider",
            {
                **connection,
                "name": settings.name,
                "externalHost": args.webmail_url,
                "authorizationFlow": settings.authorization_flow,
                "invalidationFlow": settings.invalidation_flow,
                # Taken over in create (dynamic.py says why not by import).
                "adopt": args.adopted_ids.get("provider"),
            },
            child,
        )
        application = Application(
            f"{name}-application",
            {
                **connection,
                "name": settings.name,
                "slug": settings.slug,
                "provider": provider.pk,
                "launchUrl": args.webmail_url,
                "adopt": args.adopted_ids.get("application"),
            },
            child,
        )
        OutpostAttachment(
            f"{name}-outpost",
            {**connection, "outpost": settings.outpost, "provider": provider.pk},
            pulumi.ResourceOptions(parent=self, depends_on=[application]),
        )
        for order, group in enumerate(settings.groups):
            # Named by group, so that adding, removing or reordering groups never hands a group's
            # binding from one resource to another (the old delete would remove the binding the
            # new one had found: no binding left, and Authentik then lets everyone in). The alias
            # carries a stack made when bindings were named by position over without a change.
            GroupBinding(
                f"{name}-group-{group}",
                {**connection, "application": application.uuid, "group": group, "order": order},
                pulumi.ResourceOptions(
                    parent=self, aliases=[pulumi.Alias(name=f"{name}-group-{order}")]
                ),
            )
        self.provider_pk = provider.pk
        self.application_slug = settings.slug
        self.register_outputs(
            {"provider_pk": self.provider_pk, "application_slug": self.application_slug}
        )
