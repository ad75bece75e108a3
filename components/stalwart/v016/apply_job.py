"""The Jobs that apply Stalwart v0.16's plan, with the stack's own applier.

The apply Job runs after the Deployment is ready and whenever the plan changes (the plan ConfigMap
is auto-named, so a new plan is a new Job template): the plan, then the reload plan (settings take
effect on `ReloadSettings`), then a check that every listener the plan owns accepts connections;
Stalwart binds listener sockets only when it starts, so when one does not, the check deletes the
pod and the Deployment starts a new one. A CronJob re-applies hourly.

In recovery mode (the upgrade's recover phase) the restore Job applies the converted v0.15 export
first, before anything else creates an account (its `restore-<id>` client ids re-link the old
mailboxes), then the apply Job applies the plan only: recovery mode serves HTTP alone.
"""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.incluster import (
    job_container_security,
    python_env,
    scripts_config_map,
    scripts_mount,
    scripts_volume,
)
from components.kube import RERUN_WHEN_FAILED, object_name
from components.stalwart.endpoints import ADMIN_USER, METRICS_PATH, METRICS_PORT
from components.stalwart.jobs import (
    ADMIN_PASSWORD_KEY,
    CREDENTIALS_DIR,
    JOB_RESOURCES,
    JOB_TIMEOUTS,
    credentials_volume,
    job_labels,
    job_pod,
    job_spec,
    selector_text,
    tmp_volume,
)
from components.stalwart.runtime import RuntimeInputs
from components.stalwart.v016 import plan
from components.stalwart.v016.admin import RECOVERY_ADMIN_KEY, administrator

EXPORT_FILE = "export.ndjson"
ADMIN_HASH_KEY = "admin-hash"
PLAN_DIR = "/plan"
REAPPLY_SCHEDULE = "23 * * * *"  # hourly, off the full hour


def apply_job(
    inputs: RuntimeInputs, after: pulumi.Resource, opts: pulumi.ResourceOptions
) -> k8s.batch.v1.Job:
    name = inputs.prefix
    labels = job_labels(inputs.server.instance)
    metadata = k8s.meta.v1.ObjectMetaArgs(namespace=inputs.server.namespace, labels=labels)
    state = plan.render_plan(
        plan.PlanInputs(
            inputs.args.domain,
            inputs.args.webmail_fqdn,
            inputs.args.relay,
            inputs.args.auth_mechanisms,
            certificate=inputs.args.tls is not None,
            coordinator=_coordinator(inputs),
        )
    )
    plans = k8s.core.v1.ConfigMap(
        f"{name}-plan",
        metadata=metadata,
        data={
            "plan.ndjson": plan.to_ndjson(state),
            "reload.ndjson": plan.to_ndjson(
                plan.RELOAD_PLAN + ([plan.RELOAD_TLS] if inputs.args.tls else [])
            ),
        },
        opts=opts,
    )
    credentials = _credentials(inputs, labels, opts)
    scripts = scripts_config_map(f"{name}-apply-scripts", inputs.server.namespace, labels, opts)
    volumes = [
        k8s.core.v1.VolumeArgs(
            name="plan",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=plans.metadata.apply(object_name)
            ),
        ),
        scripts_volume(scripts.metadata.apply(object_name)),
        credentials_volume(credentials),
        tmp_volume(),
    ]
    if inputs.claim.recovery:
        # Recovery mode serves HTTP alone: the plan only (no reload, no listener check).
        pod = job_pod(
            None, [], [apply_container("apply-plan", [f"{PLAN_DIR}/plan.ndjson"], inputs)], volumes
        )
    else:
        plans_in_order = [f"{PLAN_DIR}/plan.ndjson", f"{PLAN_DIR}/reload.ndjson"]
        # The recovery admin on when nobody logs in (a fresh server, a new password); the plan;
        # the administrator once the plan's domain exists, and the recovery admin off; then the
        # listeners (both admin steps may have restarted Stalwart).
        pod = job_pod(
            inputs.server.jobs_account,
            [
                _admin_step("door", inputs),
                apply_container("apply-plan", plans_in_order, inputs),
                _admin_step("admin", inputs),
            ],
            [_listener_check(inputs)],
            volumes,
        )
        # The hourly re-application applies the plan only: the admin steps belong to the
        # update that changed the password, never to a CronJob pod started before it.
        hourly = job_pod(
            inputs.server.jobs_account,
            [apply_container("apply-plan", plans_in_order, inputs)],
            [_listener_check(inputs)],
            volumes,
        )
        # The plan is the authority on what it declares: a hand edit in the WebUI lasts until
        # the next application, hourly, without an input that changes on every `pulumi up` (a
        # perpetual diff, which would also fail the drift check).
        k8s.batch.v1.CronJob(
            f"{name}-reapply",
            metadata=metadata,
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=REAPPLY_SCHEDULE,
                concurrency_policy="Forbid",
                successful_jobs_history_limit=1,
                failed_jobs_history_limit=3,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(spec=job_spec(labels, hourly)),
            ),
            opts=opts,
        )
    return _job(f"{name}-apply-job", inputs, labels, pod, after, opts)


