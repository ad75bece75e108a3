"""The manual's generated pages (scripts/docs.py) are what `make docs` would write now: a key, a
refusal, an export, a module or a make target changed without `make docs` fails here."""

from __future__ import annotations

from scripts import docs
from settings import PROVIDER_SECRETS
from settings.keys import KEYS, PROVIDER_KEYS


def test_no_generated_page_is_stale():
    stale = [str(page.relative_to(docs.ROOT)) for page in docs.stale()]
    assert not stale, f"stale: {stale}; run make docs"


def test_the_check_mode_names_a_stale_page_and_fails(tmp_path, monkeypatch, capsys):
    page = tmp_path / "settings.md"
    page.write_text("# Settings\n\n<!-- settings:begin -->\nold\n<!-- settings:end -->\n")
    monkeypatch.setattr(docs, "PAGES", {"settings": (page, docs.settings_table)})
    monkeypatch.setattr(docs, "ROOT", tmp_path)
    assert docs.main(["--check"]) == 1
    assert "settings.md is stale" in capsys.readouterr().err
    assert "old" in page.read_text(), "--check wrote the page"
    assert docs.main([]) == 0
    assert docs.main(["--check"]) == 0


def test_every_key_says_what_it_does():
    assert not [key for key, spec in KEYS.items() if not spec.doc.strip()]


def test_the_provider_keys_listed_are_the_secret_ones_with_their_variable():
    assert {
        key: spec.env for key, spec in PROVIDER_KEYS.items()
    }.items() <= PROVIDER_SECRETS.items()


def test_every_default_in_the_settings_page_is_the_key_tables():
    """A default shown in the page is rendered from the table, never typed: spot-check the
    structured ones a hand-written table got wrong before."""
    table = docs.settings_table()
    for key in ("relay", "backup", "monitoring", "ingressNamespaces"):
        row = next(line for line in table.splitlines() if line.startswith(f"| `mailstack:{key}`"))
        assert docs._flow(KEYS[key].default) in row.replace("\\|", "|")


def test_an_export_without_a_comment_is_refused(tmp_path, monkeypatch):
    (tmp_path / "__main__.py").write_text('import pulumi\npulumi.export("x", 1)\n')
    monkeypatch.setattr(docs, "ROOT", tmp_path)
    try:
        docs.outputs_table()
    except SystemExit as stop:
        assert "export 'x' has no comment" in str(stop)
    else:
        raise AssertionError("an undocumented export passed")
