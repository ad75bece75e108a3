"""mailstack: the homelab's Stalwart mail server and its Cloudflare side as one Pulumi stack.

Reads the settings once, builds the components, exports what consumers and the owner need.
"""

import pulumi

from components.settings import load_settings
from components.stalwart import StalwartServer, StalwartServerArgs

settings = load_settings()

server = StalwartServer(
    "stalwart",
    StalwartServerArgs(
        namespace=settings.namespace,
        image=settings.image,
        storage_class=settings.storage_class,
        storage_size=settings.storage_size,
        webmail_fqdn=settings.webmail_fqdn,
        tailnet_hostname=settings.tailnet_hostname,
        resend_api_key=settings.resend_api_key,
        admin_password=settings.admin_password,
    ),
)

pulumi.export("smtpHost", server.smtp_host)
pulumi.export("smtpPort", server.smtp_port)
pulumi.export("webmailUrl", server.webmail_url)
pulumi.export("tailnetUrl", server.tailnet_url)
pulumi.export("adminUser", server.admin_user)
pulumi.export("adminPassword", server.admin_password)