def restore_job(
    inputs: RuntimeInputs, after: pulumi.Resource, opts: pulumi.ResourceOptions
) -> k8s.batch.v1.Job:
    """Applies the converted v0.15 export, in recovery mode (UPGRADING/v0_16.md step 3).

    Its inputs are the export and the claim only, so it runs once per recover phase; a retry of
    the Job, or a second recover phase, applies it again, and every object the first run created
    is reused as it is (plan_apply.py `create`), so a restore that stopped halfway completes.
    """
    name = inputs.prefix
    labels = job_labels(inputs.server.instance)
    export = k8s.core.v1.Secret(
        f"{name}-restore",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=inputs.server.namespace, labels=labels),
        type="Opaque",
        string_data={EXPORT_FILE: pulumi.Output.secret(inputs.args.upgrade_export or "")},
        opts=opts,
    )
    credentials = _credentials(inputs, labels, opts, suffix="restore-credentials")
    scripts = scripts_config_map(f"{name}-restore-scripts", inputs.server.namespace, labels, opts)
    pod = job_pod(
        None,
        [],
        [apply_container("apply-export", [f"/restore/{EXPORT_FILE}"], inputs, mount="restore")],
        [
            k8s.core.v1.VolumeArgs(
                name="restore",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=export.metadata.apply(object_name), default_mode=0o440
                ),
            ),
            scripts_volume(scripts.metadata.apply(object_name)),
            credentials_volume(credentials),
            tmp_volume(),
        ],
    )
    return _job(f"{name}-restore-job", inputs, labels, pod, after, opts)


def _credentials(
    inputs: RuntimeInputs,
    labels: dict[str, str],
    opts: pulumi.ResourceOptions,
    suffix: str = "apply-credentials",
) -> pulumi.Output[str]:
    secret = k8s.core.v1.Secret(
        f"{inputs.prefix}-{suffix}",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=inputs.server.namespace, labels=labels),
        type="Opaque",
        string_data={
            ADMIN_PASSWORD_KEY: inputs.server.admin_password,
            ADMIN_HASH_KEY: inputs.server.admin_hash,
        },
        opts=opts,
    )
    return secret.metadata.apply(object_name)


def _job(
    resource_name: str,
    inputs: RuntimeInputs,
    labels: dict[str, str],
    pod: k8s.core.v1.PodSpecArgs,
    after: pulumi.Resource,
    opts: pulumi.ResourceOptions,
) -> k8s.batch.v1.Job:
    return k8s.batch.v1.Job(
        resource_name,
        metadata=k8s.meta.v1.ObjectMetaArgs(
            namespace=inputs.server.namespace,
            labels=labels,
            annotations=RERUN_WHEN_FAILED,
        ),
        spec=job_spec(labels, pod),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[after], custom_timeouts=JOB_TIMEOUTS)
        ),
    )


def _admin_env(inputs: RuntimeInputs) -> list[k8s.core.v1.EnvVarArgs]:
    """Stalwart's URL and who the Jobs log in as: the stack's administrator first, the
    recovery admin (same password) while the administrator does not exist yet."""
    return [
        k8s.core.v1.EnvVarArgs(name="STALWART_URL", value=inputs.server.http_url),
        k8s.core.v1.EnvVarArgs(name="STALWART_ADMIN_USER", value=administrator(inputs.args.domain)),
        k8s.core.v1.EnvVarArgs(name="FALLBACK_ADMIN_USER", value=ADMIN_USER),
        k8s.core.v1.EnvVarArgs(
            name="ADMIN_PASSWORD_FILE", value=f"{CREDENTIALS_DIR}/{ADMIN_PASSWORD_KEY}"
        ),
    ]


def _pod_env(inputs: RuntimeInputs) -> list[k8s.core.v1.EnvVarArgs]:
    return [
        k8s.core.v1.EnvVarArgs(name="POD_SELECTOR", value=selector_text(inputs.selector)),
        k8s.core.v1.EnvVarArgs(
            name="POD_NAMESPACE",
            value_from=k8s.core.v1.EnvVarSourceArgs(
                field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="metadata.namespace")
            ),
        ),
    ]


