"""The stack records which Stalwart generation its data claim holds, and refuses an image that
cannot run on it, before any resource is registered."""

from __future__ import annotations

import pytest

from settings import SettingsError
from tests.conftest import V015_IMAGE, V016_IMAGE, stack_run

V015_RECORD = {"stalwartData": {"primary": {"claim": "stalwart-data", "generation": "0.15"}}}
V016_RECORD = {"stalwartData": {"primary": {"claim": "stalwart-data", "generation": "0.16"}}}
# What the previous version of this program exported: outputs, but no record (it knew v0.15 only).
OLD_PROGRAM = {"smtpHost": "stalwart.stalwart.svc.cluster.local", "smtpPort": 587}


def refused(previous, **overrides) -> str:
    run = stack_run(overrides, check=False, previous_outputs=previous)
    assert isinstance(run.error, SettingsError), run.error
    assert run.resources == [], "registered before the refusal"
    (line,) = run.error.problems
    return line


@pytest.mark.parametrize(
    ("previous", "overrides", "says"),
    [
        (V015_RECORD, {"mailstack:image": V016_IMAGE}, "holds Stalwart v0.15 data"),
        (OLD_PROGRAM, {"mailstack:image": V016_IMAGE}, "holds Stalwart v0.15 data"),
        (
            {},
            {"mailstack:image": V016_IMAGE, "mailstack:adopt": {"kubernetes": True}},
            "holds Stalwart v0.15 data",
        ),
        (V016_RECORD, {"mailstack:image": V015_IMAGE}, "holds Stalwart v0.16 data"),
    ],
)
def test_an_image_that_cannot_run_on_the_claim_is_refused(previous, overrides, says):
    line = refused(previous, **overrides)
    assert line.startswith("mailstack:image: the data claim 'stalwart-data'")
    assert says in line and "Fix: " in line


def test_the_refusal_points_to_the_upgrade():
    line = refused(V015_RECORD, **{"mailstack:image": V016_IMAGE})
    assert "mailstack:upgrade" in line and "docs/how-to/upgrade-to-v016.md" in line


def test_a_later_change_of_the_default_image_cannot_start_v016_on_v015_data():
    # The owner removes the pinned image: the default (v0.16) would apply.
    run = stack_run(remove=("mailstack:image",), check=False, previous_outputs=V015_RECORD)
    assert isinstance(run.error, SettingsError)
    assert run.resources == []


@pytest.mark.parametrize(
    ("previous", "image", "generation"),
    [
        ({}, V016_IMAGE, "0.16"),
        ({}, V015_IMAGE, "0.15"),
        (V015_RECORD, V015_IMAGE, "0.15"),
        (OLD_PROGRAM, V015_IMAGE, "0.15"),
        (V016_RECORD, V016_IMAGE, "0.16"),
    ],
)
def test_matching_generations_run_and_the_record_is_exported_again(previous, image, generation):
    run = stack_run({"mailstack:image": image}, previous_outputs=previous)
    assert run.outputs["stalwartData"]["primary"]["generation"] == generation
