# METADATA
# title: Images from allowed registries only
# description: >-
#   Images must start with one of the prefixes in `data.gatekeeper.config.allowed_registries`
#   (Docker Hub short names count as docker.io/library/...). Without that list the policy is
#   inactive; an empty list allows nothing.
# custom:
#   enforcement: deny
package library.allowed_registries

import rego.v1

import data.library.lib.images
import data.library.lib.kubernetes

# null when the list is not configured (the policy is then inactive).
default prefixes := null

prefixes := data.gatekeeper.config.allowed_registries

deny contains msg if {
	is_array(prefixes)
	some container in kubernetes.containers
	image := images.normalized(container.image)
	not _allowed(image, prefixes)
	msg := sprintf("%s: container %s uses image %s from a registry that is not allowed (allowed: %s)", [kubernetes.subject, container.name, container.image, concat(", ", prefixes)])
}

_allowed(image, prefixes) if {
	some prefix in prefixes
	startswith(image, prefix)
}