def _coordinator(inputs: RuntimeInputs) -> str | None:
    storage = inputs.args.storage
    if not storage.postgresql:
        return None
    return "nats" if storage.clustered else "disabled"


def _restart_after(inputs: RuntimeInputs) -> list[k8s.core.v1.EnvVarArgs]:
    """On PostgreSQL the plan declares the Coordinator, which Stalwart reads at start only, so
    the pods restart when the plan writes it (incluster/jmap_jobs.py)."""
    if not inputs.args.storage.postgresql or inputs.claim.recovery:
        return []
    return [k8s.core.v1.EnvVarArgs(name="RESTART_AFTER", value="Coordinator"), *_pod_env(inputs)]


def _admin_step(command: str, inputs: RuntimeInputs) -> k8s.core.v1.ContainerArgs:
    """`jmap_jobs door` (the recovery admin on when nobody logs in) or `jmap_jobs admin` (the
    administrator account, then the recovery admin off): components/stalwart/v016/admin.py."""
    if inputs.server.bootstrap_secret is None:
        raise ValueError("the admin steps need the server's bootstrap Secret")
    return k8s.core.v1.ContainerArgs(
        name="recovery-admin" if command == "door" else "administrator",
        image=inputs.args.jobs_image,
        command=["python3", "-m", "incluster.jmap_jobs", command],
        env=[
            *python_env(),
            *_admin_env(inputs),
            k8s.core.v1.EnvVarArgs(
                name="ADMIN_HASH_FILE", value=f"{CREDENTIALS_DIR}/{ADMIN_HASH_KEY}"
            ),
            k8s.core.v1.EnvVarArgs(name="BOOTSTRAP_SECRET", value=inputs.server.bootstrap_secret),
            k8s.core.v1.EnvVarArgs(name="BOOTSTRAP_KEY", value=RECOVERY_ADMIN_KEY),
            *_pod_env(inputs),
        ],
        volume_mounts=[
            scripts_mount(),
            k8s.core.v1.VolumeMountArgs(
                name="credentials", mount_path=CREDENTIALS_DIR, read_only=True
            ),
        ],
        security_context=job_container_security(),
        resources=JOB_RESOURCES,
    )


def apply_container(
    step: str, plan_files: list[str], inputs: RuntimeInputs, mount: str = "plan"
) -> k8s.core.v1.ContainerArgs:
    """`python3 -m incluster.jmap_jobs apply <plans>` in the reconciler image: the plans in
    order, over JMAP (incluster/plan_apply.py); needs the `scripts` and `credentials` volumes.
    In recovery mode `--recovery` writes every declared singleton (plan_apply.py)."""
    mount_path = PLAN_DIR if mount == "plan" else f"/{mount}"
    return k8s.core.v1.ContainerArgs(
        name=step,
        image=inputs.args.jobs_image,
        command=[
            "python3",
            "-m",
            "incluster.jmap_jobs",
            "apply",
            *(["--recovery"] if inputs.claim.recovery else []),
            *plan_files,
        ],
        env=[
            *python_env(),
            *_admin_env(inputs),
            *_restart_after(inputs),
        ],
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name=mount, mount_path=mount_path, read_only=True),
            scripts_mount(),
            k8s.core.v1.VolumeMountArgs(
                name="credentials", mount_path=CREDENTIALS_DIR, read_only=True
            ),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ],
        security_context=job_container_security(),
        resources=JOB_RESOURCES,
    )


def _listener_check(inputs: RuntimeInputs) -> k8s.core.v1.ContainerArgs:
    ports = ",".join(
        next(iter(listener["bind"])).rpartition(":")[2]
        for listener in plan.LISTENERS.values()
        if listener["name"] != "http"  # the Job itself reaches Stalwart through it
    )
    return k8s.core.v1.ContainerArgs(
        name="listeners",
        image=inputs.args.jobs_image,
        command=["python3", "-m", "incluster.jmap_jobs", "listeners"],
        env=[
            *python_env(),
            *_admin_env(inputs),
            k8s.core.v1.EnvVarArgs(name="LISTENER_PORTS", value=ports),
            # Read back that /metrics needs the password and 9090 serves nothing else.
            k8s.core.v1.EnvVarArgs(name="METRICS_PORT", value=str(METRICS_PORT)),
            k8s.core.v1.EnvVarArgs(name="METRICS_PATH", value=METRICS_PATH),
            *_pod_env(inputs),
        ],
        volume_mounts=[
            scripts_mount(),
            k8s.core.v1.VolumeMountArgs(
                name="credentials", mount_path=CREDENTIALS_DIR, read_only=True
            ),
        ],
        security_context=job_container_security(),
        resources=JOB_RESOURCES,
    )
