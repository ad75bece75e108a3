"""The Cloudflare side: DNS, tunnel route, Email Routing and their adoption."""
