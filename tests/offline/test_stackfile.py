"""Stack files read as the Pulumi CLI reads them (YAML 1.2, no duplicate keys), or refused with one
line naming the file and the line, through `make render`'s entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from offline import render

BASE = """\
config:
  mailstack:domain: example.com
  mailstack:cloudflareAccountId: 0123456789abcdef0123456789abcdef
  mailstack:cloudflareZoneId: fedcba9876543210fedcba9876543210
  mailstack:tunnelId: 6ff42ae2-765d-4adf-8112-31c55c1551ef
  mailstack:adminEmail: owner@gmail.com
  mailstack:resendDkimRecord: p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDtestkeyAB
"""


def render_text(tmp_path: Path, text: str, capsys) -> tuple[int, list[str], Path]:
    (tmp_path / "Pulumi.t.yaml").write_bytes(text.encode() if isinstance(text, str) else text)
    out = tmp_path / "out"
    code = render.main(["--stack", "t", "--config-dir", str(tmp_path), "--out", str(out)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.err.splitlines(), out


def inputs(out: Path, name: str) -> dict:
    records = json.loads((out / "resources.json").read_text())
    return next(r["inputs"] for r in records if r["name"] == name)


def test_yes_is_a_string_as_for_the_pulumi_cli(tmp_path, capsys):
    code, _, out = render_text(tmp_path, BASE + "  mailstack:webmailHostname: yes\n", capsys)
    assert code == 0
    rule = inputs(out, "stalwart-public-ingress")["spec"]["rules"][0]
    assert rule["host"] == "yes.example.com"


def test_a_leading_zero_is_decimal_as_in_yaml_12(tmp_path, capsys):
    code, _, out = render_text(
        tmp_path,
        BASE + "  mailstack:runAsUser: 0755\n  mailstack:image: stalwartlabs/stalwart:v0.15.5\n",
        capsys,
    )
    assert code == 0
    spec = inputs(out, "stalwart-deployment")["spec"]["template"]["spec"]
    assert spec["securityContext"]["fsGroup"] == 755


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ("  mailstack:tunnelOrigin:\n", "line 8: 'mailstack:tunnelOrigin' has no value"),
        ("  mailstack:domain: example.org\n", "line 8: the key 'mailstack:domain' appears twice"),
        ("\tmailstack:namespace: mail\n", "line 8"),
        ('  mailstack:webmailHostname: "mail\n', "found unexpected end of stream"),
        # The stack file cannot exhaust the machine (issue 24 class 4): no alias is expanded.
        (
            "  x: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
            "  y: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            "  mailstack:tunnelRoutes: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
            "line 9: an alias (*a); stack files hold plain values",
        ),
        ("  x: &d example.org\n  mailstack:webmailHostname: *d\n", "line 9: an alias (*d)"),
        ("  x: &m {host: h}\n  mailstack:relay: {<<: *m, port: 25}\n", "an alias (*m)"),
        ("  mailstack:adopt: &s {kubernetes: *s}\n", "line 8: an alias (*s)"),
    ],
)
def test_a_stack_file_the_cli_reads_otherwise_is_refused_with_its_line(
    tmp_path, capsys, extra, says
):
    code, lines, out = render_text(tmp_path, BASE + extra, capsys)
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: Pulumi.t.yaml: ") and says in lines[0], lines[0]
    assert "Fix: " in lines[0] or "appears twice" in lines[0] or "has no value" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("config:\n  - mailstack:domain: example.com\n", "`config:` must map keys to values"),
        ("- config\n", "must be a mapping with a `config:` key"),
        (b"config:\n  mailstack:domain: \xff\xfe\n", "is not UTF-8 text"),
        ("config:\n  1: x\n", "is not a name"),
        ("config:\n  mailstack:tunnelRoutes: " + "[" * 50_000, "nested too deeply"),
    ],
)
def test_a_malformed_stack_file_is_one_line(tmp_path, capsys, text, says):
    code, lines, _ = render_text(tmp_path, text, capsys)
    assert code == 2
    assert len(lines) == 1 and says in lines[0], lines


def test_a_stack_file_larger_than_any_the_cli_writes_is_refused_before_it_is_parsed(
    tmp_path, capsys
):
    filler = "  # " + "x" * 1000 + "\n"
    code, lines, out = render_text(tmp_path, BASE + filler * 2200, capsys)
    assert code == 2
    assert lines == [
        "error: Pulumi.t.yaml: is larger than 2 MiB, more than any stack file holds. Fix: "
        "restore it from git."
    ]
    assert not out.exists()
