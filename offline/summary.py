"""SUMMARY.md of a render: every resource, the DNS records, the Stalwart claims and generation,
the upgrade phase, and the outputs, secrets shown as `[secret]`."""

from __future__ import annotations

import json
from importlib import metadata, resources

from offline.harness import PROJECT_ROOT, Registration, StackRun
from offline.secrets import redact, reveal, secret_paths

SECRET_MARKER = "[secret]"
DNS_RECORD_TYPE = "cloudflare:index/dnsRecord:DnsRecord"


def summary(run: StackRun, ordered: list[Registration]) -> str:
    lines = [
        "# What `pulumi up` would create",
        "",
        "Rendered offline under the Pulumi mock runtime; secrets are shown as `[secret]`.",
        "",
        "| type | name | protected | retained on delete | secret inputs | imported from |",
        "|---|---|---|---|---|---|",
    ]
    for registration in ordered:
        secrets = ", ".join(f"`{path}`" for path in secret_paths(registration.inputs)) or "-"
        imported = f"`{registration.import_id}`" if registration.import_id else "-"
        lines.append(
            f"| `{registration.type}` | {registration.name} | "
            f"{'yes' if registration.protect else 'no'} | "
            f"{'yes' if registration.retain_on_delete else 'no'} | {secrets} | {imported} |"
        )
    lines += [
        "",
        "## DNS records",
        "",
        "| name | type | content | ttl | proxied | priority |",
        "|---|---|---|---|---|---|",
    ]
    for record in sorted(
        (r.inputs for r in ordered if r.type == DNS_RECORD_TYPE),
        key=lambda inputs: (inputs["name"], inputs["type"]),
    ):
        ttl = "auto" if record["ttl"] == 1 else int(record["ttl"])
        priority = int(record["priority"]) if record.get("priority") is not None else "-"
        lines.append(
            f"| {record['name']} | {record['type']} | `{record['content']}` | {ttl} | "
            f"{'yes' if record['proxied'] else 'no'} | {priority} |"
        )
    if any(r.type == "cloudflare:index/emailRoutingDns:EmailRoutingDns" for r in ordered):
        lines += [
            "",
            "Email Routing also adds and locks its own MX and SPF records at the zone apex "
            "(`EmailRoutingDns`); Cloudflare chooses their content.",
        ]
    lines += _stalwart_section(run)
    lines += _providers_section(ordered)
    lines += ["", "## Stack outputs", "", "| output | value |", "|---|---|"]
    for key, value in sorted(run.outputs.items()):
        shown = redact(value, SECRET_MARKER)
        lines.append(f"| {key} | `{json.dumps(shown)}` |")
    return "\n".join(lines) + "\n"


def _stalwart_section(run: StackRun) -> list[str]:
    record = reveal(run.outputs.get("stalwartData")) or {}
    lines = ["", "## Stalwart", ""]
    serving = record.get("serving")
    for role in ("primary", "upgraded"):
        entry = record.get(role)
        if not isinstance(entry, dict):
            continue
        state = "serves" if role == serving else "waits (0 replicas)"
        lines.append(
            f"- The {role} claim `{entry.get('claim')}` holds v{entry.get('generation')} data; "
            f"`{entry.get('image')}` on it {state}."
        )
    generation = (record.get(serving) or {}).get("generation") if serving else None
    lines.append(
        f"- Generation: **v{generation}**." if generation else "- Generation: none serves."
    )
    phase = record.get("upgradePhase")
    lines.append(
        f"- Upgrade phase: **{phase}** (docs/how-to/upgrade-to-v016.md)."
        if phase
        else "- Upgrade phase: none."
    )
    return lines


def _providers_section(ordered: list[Registration]) -> list[str]:
    """The versions the locks install: the CLI pin, the SDK, and each provider the render uses
    with the plugin version its SDK package declares (its `pulumi-plugin.json`), which is the
    plugin `pulumi up` downloads."""
    cli = (PROJECT_ROOT / ".pulumi-version").read_text(encoding="utf-8").strip()
    lines = [
        "",
        "## Pulumi and its providers",
        "",
        "| component | version |",
        "|---|---|",
        f"| Pulumi CLI (`.pulumi-version`) | {cli} |",
        f"| Python SDK `pulumi` | {metadata.version('pulumi')} |",
    ]
    for provider in sorted({r.type.split(":", 1)[0] for r in ordered} - {"pulumi"}):
        package = f"pulumi_{provider}"
        try:
            plugin = json.loads(
                (resources.files(package) / "pulumi-plugin.json").read_text(encoding="utf-8")
            )
        except (ModuleNotFoundError, FileNotFoundError):
            continue  # a component's own type (mailstack:...), not a provider
        lines.append(
            f"| provider plugin `{plugin['name']}` (SDK `{package.replace('_', '-')}` "
            f"{metadata.version(package.replace('_', '-'))}) | {plugin['version']} |"
        )
    return lines
