"""The render never deletes a file it did not write: `make render OUT=.` refuses the checkout."""

from __future__ import annotations

import subprocess
from pathlib import Path

from offline import render


def run(out: Path, capsys) -> tuple[int, list[str]]:
    code = render.main(["--out", str(out)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.err.splitlines()


def test_a_folder_that_is_not_a_render_is_refused_and_left_alone(tmp_path, capsys):
    checkout = tmp_path / "checkout"
    (checkout / ".git").mkdir(parents=True)
    (checkout / "README.md").write_text("mine")
    code, lines = run(checkout, capsys)
    assert code == 2
    assert len(lines) == 1 and "not empty and holds no previous render" in lines[0]
    assert (checkout / "README.md").read_text() == "mine"
    assert (checkout / ".git").is_dir()
    assert sorted(p.name for p in checkout.iterdir()) == [".git", "README.md"]


def test_a_file_is_refused(tmp_path, capsys):
    target = tmp_path / "out"
    target.write_text("x")
    code, lines = run(target, capsys)
    assert code == 2 and "is a file" in lines[0]
    assert target.read_text() == "x"


def test_a_previous_render_is_replaced_but_foreign_files_in_it_survive(tmp_path, capsys):
    out = tmp_path / "rendered"
    assert run(out, capsys)[0] == 0
    marker = (out / render.MARKER).read_text().splitlines()
    assert "resources.json" in marker and "stalwart/config.toml" in marker
    (out / "notes.txt").write_text("mine")
    stale = out / "kubernetes" / "99-stale.yaml"
    stale.write_text("old")
    (out / render.MARKER).write_text(
        (out / render.MARKER).read_text() + "kubernetes/99-stale.yaml\n"
    )
    assert run(out, capsys)[0] == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert not stale.exists()
    assert (out / "resources.json").is_file()


def test_a_marker_cannot_reach_outside_the_folder(tmp_path, capsys):
    out = tmp_path / "rendered"
    assert run(out, capsys)[0] == 0
    precious = tmp_path / "precious.txt"
    precious.write_text("keep")
    (out / render.MARKER).write_text("../precious.txt\n/etc/hostname\n")
    assert run(out, capsys)[0] == 0
    assert precious.read_text() == "keep"


def test_an_empty_folder_is_used_and_kept(tmp_path, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    assert run(out, capsys)[0] == 0
    assert (out / "SUMMARY.md").is_file()


def test_clean_removes_a_render_and_nothing_else(tmp_path, capsys):
    out = tmp_path / "rendered"
    assert run(out, capsys)[0] == 0
    assert render.main(["--clean", "--out", str(out)]) == 0
    assert not out.exists()
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "README.md").write_text("mine")
    assert render.main(["--clean", "--out", str(checkout)]) == 0
    assert (checkout / "README.md").read_text() == "mine"


def test_an_empty_out_is_one_line_and_never_the_working_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.txt").write_text("mine")
    for argv in (["--out", ""], ["--out", " "], ["--clean", "--out", ""]):
        code = render.main(argv)
        captured = capsys.readouterr()
        assert code == 2
        assert captured.err.splitlines() == [
            "error: OUT is empty. Fix: OUT=rendered, or leave OUT unset."
        ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_a_name_pulumi_would_refuse_as_a_stack_is_one_line(tmp_path, capsys):
    for stack in ("", "../prod", "prod x", "prod\n", "a" * 101):
        code = render.main(["--stack", stack, "--out", str(tmp_path / "out")])
        lines = capsys.readouterr().err.splitlines()
        assert code == 2
        assert len(lines) == 1 and "is not a stack name" in lines[0] and "STACK=prod" in lines[0]
    assert not (tmp_path / "out").exists()


def test_make_passes_an_empty_out_or_stack_on_instead_of_dropping_the_argument():
    # Unquoted, `make render OUT=` left `--out` without a value: argparse's usage text, no fix.
    dry = subprocess.run(
        ["make", "-n", "render", "OUT=", "STACK="],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '--stack "" --out ""' in dry
