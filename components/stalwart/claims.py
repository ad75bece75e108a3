"""The data claims: the stack's first claim, and the v0.16 copy the upgrade takes of it.

Both are protected and retained on delete: mail survives any update and a mistaken `pulumi
destroy`. The copy is a CSI volume clone (`spec.dataSource` naming the v0.15 claim), which
Longhorn supports; the v0.15 claim is never mounted by v0.16, so it stays as it was.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.adoption import adopted
from components.backup import claim_labels
from components.kube import SKIP_AWAIT, standard_labels

UPGRADED_SUFFIX = "v016"
"""The upgrade's copy: `<name>-v016` names its claim's resource, its runtime's resources and its
Deployment."""
UPGRADED_LABEL = "mailstack.pulumi.com/claim"
"""The label of the copy's pods (`upgraded`): its Deployment selects them, the upgrade's gate
waits for the pods without it."""
# What the API server writes into a claim's spec (the binder's volumeName, volumeMode's default)
# and the program never declares. An adopted claim's state inputs hold them (the import reads the
# live object), and a spec change of a claim is a replace: without this, the first update after
# adoption planned to replace the protected claim and failed (make e2e,
# docs/how-to/adopt-the-old-system.md step 7).
SERVER_SET_CLAIM_FIELDS = ["spec.volumeName", "spec.volumeMode"]


def data_claim(
    resource_name: str,
    instance: str,
    claim: str,
    namespace: pulumi.Input[str],
    storage_class: str,
    storage_size: str,
    job_group: str,
    also_groups: tuple[str, ...],
    opts: pulumi.ResourceOptions,
    source: str | None = None,
    import_id: str | None = None,
) -> k8s.core.v1.PersistentVolumeClaim:
    """A protected, retained ReadWriteOnce claim in the Longhorn job group `job_group`."""
    kept = pulumi.ResourceOptions.merge(
        opts, pulumi.ResourceOptions(protect=True, retain_on_delete=True)
    )
    return k8s.core.v1.PersistentVolumeClaim(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=claim,
            namespace=namespace,
            labels={**standard_labels(instance, "data"), **claim_labels(job_group, also_groups)},
            # The provider waits at most 5 minutes for a claim to bind, whatever customTimeouts
            # say (awaiters.go); a clone may take longer. The Deployment mounting it waits
            # instead, under its own explicit timeout.
            annotations=SKIP_AWAIT if source else None,
        ),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=storage_class,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                requests={"storage": storage_size}
            ),
            data_source=(
                k8s.core.v1.TypedLocalObjectReferenceArgs(kind="PersistentVolumeClaim", name=source)
                if source
                else None
            ),
        ),
        opts=adopted(
            pulumi.ResourceOptions.merge(
                kept, pulumi.ResourceOptions(ignore_changes=SERVER_SET_CLAIM_FIELDS)
            ),
            import_id,
            ["metadata", "spec"],
        ),
    )
