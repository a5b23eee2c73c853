# METADATA
# title: No latest or untagged images
# description: Every container image names a tag other than `latest`, or a digest.
# custom:
#   enforcement: deny
package library.no_latest_tag

import rego.v1

import data.library.lib.images
import data.library.lib.kubernetes

deny contains msg if {
	some container in kubernetes.containers
	images.tag(container.image) == "latest"
	msg := sprintf("%s: container %s uses the mutable tag latest (%s); pin a version or digest", [kubernetes.subject, container.name, container.image])
}

deny contains msg if {
	some container in kubernetes.containers
	images.default_tag(container.image)
	msg := sprintf("%s: container %s has an untagged image %s; pin a version or digest", [kubernetes.subject, container.name, container.image])
}
