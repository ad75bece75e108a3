"""scripts/drift_report.py against `pulumi preview --json` documents shaped like the CLI's
PreviewDigest (pulumi/pulumi sdk/go/common/display/json.go): steps with op, urn, diffReasons."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scripts.drift_report import main

ROOT = Path(__file__).resolve().parents[2]
STACK = "urn:pulumi:prod::mailstack::"
CNAME = (
    STACK + "mailstack:cloudflare:TunnelRoute$cloudflare:index/dnsRecord:DnsRecord::webmail-cname"
)
DEPLOYMENT = STACK + "kubernetes:apps/v1:Deployment::stalwart-deployment"
SECRET_VALUE = "re_live_do_not_print"


def digest(*steps: dict) -> dict:
    summary: dict[str, int] = {}
    for step in steps:
        summary[step["op"]] = summary.get(step["op"], 0) + 1
    return {
        "config": {"mailstack:resendApiKey": "[secret]"},
        "steps": list(steps),
        "changeSummary": summary,
    }


def run(tmp_path: Path, document: object, status: int) -> tuple[int, str, str]:
    path = tmp_path / "drift.json"
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    summary = tmp_path / "summary.md"
    result = subprocess.run(
        [
            sys.executable,
            "scripts/drift_report.py",
            str(path),
            "--status",
            str(status),
            "--summary",
            str(summary),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in result.stderr
    return result.returncode, result.stdout, summary.read_text() if summary.exists() else ""


def test_nothing_drifted_is_green(tmp_path):
    code, out, summary = run(
        tmp_path, digest({"op": "same", "urn": CNAME}, {"op": "same", "urn": DEPLOYMENT}), 0
    )
    assert (code, out) == (0, "")
    assert "No drift" in summary


def test_each_drifted_resource_is_named_with_its_properties_and_never_a_value(tmp_path):
    update = {
        "op": "update",
        "urn": CNAME,
        "diffReasons": ["content", "proxied"],
        "oldState": {"inputs": {"content": SECRET_VALUE}},
        "newState": {"inputs": {"content": "x"}},
    }
    code, out, summary = run(tmp_path, digest(update, {"op": "same", "urn": DEPLOYMENT}), 255)
    assert code == 1
    assert out.splitlines() == [
        "::error title=drift::cloudflare:index/dnsRecord:DnsRecord webmail-cname: "
        "update (content, proxied)"
    ]
    assert (
        "| update | `cloudflare:index/dnsRecord:DnsRecord` | `webmail-cname` | content, proxied |"
        in summary
    )
    assert SECRET_VALUE not in out + summary


def test_a_resource_deleted_by_hand_shows_as_a_create(tmp_path):
    code, out, _ = run(tmp_path, digest({"op": "create", "urn": DEPLOYMENT}), 255)
    assert code == 1
    assert "stalwart-deployment: create ((whole resource))" in out


def test_a_name_cannot_start_a_workflow_command(tmp_path):
    hostile = STACK + "kubernetes:core/v1:Secret::x\n::add-mask::y%"
    code, out, _ = run(
        tmp_path, digest({"op": "update", "urn": hostile, "diffReasons": ["data"]}), 255
    )
    assert code == 1
    assert len(out.splitlines()) == 1 and "%0A" in out and "%25" in out
    assert "::add-mask::" not in out


def test_a_preview_that_failed_before_comparing_keeps_its_status(tmp_path):
    code, out, summary = run(tmp_path, "", 255)
    assert code == 255
    assert "::error title=drift check::preview failed with status 255" in out
    assert "Drift check failed" in summary


def test_no_json_and_no_status_is_not_green(tmp_path):
    assert run(tmp_path, "not json", 0)[0] == 2


def test_without_summary_the_markdown_goes_to_stdout(tmp_path, capsys):
    path = tmp_path / "d.json"
    path.write_text(json.dumps(digest({"op": "delete", "urn": DEPLOYMENT})))
    assert main([str(path), "--status", "255"]) == 1
    assert "| delete |" in capsys.readouterr().out
