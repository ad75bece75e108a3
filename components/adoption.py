"""Adoption of the running system: the resource options that take an existing object over.

`mailstack:adopt` is set for the first `pulumi up` only (docs/how-to/adopt-the-old-system.md). An
adopted resource gets the `import` option with the provider's import id, and `ignore_changes` on
the inputs that the old system may have set differently (the program's record comment, a claim's
labels): the engine imports, then updates what still differs (`make e2e` saw import + update), so
what must not be touched on that first update is ignored, and the next update, without
`mailstack:adopt`, applies the program's exact values. Never ignore a Kubernetes object's whole
`metadata` when the object is updated on adoption: the update then sends the imported metadata
back, managedFields included, and the API server refuses it.
"""

from __future__ import annotations

import pulumi


def adopted(
    opts: pulumi.ResourceOptions, import_id: str | None, ignore: list[str]
) -> pulumi.ResourceOptions:
    """`opts`, plus import and ignore_changes when the resource is being adopted."""
    if import_id is None:
        return opts
    return pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(import_=import_id, ignore_changes=ignore)
    )
