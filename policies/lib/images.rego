# METADATA
# title: Container image reference parsing
package library.lib.images

import rego.v1

# Whether an image reference is pinned by digest.
has_digest(image) if contains(image, "@")

# The tag of an image reference, "" when it has none (a ":" after the last "/").
tag(image) := t if {
	not has_digest(image)
	parts := split(image, "/")
	last := parts[count(parts) - 1]
	contains(last, ":")
	pieces := split(last, ":")
	t := pieces[count(pieces) - 1]
}

default_tag(image) if {
	not has_digest(image)
	not tag(image)
}

# The reference with Docker Hub's implicit parts made explicit:
# nginx -> docker.io/library/nginx, team/app -> docker.io/team/app.
normalized(image) := image if {
	first := split(image, "/")[0]
	count(split(image, "/")) > 1
	_is_registry(first)
}

normalized(image) := concat("/", ["docker.io", image]) if {
	parts := split(image, "/")
	count(parts) > 1
	not _is_registry(parts[0])
}

normalized(image) := concat("/", ["docker.io", "library", image]) if {
	count(split(image, "/")) == 1
}

_is_registry(host) if contains(host, ".")

_is_registry(host) if contains(host, ":")

_is_registry(host) if host == "localhost"
