"""`make render PREVIOUS=prev.json` (`--previous-outputs`) reads only a record this program
writes: anything else stops the render with one line, before a resource is registered (issue 24
class 3). The same check guards the record the engine hands back (settings/history.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline import render
from settings.history import record_problem
from tests.conftest import BASE_CONFIG, SECRET_KEYS, V015_IMAGE, V016_IMAGE

PRIMARY = {"claim": "stalwart-data", "generation": "0.15", "image": V015_IMAGE}
UPGRADED = {"claim": "stalwart-data-v016", "generation": "0.16", "image": V016_IMAGE}
WRITTEN = {"primary": PRIMARY, "serving": "primary", "upgradePhase": None}


def render_with_previous(tmp_path: Path, capsys: Any, previous: Any) -> tuple[int, list[str]]:
    config = {k: v for k, v in BASE_CONFIG.items() if k not in SECRET_KEYS}
    config["mailstack:resendApiKey"] = {"secure": "AAABAKx0QzAAAA=="}
    (tmp_path / "Pulumi.p.yaml").write_text(yaml.safe_dump({"config": config}))
    prev = tmp_path / "prev.json"
    prev.write_text(previous if isinstance(previous, str) else json.dumps(previous))
    out = tmp_path / "out"
    args = ["--stack", "p", "--config-dir", str(tmp_path), "--out", str(out)]
    code = render.main([*args, "--previous-outputs", str(prev)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    if code != 0:
        assert not out.exists()
    return code, captured.err.splitlines()


@pytest.mark.parametrize(
    ("record", "says"),
    [
        ("stalwart-data", "is not an object"),
        ({"serving": "primary"}, "has no primary entry"),
        ({**WRITTEN, "extra": 1}, "has the field(s) extra, which it never writes"),
        ({"primary": {**PRIMARY, "generation": "0.99"}}, "primary.generation is not 0.15 or"),
        ({"primary": {**PRIMARY, "generation": 0.15}}, "primary.generation is not 0.15 or"),
        ({"primary": {**PRIMARY, "claim": "../etc"}}, "primary.claim is not a claim name"),
        ({"primary": {**PRIMARY, "claim": ["a"]}}, "primary.claim is not a claim name"),
        ({"primary": {**PRIMARY, "image": "not an image"}}, "primary.image is not an image"),
        ({"primary": {**PRIMARY, "owner": "me"}}, "primary is not {claim, generation, image}"),
        ({"primary": PRIMARY, "upgraded": "yes"}, "upgraded is not {claim, generation, image}"),
        ({"primary": PRIMARY, "serving": "upgraded"}, "serving names no entry"),
        ({"primary": PRIMARY, "upgradePhase": "rollback"}, "upgradePhase is not stop or"),
        ({"primary": {"claim": "x" * 300, "generation": "0.15"}}, "primary.claim is not a claim"),
    ],
)
def test_a_record_this_program_never_writes_is_refused_with_one_line(
    tmp_path, capsys, record, says
):
    code, lines = render_with_previous(tmp_path, capsys, {"stalwartData": record, "smtpPort": 587})
    assert code == 2
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ") and "prev.json: stalwartData " in lines[0], lines[0]
    assert says in lines[0], lines[0]
    assert "Fix: pulumi stack output --json > prev.json (unedited)." in lines[0]


@pytest.mark.parametrize(
    "previous",
    ["[1, 2]", "not json at all", "{" * 10_000],
)
def test_a_file_that_is_not_the_outputs_is_refused_with_one_line(tmp_path, capsys, previous):
    code, lines = render_with_previous(tmp_path, capsys, previous)
    assert code == 2 and len(lines) == 1 and "prev.json: " in lines[0], lines


@pytest.mark.parametrize(
    "record",
    [
        WRITTEN,
        {"primary": {"claim": "stalwart-data", "generation": "0.15"}},  # before `image`
        {"primary": PRIMARY, "upgraded": UPGRADED, "serving": "upgraded", "upgradePhase": None},
        {"primary": PRIMARY, "upgraded": UPGRADED, "serving": None, "upgradePhase": "stop"},
    ],
)
def test_the_records_this_program_writes_are_read(record):
    assert record_problem(record) is None


def test_a_record_edited_in_the_state_stops_the_update_before_any_resource():
    from settings import SettingsError
    from tests.conftest import stack_run

    tampered = {"primary": {**PRIMARY, "generation": "0.16", "claim": "someone-elses-claim/x"}}
    run = stack_run(previous_outputs={"stalwartData": tampered}, check=False)
    assert isinstance(run.error, SettingsError)
    (line,) = run.error.problems
    assert line.startswith("stalwartData: the stack's last record primary.claim is not a claim")
    assert "never edit it by hand" in line
    assert run.resources == []
