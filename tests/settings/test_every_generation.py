"""Every setting does what it says in every Stalwart generation, or is refused there; a secret
setting without the setting that reads it is said to be unused (issue 24 class 6). Through
`make render`'s entry point, as the owner meets them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from offline import render
from tests.conftest import BASE_CONFIG, SECRET_KEYS, V015_IMAGE, V016_IMAGE, stack_run

V016_DEPLOYMENT = ("kubernetes:apps/v1:Deployment", "stalwart-deployment")


def render_with(tmp_path: Path, capsys: Any, **settings: Any) -> tuple[int, str, str]:
    config = {k: v for k, v in BASE_CONFIG.items() if k not in SECRET_KEYS}
    config.update({f"mailstack:{key}": value for key, value in settings.items()})
    config["mailstack:resendApiKey"] = {"secure": "AAABAKx0QzAAAA=="}
    (tmp_path / "Pulumi.gen.yaml").write_text(yaml.safe_dump({"config": config}))
    out = tmp_path / "out"
    code = render.main(["--stack", "gen", "--config-dir", str(tmp_path), "--out", str(out)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out, captured.err


@pytest.mark.parametrize("uid", ["0", "00", "0000"])
def test_root_on_v016_is_refused_with_one_line(tmp_path, capsys, uid):
    code, _, err = render_with(tmp_path, capsys, image=V016_IMAGE, runAsUser=uid)
    assert code == 2
    (line,) = err.splitlines()
    assert line.startswith("error: mailstack:runAsUser: 0 would run Stalwart v0.16 as root")
    assert "Fix: pulumi config rm mailstack:runAsUser" in line
    assert not (tmp_path / "out").exists()


def test_root_on_v015_is_still_the_old_manifests_choice(tmp_path, capsys):
    code, _, err = render_with(tmp_path, capsys, image=V015_IMAGE, runAsUser="0")
    assert (code, err) == (0, "")


@pytest.mark.parametrize("uid", [1000, 2000, 65534])
def test_the_uid_is_applied_to_the_v016_pod(uid):
    run = stack_run({"mailstack:image": V016_IMAGE, "mailstack:runAsUser": str(uid)})
    context = run.get(*V016_DEPLOYMENT).inputs["spec"]["template"]["spec"]["securityContext"]
    assert (context["runAsUser"], context["runAsGroup"], context["fsGroup"]) == (uid, uid, uid)
    assert context["runAsNonRoot"] is True


def test_an_export_without_the_upgrade_is_said_to_be_unused(tmp_path, capsys):
    export = {"secure": "AAABAKx0QzAAAA=="}  # stored with --secret, as the render meets it
    code, out, err = render_with(tmp_path, capsys, image=V016_IMAGE, upgradeExport=export)
    assert (code, err) == (0, "")
    (warning,) = [line for line in out.splitlines() if line.startswith("warning: mailstack:")]
    assert warning.startswith("warning: mailstack:upgradeExport: is set but only the upgrade's")
    assert "Fix: pulumi config rm mailstack:upgradeExport" in warning
    assert "example.com" not in warning  # nothing of the export is quoted


def test_an_authentik_token_without_authentik_is_said_to_be_unused(tmp_path, capsys):
    code, out, _ = render_with(tmp_path, capsys, **{})
    assert code == 0 and "warning: mailstack:" not in out
    run = stack_run(
        {"authentik:token": "authentik-token-0123456789"},
        secret_keys={*SECRET_KEYS, "authentik:token"},
    )
    warnings = [message for level, message in run.logs if level == "warning"]
    assert any(
        w.startswith("mailstack:authentik: is not set, so authentik:token") for w in warnings
    )
    assert not any("authentik-token-0123456789" in w for w in warnings)
