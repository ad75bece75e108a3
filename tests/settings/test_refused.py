"""Every row of the table of refused settings (settings/refused.py) through `make render`'s entry
point: exit 2, one line naming the key and the fix, no traceback, no file. The reference page
docs/reference/bad-settings.md is generated from the table (tests/docs checks it is current)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline import render
from settings import KEYS
from settings.refused import PLAINTEXT, REFUSED, Decrypted, Encrypted
from tests.conftest import BASE_CONFIG, SECRET_KEYS, refusal


def stack_file(tmp_path: Path, key: str, value: Any) -> None:
    config = {k: v for k, v in BASE_CONFIG.items() if k not in SECRET_KEYS}
    secure = {"mailstack:resendApiKey": {"secure": "AAABAKx0QzAAAA=="}}
    full_key = f"mailstack:{key}"
    if isinstance(value, Encrypted):
        secure[full_key] = {"secure": "AAABAKx0QzAAAA=="}
        config.pop(full_key, None)
    elif value == PLAINTEXT:
        secure.pop(full_key, None)
        config[full_key] = "re_Plaintext0123456789" if key == "resendApiKey" else "a" * 20
    elif value is None:
        config.pop(full_key, None)
        secure.pop(full_key, None)
    else:
        config[full_key] = value
    document = {"config": {**config, **secure}}
    if value is None and key == "resendApiKey":
        # The render stands in for an absent required secret; `pulumi up` would not. Mark the
        # key as configured-but-empty the way the CLI hands it over.
        document["config"][full_key] = ""
    (tmp_path / "Pulumi.bad.yaml").write_text(yaml.safe_dump(document))


def _row_id(row: tuple[str, Any, str]) -> str:
    """The key and the bad value itself, so a failing id says which value (secrets by kind)."""
    key, value, _ = row
    if isinstance(value, Decrypted):
        shown = f"secret:{value.value}"
    elif isinstance(value, Encrypted):
        shown = "encrypted"
    elif value is None or value == PLAINTEXT:
        shown = str(value).lower()
    else:
        shown = json.dumps(value, ensure_ascii=False)
    return f"{key}={shown[:60]}"


@pytest.mark.parametrize(("key", "value", "expected"), REFUSED, ids=map(_row_id, REFUSED))
def test_bad_value_stops_with_one_line_naming_key_and_fix(tmp_path, capsys, key, value, expected):
    if isinstance(value, Decrypted):
        line = refusal(key, value.value)
        assert expected in line
        assert value.value not in line, "the line echoes a secret"
        return
    stack_file(tmp_path, key, value)
    out = tmp_path / "out"
    code = render.main(["--stack", "bad", "--config-dir", str(tmp_path), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: mailstack:{key}: "), lines[0]
    assert expected in lines[0]
    assert "Fix: " in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert not out.exists()


def test_every_setting_has_a_bad_value_in_the_table():
    assert set(KEYS) <= {key for key, _, _ in REFUSED}
