"""What `make import-plan` writes and prints: the import file, the adopt snippet, the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.cloudflare.resources import COMPONENTS, RESOURCES
from migration.import_plan.state import StackSettings

ADOPTED_IMAGE = "stalwartlabs/stalwart:v0.15.5"
ADOPT_HEADER = "# Written by `make import-plan`"
"""The first words of every adopt.yaml; `make import-plan` overwrites only a file that has them."""


@dataclass
class Plan:
    import_ids: dict[str, str]
    """Role key → import id, in the order of components.cloudflare.resources."""
    moved: dict[str, str]
    """Role key → OpenTofu address (EmailRoutingDns has none)."""
    leftovers: list[tuple[str, str]]
    """(address, description) of every managed instance that stays in OpenTofu."""
    tunnel_routes: list[dict[str, Any]]
    """The tunnel's other routes, in `mailstack:tunnelRoutes` form."""
    warnings: list[str]

    def import_file(self) -> dict[str, Any]:
        resources: list[dict[str, Any]] = [
            {"type": component.type, "name": component.name, "component": True}
            for component in COMPONENTS
        ]
        for resource in RESOURCES:
            resources.append(
                {
                    "type": resource.type,
                    "name": resource.name,
                    "id": self.import_ids[resource.adopt_key],
                    "parent": resource.component.name,
                }
            )
        return {"resources": resources}

    def adopt_yaml(self, source: str) -> str:
        mapping = {
            # The adopted claim holds v0.15 data: the stack runs v0.15 until the upgrade.
            "mailstack:image": ADOPTED_IMAGE,
            "mailstack:adopt": {"kubernetes": True, "cloudflare": dict(self.import_ids)},
        }
        body = yaml.safe_dump(mapping, sort_keys=False, default_flow_style=False)
        return "\n".join(
            [
                f"{ADOPT_HEADER} from {source}. Paste under `config:` in",
                "# Pulumi.prod.yaml (indented two spaces), with the existing claim's name:",
                "# mailstack:dataClaimName: <kubectl -n stalwart get pvc>",
                *body.splitlines(),
                "",
            ]
        )

    def state_rm_commands(self) -> list[str]:
        return [f"tofu state rm {_shell_quote(address)}" for address in self.moved.values()]


def report(plan: Plan, stack: StackSettings, out: Path, adopt_out: Path) -> str:
    lines = [f"Found, for {stack.domain} (webmail {stack.webmail_fqdn}):"]
    for resource in RESOURCES:
        key = resource.adopt_key
        source = plan.moved.get(key, "(no OpenTofu resource: zone id of the settings)")
        lines.append(f"  {resource.name:<29} {plan.import_ids[key]:<70} <- {source}")
    lines.append("")
    lines.append("Stays in OpenTofu (not touched by mailstack):")
    lines += [f"  {address}  # {what}" for address, what in plan.leftovers] or ["  (nothing)"]
    lines.append("")
    lines.append("The tunnel's other routes, for mailstack:tunnelRoutes in Pulumi.prod.yaml:")
    if plan.tunnel_routes:
        block = yaml.safe_dump(
            {"mailstack:tunnelRoutes": plan.tunnel_routes}, sort_keys=False, width=1000
        )
        lines += ["  " + line for line in block.splitlines()]
    else:
        lines.append("  mailstack:tunnelRoutes: []")
    if plan.warnings:
        lines.append("")
        lines.append("Check before `pulumi preview`:")
        lines += [f"  - {warning}" for warning in plan.warnings]
    lines.append("")
    lines.append(
        f"Wrote {adopt_out} (mailstack:adopt.cloudflare) and {out} (pulumi import --file)."
    )
    lines.append("")
    lines.append("Only after a successful `pulumi up` has adopted them, drop them from OpenTofu:")
    lines += ["  " + command for command in plan.state_rm_commands()]
    return "\n".join(lines) + "\n"


def _shell_quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"
