"""The stack's own Secrets and workloads are recognisable by name (settings.across.stack_owned),
so that no service account can deliver into one or restart one (issue 24 class 2). Every
configuration that creates objects is rendered here and every object held to the rule: a new
object named otherwise fails this test before an owner's rotation could restart the mail server."""

from __future__ import annotations

import pytest

from settings.across import stack_owned
from tests.conftest import V016_IMAGE, refusals, stack_run
from tests.stalwart.test_upgrade import COPIED, EXPORT, V015
from tests.stalwart.test_upgrade import run as upgrade_run

KINDS = ("Secret", "Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job", "ConfigMap")
MONITORING = {"enabled": True, "release": "kps"}
NAMESPACES = {"stalwart"}  # the stack creates nothing in Prometheus' namespace


def runs():
    yield "default", stack_run()
    yield "monitored", stack_run({"mailstack:monitoring": MONITORING})
    yield "backups", stack_run({"mailstack:backup": {"backupEnabled": True}})
    yield "stopped", upgrade_run(V015, upgrade={"phase": "stop"}, monitoring=MONITORING)
    yield (
        "recovering",
        upgrade_run(V015, upgrade={"phase": "recover"}, image=V016_IMAGE, upgradeExport=EXPORT),
    )
    yield "upgraded", upgrade_run(COPIED, image=V016_IMAGE, monitoring=MONITORING)


@pytest.mark.parametrize(
    ("label", "run"), list(runs()), ids=lambda v: v if isinstance(v, str) else "run"
)
def test_every_object_the_stack_creates_in_its_namespaces_is_named_as_its_own(label, run):
    seen = []
    for resource in run.resources:
        kind = resource.type.rpartition(":")[2]
        if not resource.type.startswith("kubernetes:") or kind not in KINDS:
            continue
        metadata = resource.state["metadata"]
        where = (metadata.get("namespace"), metadata["name"])
        if where[0] not in NAMESPACES:
            continue
        seen.append(where)
        assert stack_owned(where[1]), f"{label}: {kind} {where} is not named as the stack's own"
    assert seen


@pytest.mark.parametrize(
    ("credentials", "says"),
    [
        ({"secretName": "stalwart-tls"}, "stalwart/stalwart-tls is a Secret the stack itself"),
        ({"secretName": "stalwart-canary-credentials"}, "is a Secret the stack itself owns"),
        ({"secretName": "mailstack-deployer-token"}, "is a Secret the stack itself owns"),
        ({"secretName": "monitoring-scrape-auth-nvnxsco7"}, "is a Secret the stack itself owns"),
        (
            {"secretName": "webmail", "restart": [{"kind": "Deployment", "name": "stalwart"}]},
            "credentials.restart names Deployment stalwart/stalwart, the stack's own workload",
        ),
        (
            {
                "secretName": "webmail",
                "restart": [
                    {"kind": "Deployment", "name": "webmail"},
                    {"kind": "StatefulSet", "name": "stalwart-v016"},
                ],
            },
            "names StatefulSet stalwart/stalwart-v016",
        ),
    ],
)
def test_no_account_delivers_into_or_restarts_the_stacks_own_objects(credentials, says):
    account = {"name": "webmail", "credentials": {"namespace": "stalwart", **credentials}}
    (line,) = refusals({"mailstack:serviceAccounts": [account]})
    assert line.startswith("mailstack:serviceAccounts: account webmail: "), line
    assert says in line, line


def test_a_consumer_of_its_own_in_the_stacks_namespace_is_accepted():
    account = {
        "name": "webmail",
        "credentials": {
            "namespace": "stalwart",
            "secretName": "roundcube-smtp",
            "restart": [{"kind": "Deployment", "name": "roundcube"}],
        },
    }
    assert stack_run({"mailstack:serviceAccounts": [account]}).error is None
