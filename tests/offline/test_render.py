"""`make render`: the whole stack offline, validated against real references."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from components.stalwart.v015 import config_toml as sc
from offline import render
from offline.harness import PROJECT_ROOT
from scripts.lock import read_lock
from settings import SECRET_PLACEHOLDERS
from tests.conftest import BASE_CONFIG, DEFAULT_MECHANISMS, DEFAULT_RELAY, SECRET_KEYS

# A real sha512-crypt hash (the reconciler's source mentions the `$6$` prefix in prose).
SHA512_CRYPT = re.compile(r"\$6\$(rounds=\d+\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{86}")
CUSTOM_RESOURCE_APIS = {"longhorn.io/v1beta2"}
# k3s releases track upstream Kubernetes; 1.31 is the oldest line the homelab may run.
KUBERNETES_VERSIONS = ["1.31.0", "1.33.0"]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("render") / "rendered"
    assert render.main(["--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def rendered_v016(tmp_path_factory) -> Path:
    """The example stack as a new homelab would write it: no image pinned, so v0.16."""
    stacks = tmp_path_factory.mktemp("stacks")
    example = (PROJECT_ROOT / "Pulumi.prod.yaml").read_text()
    lines = [line for line in example.splitlines() if "mailstack:image:" not in line]
    (stacks / "Pulumi.fresh.yaml").write_text("\n".join(lines) + "\n")
    out = tmp_path_factory.mktemp("render16") / "rendered"
    assert render.main(["--stack", "fresh", "--config-dir", str(stacks), "--out", str(out)]) == 0
    return out


def manifests(rendered: Path) -> list[Path]:
    return sorted((rendered / "kubernetes").glob("*.yaml"))


def test_render_writes_every_artifact(rendered):
    for item in ("resources.json", "SUMMARY.md", "stalwart/config.toml"):
        assert (rendered / item).is_file(), item
    kinds = sorted(yaml.safe_load(p.read_text())["kind"] for p in manifests(rendered))
    assert kinds == [
        "ConfigMap",
        "ConfigMap",
        "Deployment",
        "Deployment",  # authentik-server's pod template annotation (a patch)
        "Deployment",  # authentik-worker's
        "Ingress",
        "Ingress",
        "Job",
        "Namespace",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "RecurringJob",
        "Secret",
        "Secret",
        "Secret",
        "Secret",
        "Service",
    ]


@pytest.mark.parametrize("generation", ["v0.15", "v0.16"])
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_validates_strictly_against_the_kubernetes_schema(
    rendered, rendered_v016, version, generation
):
    for path in manifests(rendered if generation == "v0.15" else rendered_v016):
        document = yaml.safe_load(path.read_text())
        if document["apiVersion"] in CUSTOM_RESOURCE_APIS:
            continue  # no schema in kubernetes-validate; checked in tests/test_hardening.py
        if re.match(r"\d+-[a-z]+-patch-", path.name):
            # A patch holds only the fields it sets: the object's required fields are filled in
            # so that the patch's own fields are still checked strictly.
            document = merge(PATCH_SKELETONS.get(document["kind"], {}), document)
        kubernetes_validate.validate(document, version, strict=True)


PATCH_SKELETONS: dict[str, dict] = {
    "Deployment": {"spec": {"selector": {}, "template": {"spec": {"containers": []}}}},
    "StatefulSet": {"spec": {"selector": {}, "template": {"spec": {"containers": []}}}},
}


def merge(base: dict, over: dict) -> dict:
    merged = dict(base)
    for key, value in over.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = merge(merged[key], value) if both else value
    return merged


def test_the_validator_rejects_an_unknown_field():
    # Proof that the check above can fail: a field Kubernetes does not know.
    bad = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"strategyy": {"type": "Recreate"}, "selector": {}, "template": {}},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSIONS[0], strict=True)


def test_resources_json_records_options_and_is_sorted_by_urn(rendered):
    records = json.loads((rendered / "resources.json").read_text())
    names = {(r["type"], r["name"]): r for r in records}
    claim = names[("kubernetes:core/v1:PersistentVolumeClaim", "stalwart-data")]
    assert (claim["protect"], claim["retainOnDelete"], claim["parent"]) == (True, True, "stalwart")
    assert names[("mailstack:stalwart:StalwartServer", "stalwart")]["parent"] is None
    assert set(records[0]) == {
        "type",
        "name",
        "parent",
        "inputs",
        "protect",
        "retainOnDelete",
        "dependsOn",
        "import",
    }
    secret = names[("kubernetes:core/v1:Secret", "stalwart-secrets")]
    assert secret["inputs"]["stringData"] == "[secret]"


def test_two_renders_are_byte_identical(rendered, tmp_path):
    again = tmp_path / "again"
    assert render.main(["--out", str(again)]) == 0
    for path in sorted(rendered.rglob("*")):
        if path.is_file():
            assert path.read_bytes() == (again / path.relative_to(rendered)).read_bytes(), path


def test_rendered_config_is_what_stalwart_reads(rendered):
    text = (rendered / "stalwart" / "config.toml").read_text()
    assert tomllib.loads(text) == sc.render_config(
        DEFAULT_RELAY, DEFAULT_MECHANISMS, "mail.example.com"
    )


def test_no_secret_stand_in_reaches_any_rendered_file(rendered):
    for path in rendered.rglob("*"):
        if path.is_file():
            text = path.read_text()
            for placeholder in SECRET_PLACEHOLDERS.values():
                assert placeholder not in text, path
            assert not SHA512_CRYPT.search(text), path


def test_summary_lists_every_resource_with_its_protection(rendered):
    summary = (rendered / "SUMMARY.md").read_text()
    claim = "| `kubernetes:core/v1:PersistentVolumeClaim` | stalwart-data | yes | yes | - | - |"
    secret = "| `kubernetes:core/v1:Secret` | stalwart-secrets | no | no | `stringData` | - |"
    assert claim in summary
    assert secret in summary
    assert '| adminPassword | `"[secret]"` |' in summary


def test_encrypted_settings_get_stand_ins_and_stay_secret(tmp_path):
    (tmp_path / "Pulumi.enc.yaml").write_text(
        "config:\n"
        "  mailstack:domain: example.net\n"
        "  mailstack:resendApiKey:\n"
        "    secure: AAABAJ2Ho0c6b0p3xKGs8m0zCzAAAA==\n"
        "  cloudflare:apiToken:\n"
        "    secure: AAABAKx0QzAAAA==\n"
    )
    config, secret_keys = render.load_stack_config("enc", tmp_path)
    assert config["mailstack:resendApiKey"] == SECRET_PLACEHOLDERS["mailstack:resendApiKey"]
    assert secret_keys == {"mailstack:resendApiKey", "cloudflare:apiToken"}
    assert "mailstack:adminPassword" not in config  # optional: the render shows it generated


def run_render_cli(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    config = {k: v for k, v in BASE_CONFIG.items() if k not in SECRET_KEYS}
    config.update({f"mailstack:{key}": value for key, value in overrides.items()})
    (tmp_path / "Pulumi.cli.yaml").write_text(yaml.safe_dump({"config": config}))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "offline.render",
            "--stack",
            "cli",
            "--config-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_command_line_exits_0_and_prints_the_files_and_the_warnings(tmp_path):
    # The one render in a separate process: what `make render` runs. Bad settings (exit 2, one
    # line, no traceback) go through the same entry point in tests/settings/test_refused.py.
    result = run_render_cli(tmp_path, domain="example.org")
    assert result.returncode == 0, result.stderr
    assert "rendered stack 'cli'" in result.stdout
    assert (tmp_path / "out" / "resources.json").is_file()
    assert "warning: Email Routing destination owner@gmail.com is not verified" in result.stdout
    assert "Traceback" not in result.stderr + result.stdout


def test_render_includes_every_cloudflare_resource(rendered):
    records = json.loads((rendered / "resources.json").read_text())
    cloudflare_types = sorted(r["type"] for r in records if r["type"].startswith("cloudflare:"))
    assert cloudflare_types == sorted(
        ["cloudflare:index/dnsRecord:DnsRecord"] * 5
        + [
            "cloudflare:index/emailRoutingAddress:EmailRoutingAddress",
            "cloudflare:index/emailRoutingCatchAll:EmailRoutingCatchAll",
            "cloudflare:index/emailRoutingDns:EmailRoutingDns",
            "cloudflare:index/emailRoutingSettings:EmailRoutingSettings",
            "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig",
        ]
    )


def test_summary_has_the_dns_table(rendered):
    summary = (rendered / "SUMMARY.md").read_text()
    assert "| name | type | content | ttl | proxied | priority |" in summary
    assert (
        "| send.example.com | MX | `feedback-smtp.us-east-1.amazonses.com` | auto | no | 10 |"
        in summary
    )
    assert (
        "| mail.example.com | CNAME | `6ff42ae2-765d-4adf-8112-31c55c1551ef.cfargotunnel.com`"
        " | auto | yes | - |" in summary
    )


def test_a_v016_render_writes_config_json_and_the_plans(rendered_v016):
    stalwart = rendered_v016 / "stalwart"
    assert sorted(p.name for p in stalwart.iterdir()) == [
        "config.json",
        "plan.ndjson",
        "reload.ndjson",
    ]
    assert json.loads((stalwart / "config.json").read_text())["@type"] == "RocksDb"
    lines = (stalwart / "plan.ndjson").read_text().splitlines()
    assert json.loads(lines[0])["object"] == "Domain"


def test_the_summary_says_which_generation_runs(rendered, rendered_v016):
    v015 = (rendered / "SUMMARY.md").read_text()
    assert "- Generation: **v0.15**." in v015
    assert (
        "- The primary claim `stalwart-data` holds v0.15 data; `stalwartlabs/stalwart:v0.15.5` "
        "on it serves." in v015
    )
    assert "- Upgrade phase: none." in v015
    assert "- Generation: **v0.16**." in (rendered_v016 / "SUMMARY.md").read_text()


def test_summary_lists_the_cli_pin_and_the_locked_provider_plugins(rendered):
    summary = (rendered / "SUMMARY.md").read_text()
    lock = read_lock(PROJECT_ROOT / "requirements.txt")
    cli = (PROJECT_ROOT / ".pulumi-version").read_text().strip()
    assert f"| Pulumi CLI (`.pulumi-version`) | {cli} |" in summary
    for name in ("cloudflare", "kubernetes", "random"):
        version = lock[f"pulumi-{name}"].version
        assert (
            f"| provider plugin `{name}` (SDK `pulumi-{name}` {version}) | {version} |" in summary
        )
