"""mailstack: the homelab's Stalwart mail server and its Cloudflare side as one Pulumi stack.

Reads the settings once, builds the components, exports what consumers and the owner need.
"""

import pulumi

from components.authentik.webmail import WebmailForwardAuth, WebmailForwardAuthArgs
from components.cloudflare.email_routing import EmailRouting, EmailRoutingArgs
from components.cloudflare.resend_dns import ResendDns, ResendDnsArgs
from components.cloudflare.tunnel_route import TunnelRoute, TunnelRouteArgs
from components.monitoring.canary import CanaryArgs
from components.monitoring.rules import RuleInputs
from components.monitoring.stack import MailMonitoring, MailMonitoringArgs
from components.service_accounts import ServiceAccounts, ServiceAccountsArgs
from components.stalwart.network_policy import NetworkRules
from components.stalwart.server import StalwartServer, StalwartServerArgs
from settings import load_settings
from settings.generation import record

SERVER = "stalwart"
ACCOUNTS = "stalwart-accounts"

settings = load_settings()

server = StalwartServer(
    SERVER,
    StalwartServerArgs(
        namespace=settings.namespace,
        data=settings.data,
        upgrade_export=settings.upgrade_export,
        jobs_image=settings.reconciler_image,
        domain=settings.domain,
        storage_class=settings.storage_class,
        storage_size=settings.storage_size,
        webmail_fqdn=settings.webmail_fqdn,
        tailnet_hostname=settings.tailnet_hostname,
        resend_api_key=settings.resend_api_key,
        admin_password=settings.admin_password,
        adopt_existing=settings.adopt.kubernetes,
        relay=settings.relay,
        auth_mechanisms=settings.auth_mechanisms,
        run_as_user=settings.run_as_user,
        network=NetworkRules(
            smtp_client_namespaces=settings.smtp_client_namespaces,
            ingress_namespaces=settings.ingress_namespaces,
            job_labels=(ServiceAccounts.pod_labels(ACCOUNTS),),
            relay_port=settings.relay.port,
            monitoring_namespace=settings.monitoring.namespace,
            canary_labels=(
                (MailMonitoring.canary_pod_labels(),) if settings.monitoring.enabled else ()
            ),
        ),
        backup=settings.backup,
        tls=settings.tls,
        storage=settings.storage,
    ),
)

monitoring = settings.monitoring
canary = (
    (MailMonitoring.canary_account(settings.domain, settings.namespace),)
    if monitoring.enabled
    else ()
)
accounts = ServiceAccounts(
    ACCOUNTS,
    ServiceAccountsArgs(
        namespace=server.namespace,
        domain=settings.domain,
        accounts=(*settings.service_accounts, *canary),
        admin_user=server.admin_user,
        admin_password=server.admin_password,
        stalwart_url=server.http_url,
        smtp_host=server.smtp_host,
        smtp_port=server.smtp_port,
        image=settings.reconciler_image,
        data_claim_uid=server.data_claim_uid,
        ready=server.ready,
        generation=server.serving_generation,
    ),
)

TunnelRoute(
    TunnelRouteArgs(
        cloudflare=settings.cloudflare,
        webmail_fqdn=settings.webmail_fqdn,
        adopted_ids=settings.adopt.cloudflare,
    )
)
email_routing = EmailRouting(
    EmailRoutingArgs(
        cloudflare=settings.cloudflare,
        domain=settings.domain,
        adopted_ids=settings.adopt.cloudflare,
    )
)
ResendDns(
    ResendDnsArgs(
        cloudflare=settings.cloudflare,
        domain=settings.domain,
        adopted_ids=settings.adopt.cloudflare,
    )
)

if monitoring.enabled:
    MailMonitoring(
        "monitoring",
        MailMonitoringArgs(
            settings=monitoring,
            namespace=server.namespace,
            service_labels=server.service_labels,
            metrics_password=server.metrics_password,
            rules=RuleInputs(
                namespace=settings.namespace,
                job=server.service_name,
                deployments=server.deployment_names,
                statefulsets=server.statefulset_names,
                claims=server.claim_names,
                runbook=monitoring.runbook_url,
            ),
            canary=CanaryArgs(
                namespace=server.namespace,
                schedule=monitoring.canary_schedule,
                recipient=monitoring.canary_recipient,
                domain=settings.domain,
                image=settings.reconciler_image,
                smtp_host=server.smtp_host,
                smtp_port=server.smtp_port,
                stalwart_url=server.http_url,
                generation=server.serving_generation,
            ),
        ),
        pulumi.ResourceOptions(depends_on=[accounts]),
    )

if settings.authentik is not None:
    forward_auth = WebmailForwardAuth(
        "webmail-forward-auth",
        WebmailForwardAuthArgs(
            authentik=settings.authentik,
            webmail_url=f"https://{settings.webmail_fqdn}",
            adopted_ids=settings.adopt.authentik,
        ),
    )
    # With mailstack:authentik: the number of the webmail's proxy provider in Authentik
    # (what mailstack:adopt.authentik.provider takes to adopt it).
    pulumi.export("authentikProvider", forward_auth.provider_pk)

# The in-cluster SMTP host consumers submit to, `stalwart.<namespace>.svc.cluster.local`.
pulumi.export("smtpHost", server.smtp_host)
# The submission port, 587 (no TLS inside the cluster).
pulumi.export("smtpPort", server.smtp_port)
# The public webmail, `https://<webmailHostname>.<domain>`, behind Authentik's forward-auth.
pulumi.export("webmailUrl", server.webmail_url)
# The webmail on the tailnet, once the Tailscale operator has published the ingress and the
# stack has read it back (`pulumi up --refresh`); empty until then.
pulumi.export("tailnetUrl", server.tailnet_url)
# The admin login: on v0.16 the stack's administrator account, `mailstack-admin@<domain>`
# (the recovery admin `admin` only until that account exists); on v0.15 the fallback admin `admin`.
pulumi.export("adminUser", server.admin_user)
# The admin's password (secret): mailstack:adminPassword, or the one generated once and kept in
# state.
pulumi.export("adminPassword", server.admin_password)
# Whether the Email Routing destination (mailstack:adminEmail) is verified: false until its
# verification link has been clicked and `pulumi refresh` has read it; Cloudflare drops inbound
# mail until then.
pulumi.export("adminEmailVerified", email_routing.admin_email_verified)
# Per service account, what its consumer configures: host, port, username, from address, and
# the Secret and key that hold its password (not the password).
pulumi.export("serviceAccounts", accounts.smtp_settings)
# Per service account, its password (secret).
pulumi.export("serviceAccountPasswords", accounts.passwords)
# Which Stalwart generation and image each data claim holds, which claim serves, and the
# upgrade's phase: read back by the next run (settings/history.py) before anything else.
pulumi.export("stalwartData", record(settings.data, settings.storage))
