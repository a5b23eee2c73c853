#!/usr/bin/env bash
# Bump an image digest in a Kustomize overlay of the GitOps repository as a SIGNED commit,
# and check it as the gatekeeper will before anything is pushed:
#   1. rewrite the overlay's `images:` entry to IMAGE@DIGEST (a digest, never a tag);
#   2. commit it signed with the SSH key in $SIGNING_KEY_FILE (git's gpg.format=ssh);
#   3. `gatekeeper verify` the commits the push would bring against the trust policy;
#   4. render the overlay and `gatekeeper policy eval` every object against the policies.
# Exit non-zero (and leave the branch unpushed) when any step fails.
#
# Usage: bump-image.sh OVERLAY IMAGE DIGEST
#   OVERLAY  e.g. apps/web/overlays/staging     IMAGE  e.g. ghcr.io/example/web
#   DIGEST   sha256:<64 hex digits>, e.g. from `docker buildx build --metadata-file`
# Environment: SIGNING_KEY_FILE (private SSH key), TRUST_POLICY (trust policy file),
#   POLICIES (policy folder), BASE (what the remote has; default origin/main),
#   GIT_USER_NAME, GIT_USER_EMAIL (the committer, an email the trust policy lists).
set -euo pipefail

overlay=${1:?overlay folder}
image=${2:?image name}
digest=${3:?image digest}
: "${SIGNING_KEY_FILE:?the SSH signing key file}"
: "${TRUST_POLICY:?the trust policy file}"
: "${POLICIES:?the policy folder}"
base=${BASE:-origin/main}

if [[ ! $digest =~ ^sha256:[0-9a-f]{64}$ ]]; then
  echo "bump-image: $digest is not a sha256 digest; images are pinned by digest" >&2
  exit 2
fi

python3 - "$overlay/kustomization.yaml" "$image" "$digest" <<'PY'
import re, sys
path, image, digest = sys.argv[1:]
lines = open(path).read().splitlines(keepends=True)
inside = found = False
for index, line in enumerate(lines):
    if re.match(rf"^\s*-\s*name:\s*{re.escape(image)}\s*$", line):
        inside = True
        continue
    if inside and re.match(r"^\s*-\s", line):
        break
    if inside and re.match(r"^\s*(digest|newTag):", line):
        indent = line[: len(line) - len(line.lstrip())]
        lines[index] = f"{indent}digest: {digest}\n"
        found = True
        break
if not found:
    sys.exit(f"bump-image: {path} has no images entry for {image} with a digest or newTag")
open(path, "w").write("".join(lines))
PY

git add "$overlay/kustomization.yaml"
git -c gpg.format=ssh -c user.signingkey="$SIGNING_KEY_FILE" \
    -c user.name="${GIT_USER_NAME:-ci-bot}" -c user.email="${GIT_USER_EMAIL:-ci-bot@example.com}" \
    commit -S -q -m "Bump $image in $overlay to $digest"

# The commits the push brings, as the gatekeeper will check them.
gatekeeper verify --repo . --trust "$TRUST_POLICY" --since "$(git rev-parse "$base")" --rev HEAD

rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
kubectl kustomize "$overlay" > "$rendered/all.yaml"
# `gatekeeper verify` passed, so each object is checked as the reconciler will check it:
# with verified, trusted provenance of this commit (phase sync).
python3 - "$rendered" "$overlay" "$(git rev-parse HEAD)" <<'PY'
import json, sys, yaml
from gatekeeper.policy.inputs import Provenance, sync_input
folder, overlay, commit = sys.argv[1:]
provenance = Provenance(
    source=overlay, commit=commit, path=overlay, verified=True, trusted=True,
    signature_format="ssh", signer="ci",
)
for number, document in enumerate(yaml.safe_load_all(open(f"{folder}/all.yaml"))):
    if document:
        with open(f"{folder}/object-{number:04d}.json", "w") as out:
            json.dump(sync_input(document, provenance=provenance, username="gatekeeper"), out)
PY
status=0
for object in "$rendered"/object-*.json; do
  gatekeeper policy eval --policies "$POLICIES" --input "$object" || status=1
done
exit $status
