"""Stalwart v0.16 running on the claim: config.json (ConfigMap), its secrets (Secret), the
Deployment, and the Job that applies the plan (components/stalwart/v016/apply_job.py)."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.stalwart.endpoints import METRICS_SECRET_FILE
from components.stalwart.pod import pod_files, stalwart_deployment, stalwart_statefulset
from components.stalwart.runtime import Runtime, RuntimeInputs
from components.stalwart.v016 import coordinator, database, move, plan
from components.stalwart.v016.admin import RECOVERY_ADMIN_KEY, recovery_admin_value
from components.stalwart.v016.apply_job import apply_job, restore_job
from components.stalwart.v016.certificate import mail_certificate
from components.stalwart.v016.certificate import secret_name as tls_secret_name
from components.stalwart.v016.pod import pod_spec


def deploy(inputs: RuntimeInputs, opts: pulumi.ResourceOptions) -> Runtime:
    args, server, claim = inputs.args, inputs.server, inputs.claim
    storage = args.storage
    # Mid-move (mailstack:storageMove) the server is still the RocksDB one, stopped.
    on_postgresql = storage.pods_on_postgresql
    if server.bootstrap_secret is None:
        raise ValueError("a v0.16 runtime needs the server's bootstrap Secret")
    # The recovery admin lives in the pod's own Secret only while recovery needs it.
    recovery_admin = (
        {RECOVERY_ADMIN_KEY: recovery_admin_value(server.admin_hash)} if claim.recovery else {}
    )
    secret_name, config_name = pod_files(
        inputs,
        {
            **recovery_admin,
            plan.RELAY_SECRET_FILE: pulumi.Output.secret(args.resend_api_key),
            METRICS_SECRET_FILE: server.metrics_password,
        },
        {plan.CONFIG_FILE: plan.config_json(database.data_store() if on_postgresql else None)},
        opts,
    )
    certificate = (
        mail_certificate(inputs.prefix, server.instance, server.namespace, args.tls, opts)
        if args.tls is not None
        else None
    )
    spec = pod_spec(
        claim.image,
        args.webmail_fqdn,
        claim_name=inputs.claim_name,
        secret_name=secret_name,
        config_name=config_name,
        bootstrap_secret=server.bootstrap_secret,
        uid=args.run_as_user,
        recovery=claim.recovery,
        tls_secret=tls_secret_name(inputs.prefix) if certificate is not None else None,
        postgresql=on_postgresql,
    )
    # What the pods need before they start: the certificate, and on PostgreSQL the database
    # (its Secret holds the password the pods read) and, for more than one pod, NATS.
    before: list[pulumi.Resource] = [certificate] if certificate is not None else []
    deployment: k8s.apps.v1.Deployment | k8s.apps.v1.StatefulSet
    cluster = (
        database.database_cluster(server.instance, server.namespace, storage, opts)
        if storage.postgresql
        else None
    )
    if cluster is not None and storage.move == "finish":
        # The pods start on PostgreSQL only once a finished copy is there, marked released.
        before.append(move.release_job(inputs, cluster, opts))
    if cluster is not None and storage.moving:
        # The copy stops RocksDB only once the database it copies into is Ready.
        before.append(cluster)
    if storage.move == "abandon":
        # Back to RocksDB after a copy: RocksDB serves again only if PostgreSQL never did.
        spec.init_containers = [move.abandon_step(inputs)]
    if cluster is not None and on_postgresql:
        before.append(cluster)
        if storage.clustered:
            before.append(
                coordinator.nats_cluster(
                    server.instance, args.namespace, server.selector, storage.nats_image, opts
                )
            )
        deployment = stalwart_statefulset(
            inputs,
            spec,
            storage.replicas if claim.replicas else 0,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=before)),
        )
    else:
        deployment = stalwart_deployment(
            inputs,
            spec,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=before)),
        )
    if cluster is not None and storage.moving:
        # The copy: the RocksDB server above is stopped; the Job copies its claim.
        return Runtime(
            deployment=deployment, ready=move.copy_store(inputs, cluster, deployment, opts)
        )
    if not claim.replicas:
        # Waiting (a rollback to v0.15, or stopped): nothing to apply to.
        return Runtime(deployment=deployment, ready=deployment)
    first: pulumi.Resource = deployment
    if claim.recovery and args.upgrade_export is not None:
        first = restore_job(inputs, deployment, opts)
    job = apply_job(inputs, first, opts)
    return Runtime(deployment=deployment, ready=job)
