"""mailstack policy pack: `pulumi preview --policy-pack policy` (see PulumiPolicy.yaml).

The rules live in mailstack_policies.py as plain functions; this file only adapts what
pulumi-policy hands a resource validation to them and registers every rule as mandatory.

What the engine gives a policy (pulumi-policy 1.21, checked in its source):
- `args.resource_type`, `args.name` (logical name), `args.props` (inputs, camelCase, as read-only
  proxies that raise on values unknown at preview; secret inputs arrive unwrapped);
- `args.opts.protect`, but no retain-on-delete: the analyzer protocol's resource options do not
  carry it, for resource and stack policies alike. The retain half of `stalwart-data-kept` is
  therefore only checked on the offline render (tests/test_policy.py, tests/test_render.py);
- a resource left out of the update (`--target`/`--exclude`) is analyzed with its *old* inputs
  instead of being checked (pulumi/pulumi pkg/resource/deploy/step_generator.go, v3.274: "If not
  targeted, stub out the provider check and use the old inputs directly"), so one that does not
  exist yet arrives with no inputs at all. There is nothing of it to judge, and judging the
  empty map failed every `--exclude` run in `make e2e`: such a resource is skipped;
- `args.get_config()` is this policy's own config (`--policy-pack-config`), not the stack's. The
  stack config (`mailstack:domain`) reaches the pack as PULUMI_CONFIG, which pulumi-policy loads
  into the runtime before each validation, so `pulumi.Config` reads it.
"""

from __future__ import annotations

import pulumi
from mailstack_policies import RULES, ResourceView, Rule
from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

PACK_NAME = "mailstack"


def stack_domain() -> str | None:
    """The stack's `mailstack:domain`, the Cloudflare zone."""
    return pulumi.Config("mailstack").get("domain")


def view(args: ResourceValidationArgs) -> ResourceView:
    """The engine's resource as the rules see it (retain-on-delete is not exposed: None)."""
    return ResourceView(
        type=args.resource_type,
        name=args.name,
        inputs=args.props,
        protect=bool(args.opts.protect),
        retain_on_delete=None,
    )


def resource_policy(rule: Rule) -> ResourceValidationPolicy:
    """One mandatory resource policy that reports every message of `rule`."""

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if len(args.props) == 0:  # left out of this update and not created yet (see above)
            return
        for message in rule.check(view(args), stack_domain()):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


POLICIES: list[ResourceValidationPolicy] = [resource_policy(rule) for rule in RULES]

if __name__ == "__main__":
    # Starts the analyzer's gRPC server and serves the engine until it exits: never on import.
    PolicyPack(
        name=PACK_NAME, policies=list(POLICIES), enforcement_level=EnforcementLevel.MANDATORY
    )
