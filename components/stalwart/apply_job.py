"""The Job that applies Stalwart v0.16's plan with the official stalwart-cli, and its hourly
re-application.

It runs after the Deployment is ready and whenever the plan changes (the plan ConfigMap is
auto-named, so a new plan is a new Job template): `stalwart-cli apply` of the plan, then of the
reload plan (settings take effect on `ReloadSettings`), then a check that every listener the plan
owns accepts connections; Stalwart binds listener sockets only when it starts, so when one does
not, the check deletes the pod and the Deployment starts a new one.
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
from components.kube import object_name, standard_labels
from components.stalwart import plan
from components.stalwart.runtime import RuntimeInputs

PLAN_DIR = "/plan"
CREDENTIALS_DIR = "/run/secrets/mailstack-admin"
ADMIN_PASSWORD_KEY = "admin-password"
NONROOT = 65532  # distroless `nonroot`, the stalwart-cli image's user
# Bounded below the provider's wait (customTimeouts): a Job that cannot finish fails the update.
APPLY_DEADLINE_SECONDS = 540
JOB_TIMEOUTS = pulumi.CustomTimeouts(create="15m", update="15m")
REAPPLY_SCHEDULE = "23 * * * *"  # hourly, off the full hour


def apply_job_labels(name: str) -> dict[str, str]:
    """Labels of the apply Job's pods (the NetworkPolicy lets them reach every listener)."""
    return standard_labels(name, "apply")


def apply_job(
    inputs: RuntimeInputs, deployment: pulumi.Resource, opts: pulumi.ResourceOptions
) -> k8s.batch.v1.Job:
    name = inputs.name
    labels = apply_job_labels(name)
    metadata = k8s.meta.v1.ObjectMetaArgs(namespace=inputs.namespace, labels=labels)
    state = plan.render_plan(
        plan.PlanInputs(inputs.domain, inputs.hostname, inputs.relay, inputs.mechanisms)
    )
    plans = k8s.core.v1.ConfigMap(
        f"{name}-plan",
        metadata=metadata,
        data={
            "plan.ndjson": plan.to_ndjson(state),
            "reload.ndjson": plan.to_ndjson(plan.RELOAD_PLAN),
        },
        opts=opts,
    )
    credentials = k8s.core.v1.Secret(
        f"{name}-apply-credentials",
        metadata=metadata,
        type="Opaque",
        string_data={ADMIN_PASSWORD_KEY: inputs.admin_password},
        opts=opts,
    )
    scripts = scripts_config_map(f"{name}-apply-scripts", inputs.namespace, labels, opts)
    account = _restart_rights(name, inputs.namespace, labels, opts)
    pod = _apply_pod(
        inputs,
        account,
        plans.metadata.apply(object_name),
        credentials.metadata.apply(object_name),
        scripts.metadata.apply(object_name),
    )
    # The plan is the authority on what it declares: a hand edit in the WebUI lasts until the next
    # application, hourly, without an input that changes on every `pulumi up` (which would be a
    # perpetual diff and fail the drift check).
    k8s.batch.v1.CronJob(
        f"{name}-reapply",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=inputs.namespace, labels=labels),
        spec=k8s.batch.v1.CronJobSpecArgs(
            schedule=REAPPLY_SCHEDULE,
            concurrency_policy="Forbid",
            successful_jobs_history_limit=1,
            failed_jobs_history_limit=3,
            job_template=k8s.batch.v1.JobTemplateSpecArgs(
                spec=_job_spec(labels, pod),
            ),
        ),
        opts=opts,
    )
    return k8s.batch.v1.Job(
        f"{name}-apply-job",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            namespace=inputs.namespace,
            labels=labels,
            # A failed Job is rerun by the next `pulumi up` instead of being waited on again.
            annotations={"pulumi.com/replaceUnready": "true"},
        ),
        spec=_job_spec(labels, pod),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(depends_on=[deployment], custom_timeouts=JOB_TIMEOUTS)
        ),
    )


def _job_spec(labels: dict[str, str], pod: k8s.core.v1.PodSpecArgs) -> k8s.batch.v1.JobSpecArgs:
    return k8s.batch.v1.JobSpecArgs(
        backoff_limit=2,
        active_deadline_seconds=APPLY_DEADLINE_SECONDS,
        template=k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels), spec=pod
        ),
    )


def _cli(
    step: str, plan_file: str, inputs: RuntimeInputs, credentials: pulumi.Input[str]
) -> k8s.core.v1.ContainerArgs:
    return k8s.core.v1.ContainerArgs(
        name=step,
        image=inputs.cli_image,
        args=["apply", "--file", f"{PLAN_DIR}/{plan_file}"],
        env=[
            k8s.core.v1.EnvVarArgs(name="STALWART_URL", value=inputs.http_url),
            k8s.core.v1.EnvVarArgs(name="STALWART_USER", value="admin"),
            k8s.core.v1.EnvVarArgs(
                name="STALWART_PASSWORD",
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(
                        name=credentials, key=ADMIN_PASSWORD_KEY
                    )
                ),
            ),
            # The CLI caches the server's schema under $XDG_CACHE_HOME (root fs is read-only).
            k8s.core.v1.EnvVarArgs(name="XDG_CACHE_HOME", value="/tmp/cache"),
            k8s.core.v1.EnvVarArgs(name="NO_COLOR", value="1"),
        ],
        volume_mounts=[
            k8s.core.v1.VolumeMountArgs(name="plan", mount_path=PLAN_DIR, read_only=True),
            k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
        ],
        security_context=job_container_security(),
        resources=_JOB_RESOURCES,
    )


