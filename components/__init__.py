"""The stack's parts as Pulumi components, and the helpers they share: one module or package per
part of the system (Stalwart, its service accounts, Cloudflare, Authentik, monitoring).
Components import nothing of the settings but their model (settings/model.py); __main__.py wires
them together."""
