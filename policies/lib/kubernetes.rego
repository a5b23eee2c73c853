# METADATA
# title: Helpers shared by the policy library
# description: The object under review, its pod spec whatever the workload kind, its containers.
package library.lib.kubernetes

import rego.v1

# The object under review; a DELETE carries it only as oldObject, and policies ignore those.
object := input.review.object

kind := object.kind

name := object.metadata.name

namespace := ns if {
	ns := input.review.namespace
	ns != ""
} else := object.metadata.namespace

# "Deployment web", for messages.
subject := sprintf("%s %s", [kind, name])

pod_template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

workload_kinds := pod_template_kinds | {"Pod", "CronJob"}

# The pod spec of any workload kind.
pod_spec := object.spec if kind == "Pod"

pod_spec := object.spec.template.spec if kind in pod_template_kinds

pod_spec := object.spec.jobTemplate.spec.template.spec if kind == "CronJob"

is_workload if kind in workload_kinds

# Long-running workloads (probes make sense for them, not for Jobs).
is_long_running if kind in (workload_kinds - {"Job", "CronJob"})

# Every container of the pod spec, init and ephemeral ones included.
containers contains container if some container in pod_spec.containers

containers contains container if some container in pod_spec.initContainers

containers contains container if some container in pod_spec.ephemeralContainers

# Containers that run for the pod's life (neither init nor ephemeral).
main_containers contains container if some container in pod_spec.containers

# Containers that may declare resources (ephemeral containers cannot).
resourced_containers contains container if some container in pod_spec.containers

resourced_containers contains container if some container in pod_spec.initContainers

labels := object.metadata.labels if object.metadata.labels

default labels := {}

annotations := object.metadata.annotations if object.metadata.annotations

default annotations := {}