_JOB_RESOURCES = k8s.core.v1.ResourceRequirementsArgs(
    requests={"cpu": "10m", "memory": "32Mi"}, limits={"memory": "128Mi"}
)


def _apply_pod(
    inputs: RuntimeInputs,
    account: pulumi.Input[str],
    plans: pulumi.Input[str],
    credentials: pulumi.Input[str],
    scripts: pulumi.Input[str],
) -> k8s.core.v1.PodSpecArgs:
    return k8s.core.v1.PodSpecArgs(
        restart_policy="Never",
        service_account_name=account,
        security_context=k8s.core.v1.PodSecurityContextArgs(
            run_as_non_root=True,
            run_as_user=NONROOT,
            run_as_group=NONROOT,
            fs_group=NONROOT,
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        ),
        # Init containers run in order, each to success: the plan, then the reload.
        init_containers=[
            _cli("apply-plan", "plan.ndjson", inputs, credentials),
            _cli("reload-settings", "reload.ndjson", inputs, credentials),
        ],
        containers=[
            k8s.core.v1.ContainerArgs(
                name="listeners",
                image=inputs.jobs_image,
                command=["python3", "-m", "incluster.jmap_jobs", "listeners"],
                env=[
                    *python_env(),
                    k8s.core.v1.EnvVarArgs(name="STALWART_URL", value=inputs.http_url),
                    k8s.core.v1.EnvVarArgs(
                        name="ADMIN_PASSWORD_FILE", value=f"{CREDENTIALS_DIR}/{ADMIN_PASSWORD_KEY}"
                    ),
                    k8s.core.v1.EnvVarArgs(
                        name="LISTENER_PORTS",
                        value=",".join(
                            next(iter(listener["bind"])).rpartition(":")[2]
                            for listener in plan.LISTENERS.values()
                            if listener["protocol"] != "http"
                        ),
                    ),
                    k8s.core.v1.EnvVarArgs(
                        name="POD_SELECTOR",
                        value=",".join(f"{k}={v}" for k, v in sorted(inputs.selector.items())),
                    ),
                    k8s.core.v1.EnvVarArgs(
                        name="POD_NAMESPACE",
                        value_from=k8s.core.v1.EnvVarSourceArgs(
                            field_ref=k8s.core.v1.ObjectFieldSelectorArgs(
                                field_path="metadata.namespace"
                            )
                        ),
                    ),
                ],
                volume_mounts=[
                    scripts_mount(),
                    k8s.core.v1.VolumeMountArgs(
                        name="credentials", mount_path=CREDENTIALS_DIR, read_only=True
                    ),
                ],
                security_context=job_container_security(),
                resources=_JOB_RESOURCES,
            )
        ],
        volumes=[
            k8s.core.v1.VolumeArgs(
                name="plan", config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(name=plans)
            ),
            k8s.core.v1.VolumeArgs(
                name="credentials",
                secret=k8s.core.v1.SecretVolumeSourceArgs(
                    secret_name=credentials, default_mode=0o440
                ),
            ),
            scripts_volume(scripts),
            k8s.core.v1.VolumeArgs(
                name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="64Mi")
            ),
        ],
    )


def _restart_rights(
    name: str, namespace: pulumi.Input[str], labels: dict[str, str], opts: pulumi.ResourceOptions
) -> pulumi.Output[str]:
    """A service account that may list and delete pods in Stalwart's namespace, nothing more."""
    account = k8s.core.v1.ServiceAccount(
        f"{name}-apply",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{name}-apply", namespace=namespace, labels=labels
        ),
        opts=opts,
    )
    role = k8s.rbac.v1.Role(
        f"{name}-apply-restart",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{name}-apply-restart", namespace=namespace, labels=labels
        ),
        rules=[
            k8s.rbac.v1.PolicyRuleArgs(
                api_groups=[""], resources=["pods"], verbs=["get", "list", "delete"]
            )
        ],
        opts=opts,
    )
    k8s.rbac.v1.RoleBinding(
        f"{name}-apply-restart",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=f"{name}-apply-restart", namespace=namespace, labels=labels
        ),
        role_ref=k8s.rbac.v1.RoleRefArgs(
            api_group="rbac.authorization.k8s.io",
            kind="Role",
            name=role.metadata.apply(object_name),
        ),
        subjects=[
            k8s.rbac.v1.SubjectArgs(
                kind="ServiceAccount", name=account.metadata.apply(object_name), namespace=namespace
            )
        ],
        opts=opts,
    )
    return account.metadata.apply(object_name)
