"""`make import-plan`: OpenTofu state samples to import file, adopt.yaml, leftovers, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.cloudflare.resources import RESOURCES
from migration.import_plan.__main__ import main as import_plan_main
from migration.import_plan.recognise import build_plan
from migration.import_plan.state import load_stack, load_state

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "tfstate"
STACK_FILE = FIXTURES / "Pulumi.prod.yaml"
SAMPLES = ["v5-runbook", "v4-provider-relative", "v5-other-services"]
ADOPT_KEYS = [
    "webmailTunnelConfig",
    "webmailCname",
    "emailRoutingSettings",
    "emailRoutingDns",
    "emailRoutingAddress",
    "emailRoutingCatchAll",
    "resendDkim",
    "resendBounceMx",
    "resendSpf",
    "resendDmarc",
]


def run(tmp_path: Path, sample: str, *extra: str) -> tuple[int, str, Path, Path]:
    out, adopt = tmp_path / "import.json", tmp_path / "adopt.yaml"
    printed: list[str] = []
    code = import_plan_main(
        [
            "--tfstate",
            str(FIXTURES / f"{sample}.json"),
            "--out",
            str(out),
            "--stack-file",
            str(STACK_FILE),
            *extra,
        ],
        write=printed.append,
    )
    return code, "".join(printed), out, adopt


@pytest.mark.parametrize("sample", SAMPLES)
def test_import_file_equals_expected(tmp_path, sample):
    code, _, out, _ = run(tmp_path, sample)
    assert code == 0
    expected = json.loads((FIXTURES / f"{sample}.expected.json").read_text())
    assert json.loads(out.read_text()) == expected


@pytest.mark.parametrize("sample", SAMPLES)
def test_adopt_yaml_holds_the_same_ids(tmp_path, sample):
    run(tmp_path, sample)
    adopt = tmp_path / "adopt.yaml"  # default: next to --out
    document = yaml.safe_load(adopt.read_text())
    cloudflare = document["mailstack:adopt"]["cloudflare"]
    assert list(cloudflare) == ADOPT_KEYS
    assert list(document["mailstack:adopt"]) == ["kubernetes", "cloudflare"]
    assert document["mailstack:adopt"]["kubernetes"] is True
    ids = {
        entry["name"]: entry["id"]
        for entry in json.loads((FIXTURES / f"{sample}.expected.json").read_text())["resources"]
        if "id" in entry
    }
    names = {resource.adopt_key: resource.name for resource in RESOURCES}
    assert cloudflare == {key: ids[names[key]] for key in ADOPT_KEYS}


def test_adopt_out_can_be_named(tmp_path):
    code, _, _, _ = run(tmp_path, "v5-runbook", "--adopt-out", str(tmp_path / "x.yaml"))
    assert code == 0
    assert (tmp_path / "x.yaml").exists()
    assert not (tmp_path / "adopt.yaml").exists()


def test_import_file_entries_match_the_program(default_run):
    """Types, logical names and parents are those the program registers (same URNs)."""
    entries = json.loads((FIXTURES / "v5-runbook.expected.json").read_text())["resources"]
    by_name = {entry["name"]: entry for entry in entries}
    for entry in entries:
        registration = default_run.get(entry["type"], entry["name"])
        assert registration.custom is not entry.get("component", False)
        parent = default_run.name_of(registration.parent_urn)
        if entry.get("component"):
            assert "id" not in entry and "parent" not in entry
            assert parent is None
        else:
            assert entry["parent"] == parent
            assert by_name[entry["parent"]]["component"] is True
    cloudflare = [
        r.name for r in default_run.resources if r.custom and r.type.startswith("cloudflare:")
    ]
    assert sorted(cloudflare) == sorted(e["name"] for e in entries if "id" in e)


def test_leftovers_and_state_rm(tmp_path):
    code, printed, _, _ = run(tmp_path, "v5-other-services")
    assert code == 0
    plan = build_plan(
        load_state(FIXTURES / "v5-other-services.json"),
        load_stack(STACK_FILE, None),
    )
    assert [address for address, _ in plan.leftovers] == [
        "cloudflare_zero_trust_tunnel_cloudflared.homelab",
        "cloudflare_zero_trust_tunnel_cloudflared_config.nas",
        "cloudflare_dns_record.auth",
        "cloudflare_dns_record.grafana",
        "cloudflare_dns_record.www",
        "cloudflare_dns_record.google_mx",
        "cloudflare_dns_record.lists_spf",
        "cloudflare_email_routing_address.partner",
        "cloudflare_email_routing_rule.partner",
    ]
    for address, _ in plan.leftovers:
        assert address in printed
    assert "data.cloudflare_zone.main" not in printed
    assert "tofu state rm 'cloudflare_dns_record.www'" not in printed
    assert plan.state_rm_commands() == [
        "tofu state rm 'cloudflare_zero_trust_tunnel_cloudflared_config.homelab'",
        "tofu state rm 'cloudflare_dns_record.mail'",
        "tofu state rm 'cloudflare_email_routing_settings.chronobyte'",
        "tofu state rm 'cloudflare_email_routing_address.admin'",
        "tofu state rm 'cloudflare_email_routing_catch_all.forward_to_admin'",
        "tofu state rm 'cloudflare_dns_record.resend_dkim'",
        "tofu state rm 'cloudflare_dns_record.resend_spf_mx'",
        "tofu state rm 'cloudflare_dns_record.resend_spf_txt'",
        "tofu state rm 'cloudflare_dns_record.resend_dmarc'",
    ]
    for command in plan.state_rm_commands():
        assert command in printed
    assert "Check before" not in printed  # the stack file agrees with this state


def test_v4_provider_state(tmp_path):
    code, printed, _, _ = run(tmp_path, "v4-provider-relative")
    assert code == 0
    assert "tofu state rm 'module.cloudflare.cloudflare_record.resend[\"dkim\"]'" in printed
    assert "module.cloudflare.cloudflare_record.apex_verification" in printed
    plan = build_plan(
        load_state(FIXTURES / "v4-provider-relative.json"),
        load_stack(STACK_FILE, None),
    )
    # v4 durations become seconds, v4-only and unset origin settings are left out
    assert plan.tunnel_routes == [
        {
            "hostname": "auth.example.com",
            "service": "http://traefik.kube-system.svc.cluster.local:80",
        },
        {
            "hostname": "nas.example.com",
            "service": "https://192.168.1.20:5001",
            "originRequest": {"connectTimeout": 30, "keepAliveTimeout": 90, "noTlsVerify": True},
        },
    ]
    assert any("resendRegion is us-east-1" in w and "eu-west-1" in w for w in plan.warnings)
    assert any(w.startswith("mailstack:tunnelRoutes") for w in plan.warnings)


BAD = [
    ("bad-not-json", "is not JSON (line 1, column 1"),
    ("bad-version-3", "has state format version 3, expected 4"),
    ("bad-no-resources", "has no resources"),
    ("bad-missing-dkim", "missing from the state: the TXT resend._domainkey.example.com"),
    (
        "bad-two-dmarc",
        "two candidates for the TXT _dmarc.example.com v=DMARC1: "
        "cloudflare_dns_record.resend_dmarc, cloudflare_dns_record.dmarc_old",
    ),
    ("bad-mixed-zones", "mixed zone ids: fedcba9876543210fedcba9876543210 (cloudflare_dns_record"),
]


@pytest.mark.parametrize(("sample", "message"), BAD)
def test_bad_state_in_process(tmp_path, capsys, sample, message):
    code, printed, out, adopt = run(tmp_path, sample)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.startswith("import-plan: error: ") and err.count("\n") == 1
    assert printed == ""
    assert not out.exists() and not adopt.exists()


@pytest.mark.parametrize(("sample", "message"), [BAD[0], BAD[4]])
def test_bad_state_cli(tmp_path, sample, message):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "migration.import_plan",
            "--tfstate",
            str(FIXTURES / f"{sample}.json"),
            "--out",
            str(tmp_path / "import.json"),
            "--stack-file",
            str(STACK_FILE),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_missing_catch_all_destination_names_the_address(tmp_path, capsys):
    state = json.loads((FIXTURES / "v5-runbook.json").read_text())
    for resource in state["resources"]:
        if resource["type"] == "cloudflare_email_routing_address":
            resource["instances"][0]["attributes"]["email"] = "someone.else@gmail.com"
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))
    code = import_plan_main(
        ["--tfstate", str(path), "--out", str(tmp_path / "i.json"), "--stack-file", str(STACK_FILE)]
    )
    assert code == 2
    assert "destination address of the catch-all (homelab.owner@gmail.com)" in (
        capsys.readouterr().err
    )


def test_domain_comes_from_the_stack_file_or_the_flag(tmp_path, capsys):
    code, _, _, _ = run(tmp_path, "v5-runbook", "--domain", "example.org")
    assert code == 2
    assert "; the CNAME mail.example.org -> " in capsys.readouterr().err
    missing = tmp_path / "none.yaml"
    code = import_plan_main(
        [
            "--tfstate",
            str(FIXTURES / "v5-runbook.json"),
            "--out",
            str(tmp_path / "i.json"),
            "--stack-file",
            str(missing),
        ]
    )
    assert code == 2
    assert "no --domain given" in capsys.readouterr().err


def test_adopt_yaml_is_accepted_by_the_program(tmp_path):
    # The snippet the tool writes, pasted into the stack it was made for, imports all ten
    # Cloudflare resources plus the namespace and the claim, and passes every settings check.
    from offline.harness import run_program
    from tests.conftest import DKIM, RESEND_KEY

    run(tmp_path, "v5-runbook")
    stack = yaml.safe_load((FIXTURES / "Pulumi.prod.yaml").read_text())["config"]
    adopt = yaml.safe_load((tmp_path / "adopt.yaml").read_text())
    config = {
        **stack,
        **adopt,
        "mailstack:resendApiKey": RESEND_KEY,
        "mailstack:resendDkimRecord": DKIM,
    }
    program = run_program(config, {"mailstack:resendApiKey"})
    imported = {r.name for r in program.resources if r.import_id}
    assert len(imported) == 12
    assert {"stalwart-namespace", "stalwart-data"} <= imported


def plan_cli(tmp_path: Path, state: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "migration.import_plan",
            "--tfstate",
            str(state),
            "--out",
            str(out),
            "--stack-file",
            str(STACK_FILE),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Traceback" not in result.stderr
    return result.returncode, result.stderr


@pytest.mark.parametrize(
    ("out", "extra", "says"),
    [
        ("state.json", (), "--out {tmp}/state.json is an input of this run"),
        ("import.json", ("--adopt-out", "{stack}"), "--adopt-out {stack} is an input of this run"),
        ("import.json", ("--adopt-out", "{tmp}/import.json"), "are both"),
        ("notes.json", (), "exists and was not written by make import-plan"),
        ("import.json", ("--adopt-out", "{tmp}/notes.json"), "--adopt-out {tmp}/notes.json exists"),
        ("sub", (), "is a folder"),
    ],
)
def test_an_output_that_is_an_input_or_someone_elses_file_is_refused(tmp_path, out, extra, says):
    state = tmp_path / "state.json"
    state.write_bytes((FIXTURES / "v5-runbook.json").read_bytes())
    (tmp_path / "notes.json").write_text("my notes\n")
    (tmp_path / "sub").mkdir()
    fill = {"tmp": str(tmp_path), "stack": str(STACK_FILE)}
    before = {p: p.read_bytes() for p in (state, STACK_FILE, tmp_path / "notes.json")}
    code, err = plan_cli(tmp_path, state, tmp_path / out, *(e.format(**fill) for e in extra))
    assert code == 2
    assert err.count("\n") == 1 and says.format(**fill) in err, err
    assert {p: p.read_bytes() for p in before} == before


def test_a_second_run_overwrites_what_the_first_wrote(tmp_path):
    state = tmp_path / "state.json"
    state.write_bytes((FIXTURES / "v5-runbook.json").read_bytes())
    assert plan_cli(tmp_path, state, tmp_path / "import.json")[0] == 0
    assert plan_cli(tmp_path, state, tmp_path / "import.json")[0] == 0


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_a_state_saved_by_powershell_is_read(tmp_path, encoding):
    state = tmp_path / "state.json"
    state.write_bytes((FIXTURES / "v5-runbook.json").read_text().encode(encoding))
    code, err = plan_cli(tmp_path, state, tmp_path / "import.json")
    assert code == 0, err
    expected = json.loads((FIXTURES / "v5-runbook.expected.json").read_text())
    assert json.loads((tmp_path / "import.json").read_text()) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (b"\xff\xfe\x00\xd8", "is not UTF-8 or UTF-16 text"),
        (b"\x80\x81", "is not UTF-8 or UTF-16 text"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"version": 4, "resources": [{"type": "x", "name": "y", "instances": {}}]}', "x.y"),
        (b'{"version": 4, "resources": [{"type": "x", "name": "y", "instances": [1]}]}', "x.y"),
        (b'{"version": 4, "resources": [7]}', "resources[0] is not an object"),
    ],
)
def test_a_malformed_state_is_one_line(tmp_path, text, says):
    state = tmp_path / "state.json"
    state.write_bytes(text)
    code, err = plan_cli(tmp_path, state, tmp_path / "import.json")
    assert code == 2
    assert err.startswith("import-plan: error: ") and err.count("\n") == 1 and says in err, err


def test_a_route_behind_access_comes_out_as_the_stack_file_spells_it(tmp_path):
    state = json.loads((FIXTURES / "v5-runbook.json").read_text())
    for resource in state["resources"]:
        if resource["type"] == "cloudflare_zero_trust_tunnel_cloudflared_config":
            rules = resource["instances"][0]["attributes"]["config"]["ingress"]
            rules.insert(
                0,
                {
                    "hostname": "admin.example.com",
                    "service": "http://admin:80",
                    "origin_request": {
                        "access": {"aud_tag": ["aud1"], "team_name": "home", "required": True}
                    },
                },
            )
    path = tmp_path / "state.json"
    path.write_text(json.dumps(state))
    plan = build_plan(load_state(path), load_stack(STACK_FILE, None))
    route = next(r for r in plan.tunnel_routes if r["hostname"] == "admin.example.com")
    assert route["originRequest"] == {
        "access": {"audTags": ["aud1"], "teamName": "home", "required": True}
    }
