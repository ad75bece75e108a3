"""From an OpenTofu state to this program's Cloudflare import ids (`make import-plan`).

    python -m migration.import_plan --tfstate state.json --out import.json \
        [--adopt-out adopt.yaml] [--domain example.com] [--stack-file Pulumi.prod.yaml]

Reads a state file of format version 4 (what `tofu state pull` prints) and finds the runbook's
Cloudflare resources by what they are, never by their OpenTofu names (which differ between
homelabs): the webmail CNAME (`<webmailHostname>` → `<tunnel>.cfargotunnel.com`), the four
Resend records (DKIM TXT `resend._domainkey`, MX `send` → `feedback-smtp.<region>.amazonses.com`,
SPF TXT `send`, DMARC TXT `_dmarc`), the Email Routing settings, catch-all and destination (the
one the catch-all forwards to), and the tunnel configuration that routes the webmail host.
Provider v5 (`cloudflare_dns_record`, FQDN names) and v4 (`cloudflare_record`, relative names,
`cloudflare_tunnel_config`) states are both understood. `EmailRoutingDns` has no OpenTofu
counterpart; it is imported with the zone id of the settings resource.

It writes
- `--adopt-out` (default `adopt.yaml` next to `--out`): the `mailstack:adopt.cloudflare` mapping
  for Pulumi.prod.yaml. This is the primary path (docs/how-to/adopt-the-old-system.md): the
  program imports each listed
  resource with the `import` resource option on the first `pulumi up`, next to the namespace and
  the data PVC.
- `--out`: the same ids as a `pulumi import --file` JSON, the alternative for Cloudflare only.

Decision on parents in the import file: the program creates its Cloudflare resources as children
of three components (`webmail-tunnel`, `email-routing`, `resend-dns`), so their URNs carry the
component type (`...::mailstack:cloudflare:TunnelRoute$cloudflare:index/dnsRecord:DnsRecord::
webmail-tunnel-cname`). An entry without `parent` would be imported under a root URN that the
program never registers: the next `pulumi up` would create a second copy and delete the imported
one. So the file lists the three components first as `"component": true` entries (no id; the
engine creates them empty, Pulumi >= 3.94) and every resource names its component in `parent`
(a name of another entry, so no `nameTable` and no URN has to be known in advance). Run it with
`pulumi import --file import.json --protect=false --generate-code=false`: the program's code
already exists, and it does not protect its Cloudflare resources.

It prints what it found, what stays in OpenTofu (with addresses), the tunnel's other routes as
`mailstack:tunnelRoutes`, differences from the stack file, and the `tofu state rm` commands for
the moved resources (to run only after a successful `pulumi up`). A state it does not understand
gives one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from migration.import_plan.recognise import build_plan
from migration.import_plan.report import ADOPT_HEADER, report
from migration.import_plan.state import PlanError, load_stack, load_state

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def main(argv: Sequence[str] | None = None, write: Callable[[str], Any] = sys.stdout.write) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m migration.import_plan",
        description="Map an OpenTofu state's Cloudflare resources to mailstack's import ids.",
    )
    parser.add_argument("--tfstate", required=True, type=Path, help="output of `tofu state pull`")
    parser.add_argument("--out", required=True, type=Path, help="pulumi import --file JSON")
    parser.add_argument("--adopt-out", type=Path, help="default: adopt.yaml next to --out")
    parser.add_argument("--domain", help="default: mailstack:domain of the stack file")
    parser.add_argument("--stack-file", type=Path, default=REPO_ROOT / "Pulumi.prod.yaml")
    args = parser.parse_args(argv)
    adopt_out: Path = args.adopt_out or args.out.with_name("adopt.yaml")
    try:
        _check_outputs(args.out, adopt_out, {args.tfstate, args.stack_file})
        stack = load_stack(args.stack_file, args.domain)
        plan = build_plan(load_state(args.tfstate), stack)
        args.out.write_text(json.dumps(plan.import_file(), indent=2) + "\n", encoding="utf-8")
        adopt_out.write_text(plan.adopt_yaml(args.tfstate.name), encoding="utf-8")
    except PlanError as err:
        sys.stderr.write(f"import-plan: error: {err}\n")
        return 2
    except OSError as err:
        sys.stderr.write(f"import-plan: error: cannot write {err.filename}: {err.strerror}\n")
        return 2
    write(report(plan, stack, args.out, adopt_out))
    return 0


def _check_outputs(out: Path, adopt_out: Path, inputs: set[Path]) -> None:
    """Refuses, before anything is read or written, an output that is an input, the other
    output, or an existing file this tool did not write (`OUT=Pulumi.prod.yaml` is a typo that
    must not cost the stack file)."""
    if out.resolve() == adopt_out.resolve():
        raise PlanError(f"--out and --adopt-out are both {out}; give them different names")
    for flag, path in (("--out", out), ("--adopt-out", adopt_out)):
        same = next((given for given in inputs if given.resolve() == path.resolve()), None)
        if same is not None:
            raise PlanError(f"{flag} {path} is an input of this run; choose another file name")
        if path.is_dir():
            raise PlanError(f"{flag} {path} is a folder; give a file name such as import.json")
        if path.exists() and not _written_here(path, flag):
            raise PlanError(
                f"{flag} {path} exists and was not written by make import-plan; move it away "
                "or choose another file name"
            )


def _written_here(path: Path, flag: str) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if flag == "--adopt-out":
        return text.startswith(ADOPT_HEADER)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return (
        isinstance(document, dict)
        and set(document) == {"resources"}
        and isinstance(document["resources"], list)
        and any(isinstance(r, dict) and r.get("component") for r in document["resources"])
    )


if __name__ == "__main__":
    sys.exit(main())
