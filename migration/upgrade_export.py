"""`make upgrade-export`: the running v0.15's accounts and settings, converted for v0.16 by the
official script, stored as the secret setting `mailstack:upgradeExport`.

    pulumi stack output adminPassword --show-secrets \\
        | python -m migration.upgrade_export --url http://localhost:18080 --store --stack prod

Runs `migrate_v016.py` (vendored whole, vendor/stalwart/PROVENANCE.md) in-process instead of its
`dump` and `convert` commands, so that neither the dump nor the export (password hashes, DKIM
keys) is ever written to a file: the admin password comes on stdin (never an argument, so not in
the shell history or `ps`), the export goes to stdout or, with `--store`, to the stdin of
`pulumi config set --secret`, which encrypts it into the stack file. Only counts and names go to
stderr. Paths are rewritten from /opt/stalwart to /var/lib/stalwart (the v0.16 image's data
volume; UPGRADING/v0_16.md "Docker"). The `SystemSettings` update is left out: v0.15 had no
`server.hostname` here (an empty one fails validation), and the plan sets hostname and default
domain. v0.15's DKIM keys are left out and every domain is created with Manual DKIM
management: v0.16 signs with every active DkimSignature of a domain whatever its management
mode (crates/common/src/cache/principals.rs `dkim_signers`; seen on the real v0.16.18: every
message left with the two old v0.15 signatures beside Resend's), and an Automatic domain would
have its keys generated at the first start; Resend signs (`resend._domainkey`). Every line is
checked against Stalwart's schema before anything is stored.

Exit 0 stored/printed, 2 on anything wrong (one line on stderr, no traceback, no secret).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import urllib.parse
from pathlib import Path
from types import ModuleType
from typing import Any

from incluster.client import Redactor
from migration.bounded_http import BoundedError, BoundedSession
from offline.stalwart_schema import plan_problems

# A homelab's settings pages and principals are KiB; a whole export takes seconds.
MAX_ANSWER_BYTES = 16 * 2**20
DEADLINE_SECONDS = 600.0
SCRIPT = Path(__file__).resolve().parent.parent / "vendor" / "stalwart" / "migrate_v016.py"
PATH_PATCHES = [("/opt/stalwart", "/var/lib/stalwart")]
SETTING = "mailstack:upgradeExport"


class ExportError(Exception):
    """A failure whose message is safe to print."""


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("migrate_v016", SCRIPT)
    if spec is None or spec.loader is None:
        raise ExportError(f"cannot load {SCRIPT}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Principal types the converter turns into v0.16 objects (migrate_v016.py `Converter`); any
# other type (API keys, OAuth clients, custom roles, resources, locations) is not carried over.
CONVERTED_TYPES = frozenset({"individual", "group", "list", "domain", "tenant"})


def losses(principals: list[dict[str, Any]]) -> list[str]:
    """What the v0.15 directory holds that the export does not carry, counted: the converter
    keeps only each account's main password (and its TOTP secret), never its app passwords or
    further passwords (migrate_v016.py `_build_credentials`), and no principal of another type."""
    app_passwords = extra_passwords = with_app = 0
    dropped: dict[str, int] = {}
    for principal in principals:
        kind = str(principal.get("type") or "?")
        if kind not in CONVERTED_TYPES:
            dropped[kind] = dropped.get(kind, 0) + 1
            continue
        raw = principal.get("secrets")
        secrets = [s for s in (raw if isinstance(raw, list) else [raw]) if isinstance(s, str)]
        apps = sum(s.startswith("$app$") for s in secrets)
        passwords = [s for s in secrets if not s.startswith(("$app$", "otpauth://"))]
        app_passwords += apps
        with_app += bool(apps)
        extra_passwords += max(0, len(passwords) - 1)
    lines = []
    if app_passwords:
        lines.append(f"{app_passwords} app password(s) of {with_app} account(s)")
    if extra_passwords:
        lines.append(f"{extra_passwords} password(s) beyond each account's first")
    lines += [f"{count} principal(s) of type {kind}" for kind, count in sorted(dropped.items())]
    return lines


def export_operations(
    script: Any, url: str, user: str, password: str, redact: Redactor
) -> tuple[list[dict[str, Any]], list[str]]:
    """The converted export of the v0.15 server at `url`, in load order, and what it loses."""
    client = script.StalwartClient(url, username=user, password=password, verify=True)
    # Credentials go to `url` only, and the whole export ends on its own (migration/bounded_http).
    session = BoundedSession(url, max_bytes=MAX_ANSWER_BYTES, deadline=DEADLINE_SECONDS)
    session.auth, session.verify = client.session.auth, True
    session.headers.update(client.session.headers)
    client.session = session
    try:
        settings = client.dump_all_settings()
        principals = [client.get_principal(name) for _, name in client.list_principal_names()]
        result = script.Converter(principals, settings).run()
    except (script.ApiError, script.ConvertError, BoundedError) as err:
        raise ExportError(redact(str(err)).splitlines()[0][:300]) from None
    except Exception as err:  # an answer of another shape than v0.15's: the script trips on it
        raise ExportError(
            f"the server's answers are not Stalwart v0.15's ({type(err).__name__}): is --url "
            "the v0.15 HTTP listener (port 8080 through the port-forward)?"
        ) from None
    result.pop("DataStore", None)  # the program renders config.json itself
    operations = script.build_export_ops(result)
    operations, _ = script.apply_path_patches(operations, PATH_PATCHES)
    kept = [op for op in operations if op.get("object") not in ("SystemSettings", "DkimSignature")]
    for op in kept:
        if op.get("object") == "Domain" and op["@type"] == "create":
            for domain in op["value"].values():
                domain["dkimManagement"] = {"@type": "Manual"}
    dkim = sum(len(op["value"]) for op in operations if op.get("object") == "DkimSignature")
    lost = losses(principals)
    if dkim:
        lost.append(f"{dkim} DKIM key(s): Resend signs the mail; left out on purpose")
    return kept, lost


def check(operations: list[dict[str, Any]]) -> None:
    problems = plan_problems(operations)
    if problems:
        raise ExportError(f"the export does not fit Stalwart's schema: {problems[0]}")
    if not any(op.get("object") == "Account" for op in operations):
        raise ExportError("the export holds no account: is this the right server?")


def summary(operations: list[dict[str, Any]]) -> str:
    parts = []
    for op in operations:
        count = len(op["value"]) if op["@type"] == "create" else 1
        parts.append(f"{op['@type']} {op['object']} ({count})")
    return "; ".join(parts)


def store(ndjson: str, stack: str) -> None:
    """`pulumi config set --secret` reading the value from stdin (no file, no argument)."""
    command = ["pulumi", "config", "set", "--secret", "--stack", stack, SETTING]
    try:
        subprocess.run(command, input=ndjson, text=True, check=True, capture_output=True)
    except FileNotFoundError:
        raise ExportError("the pulumi CLI is not on PATH") from None
    except subprocess.CalledProcessError as err:
        raise ExportError(f"pulumi config set failed (exit {err.returncode})") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m migration.upgrade_export")
    parser.add_argument("--url", required=True, help="the v0.15 HTTP listener (port-forward)")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--store", action="store_true", help=f"store it as {SETTING}")
    parser.add_argument("--stack", default="prod")
    args = parser.parse_args(argv)
    redact = Redactor()
    try:
        parts = urllib.parse.urlsplit(args.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ExportError(f"--url {args.url!r} is not an http(s) URL")
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise ExportError(
                "no admin password on stdin: pipe `pulumi stack output adminPassword "
                "--show-secrets` into this command"
            )
        redact.add(password)
        operations, lost = export_operations(load_script(), args.url, args.user, password, redact)
        for op in operations:
            for body in op["value"].values() if op["@type"] == "create" else [op["value"]]:
                redact.add(json.dumps(body))
        check(operations)
        ndjson = "".join(json.dumps(op, ensure_ascii=False) + "\n" for op in operations)
        print(f"upgrade-export: {summary(operations)}", file=sys.stderr)
        print(
            "upgrade-export: will NOT survive the upgrade: "
            + ("; ".join(lost) if lost else "no app password, extra password or other principal")
            + " (docs/how-to/upgrade-to-v016.md, 'What the upgrade loses')",
            file=sys.stderr,
        )
        if args.store:
            store(ndjson, args.stack)
            print(f"upgrade-export: stored as {SETTING} (encrypted)", file=sys.stderr)
        else:
            sys.stdout.write(ndjson)
    except ExportError as err:
        print(f"upgrade-export: error: {redact(str(err))}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
