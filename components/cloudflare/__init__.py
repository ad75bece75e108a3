"""The Cloudflare side: the webmail's route on the homelab's tunnel, Email Routing for inbound
mail, the DNS records Resend sends with, and the table of every Cloudflare resource (how the
components, adoption and the import plan name them)."""
