"""The admission decision of DESIGN section 5: a function from an AdmissionRequest to a Verdict.

Order of the checks: a change of provenance metadata through a subresource, exemptions,
unguarded namespaces, then the Git requirement (the reconciler-identity rule for managed
objects, forgery of provenance by anyone else, creation of guarded kinds), then the Rego
policies. Break-glass lifts only the Git requirement.
"""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from gatekeeper.admission.ports import LedgerPort, PolicyFinding, PolicyPort, ProvenanceFacts
from gatekeeper.admission.verdict import Verdict, shorten
from gatekeeper.admission.wire import AdmissionRequest
from gatekeeper.audit import events
from gatekeeper.kube import compare, contract
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.settings import AdmissionSettings

_MARKS = (contract.MANAGED_LABEL, *contract.PROVENANCE_ANNOTATIONS)
# What no subresource may change: the marks and the break-glass annotation.
_SUBRESOURCE_ANNOTATIONS = (*contract.PROVENANCE_ANNOTATIONS, contract.BREAK_GLASS_ANNOTATION)
_NONE: Mapping[str, Any] = {}
_SHOWN_DIFFERENCES = 5
# Policy findings an answer shows (denials in its message, warnings), and their length.
_SHOWN_FINDINGS = 20
_SHOWN_MESSAGE_CHARACTERS = 1024


@dataclass(frozen=True)
class _Context:
    request: AdmissionRequest
    settings: AdmissionSettings
    ledger: LedgerPort
    policies: PolicyPort
    key: ObjectKey

    @property
    def operation(self) -> str:
        return self.request["operation"]

    @property
    def what(self) -> str:
        return f"{self.operation} of {self.key}"


def review(
    request: AdmissionRequest,
    *,
    settings: AdmissionSettings,
    ledger: LedgerPort,
    policies: PolicyPort,
) -> Verdict:
    """Decide one admission request. Reads the ledger and runs the policies; writes nothing."""
    context = _Context(request, settings, ledger, policies, object_key(request))
    base = Verdict(subject=str(context.key), policy_version=policies.version)
    if request["subResource"] and request["operation"] in ("CREATE", "UPDATE"):
        # Controllers write status all the time: compare only the few marks, allocating nothing.
        changed = _changed_mark(request["object"], request["oldObject"])
        if changed:
            return _subresource_change(context, base, changed)
    exemption = _exemption(request, settings)
    if exemption:
        return replace(base, reasons=(exemption,))
    if request["operation"] == "CONNECT":
        return replace(base, reasons=("CONNECT requests are not reviewed",))
    new, old = request["object"], request["oldObject"]
    if request["operation"] == "DELETE" and new is None and old is None:
        reason = (
            "the request carries no oldObject, so whether the object is managed from Git "
            "cannot be told"
        )
        return _deny(context, base, reason)
    managed = contract.is_managed(new) or contract.is_managed(old)
    base = replace(base, managed=managed)
    if request["userInfo"]["username"] == settings.reconciler_identity:
        return _from_reconciler(context, base, managed=managed)
    return _from_anyone_else(context, base, managed=managed)


# The resources whose `scale` subresource Kubernetes serves, by plural: a Scale's review
# names the Scale kind, and the object scaled only by its resource.
_SCALED_KINDS = {
    ("apps", "deployments"): "Deployment",
    ("apps", "replicasets"): "ReplicaSet",
    ("apps", "statefulsets"): "StatefulSet",
    ("", "replicationcontrollers"): "ReplicationController",
}


def object_key(request: AdmissionRequest) -> ObjectKey:
    """The identity of the object under review, from the object or the request itself. A
    scale is the scaled object's (a Deployment's), under which drift finds who scaled it."""
    resource = request["resource"]
    scaled = _SCALED_KINDS.get((resource["group"], resource["resource"]))
    if request["subResource"] == "scale" and scaled is not None:
        return ObjectKey(resource["group"], scaled, _objects_namespace(request), request["name"])
    obj = request["object"] or request["oldObject"]
    if obj:
        return ObjectKey.of(obj, default_namespace=_objects_namespace(request))
    return _request_key(request)


def _objects_namespace(request: AdmissionRequest) -> str:
    """The namespace the object lives in. For a Namespace, kube-apiserver fills the
    request's `namespace` with the Namespace's own name, but the object itself is
    cluster-scoped, and the reconciler records it so."""
    kind = request["kind"]
    if kind["group"] == "" and kind["kind"] == "Namespace":
        return ""
    return request["namespace"]


def _request_key(request: AdmissionRequest) -> ObjectKey:
    return ObjectKey(
        api_group=request["kind"]["group"],
        kind=request["kind"]["kind"],
        namespace=_objects_namespace(request),
        name=request["name"],
    )


def _exemption(
    request: AdmissionRequest, settings: AdmissionSettings, *, subresources: bool = True
) -> str:
    """Why the request is exempt, or "" when it is not; `subresources=False` leaves
    `exempt_subresources` out."""
    user = request["userInfo"]
    sub = request["subResource"]
    if subresources and sub and _matches(sub, settings.exempt_subresources):
        return f"subresource {sub} is exempt"
    namespace = request["namespace"]
    if namespace and _matches(namespace, settings.exempt_namespaces):
        return f"namespace {namespace} is exempt"
    if _matches(user["username"], settings.exempt_users):
        return f"user {user['username']} is exempt"
    exempt_groups = [g for g in user["groups"] if _matches(g, settings.exempt_groups)]
    if exempt_groups:
        return f"group {exempt_groups[0]} is exempt"
    if not _matches(namespace, settings.guarded_namespaces):
        return f"namespace {namespace or '(cluster scope)'} is not guarded"
    return ""


def _changed_mark(new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> str:
    """The first provenance label or annotation (break-glass included) that differs between
    the two objects, or "" when none does."""
    new_labels, new_annotations = _labels_and_annotations(new)
    old_labels, old_annotations = _labels_and_annotations(old)
    if new_labels.get(contract.MANAGED_LABEL) != old_labels.get(contract.MANAGED_LABEL):
        return contract.MANAGED_LABEL
    for key in _SUBRESOURCE_ANNOTATIONS:
        if new_annotations.get(key) != old_annotations.get(key):
            return key
    return ""


def _labels_and_annotations(
    obj: Mapping[str, Any] | None,
) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    metadata = obj.get("metadata") if obj else None
    if not metadata:
        return _NONE, _NONE
    return metadata.get("labels") or _NONE, metadata.get("annotations") or _NONE


def _subresource_change(context: _Context, base: Verdict, changed: str) -> Verdict:
    """A subresource request that changes `changed`: refused, whoever asks, unless the
    namespace, user or group is exempt or the namespace is not guarded."""
    request = context.request
    exemption = _exemption(request, context.settings, subresources=False)
    if exemption:
        return replace(base, reasons=(exemption,))
    base = replace(
        base,
        managed=contract.is_managed(request["object"]) or contract.is_managed(request["oldObject"]),
        provenance=_claimed(request["oldObject"] or request["object"]),
    )
    reason = (
        f"the provenance metadata {changed} cannot be set, changed or removed through the "
        f"{request['subResource']} subresource, by anyone"
    )
    return _deny(context, base, reason)


def _from_reconciler(context: _Context, base: Verdict, *, managed: bool) -> Verdict:
    if not managed:
        return _with_policies(context, base, ProvenanceFacts(), ("reconciler, unmanaged object",))
    request = context.request
    carrier = request["oldObject"] if context.operation == "DELETE" else request["object"]
    meta = contract.read(carrier)
    if meta is None:
        reason = "it carries the managed label without all provenance annotations " + ", ".join(
            contract.PROVENANCE_ANNOTATIONS
        )
        return _deny(context, base, reason)
    facts = ProvenanceFacts(source=meta.source, commit=meta.commit)
    base = replace(base, provenance=facts)
    verified = context.ledger.verified_commit(meta.source, meta.commit)
    if verified is None:
        reason = f"commit {meta.commit} of source {meta.source} is not recorded as verified"
        return _deny(context, base, reason)
    facts = replace(
        facts,
        verified=True,
        signer=verified.signer or "",
        key_id=verified.key_id or "",
        signature_format=verified.format or "",
    )
    base = replace(base, provenance=facts)
    if context.operation == "DELETE":
        return replace(base, reasons=(f"reconciler deleting an object of verified {meta.commit}",))
    recorded = context.ledger.desired(meta.source, meta.commit, context.key)
    if recorded is None:
        reason = (
            f"no desired manifest is recorded for it at commit {meta.commit} "
            f"of source {meta.source}"
        )
        return _deny(context, base, reason)
    digest, path, manifest = recorded
    facts = replace(facts, path=path)
    base = replace(base, provenance=facts)
    if meta.digest != digest:
        reason = (
            f"its manifest digest {meta.digest} is not the digest {digest} recorded for "
            f"{path} at commit {meta.commit}"
        )
        return _deny(context, base, reason)
    assert request["object"] is not None
    # The ledger keeps Secret values as keyed digests; compare the live object's the same way.
    live = context.ledger.as_stored(_without_marks(request["object"]))
    # Adopting an object someone else made: whatever of theirs the apply merged with is in
    # it still. An item of a named list Git lacks (a container, a volume) is refused then;
    # on objects already managed, such items are left to drift, which agrees with this.
    adopting = context.operation == "UPDATE" and not contract.is_managed(request["oldObject"])
    found = compare.differences(manifest, live, strict_lists=adopting)
    differing = list(itertools.islice(found, _SHOWN_DIFFERENCES))
    if differing:
        reason = (
            f"it disagrees with {path} at commit {meta.commit} on "
            + ", ".join(differing)
            + (" and more" if len(differing) == _SHOWN_DIFFERENCES else "")
        )
        return _deny(context, base, reason)
    return _with_policies(context, base, facts, (f"verified commit {meta.commit}, {path}",))


def _from_anyone_else(context: _Context, base: Verdict, *, managed: bool) -> Verdict:
    request = context.request
    username = request["userInfo"]["username"]
    new, old = request["object"], request["oldObject"]
    derived = _made_by_controller(context.operation, new, old, managed=managed)
    if derived and _matches(username, context.settings.controller_users):
        # A Deployment's ReplicaSets (and the like) inherit its provenance annotations; they
        # are the controller's to make, scale and delete, under the policies.
        return _with_policies(
            context, base, ProvenanceFacts(), ("made by a controller from a managed object",)
        )
    if context.operation != "DELETE" and _marks(new) != _marks(old):
        # Forgery, break-glass or not, and whatever owner references the object claims.
        changed = [key for key in _MARKS if _marks_dict(new).get(key) != _marks_dict(old).get(key)]
        reason = (
            f"only the reconciler ({context.settings.reconciler_identity}) may set or change "
            f"the provenance metadata {', '.join(changed)}; {username} may not"
        )
        base = replace(base, provenance=_claimed(old or new))
        return _deny(context, base, reason, where=_where(context, old or new))
    if derived:
        managed = True  # locked like its owner: a change must come through the owner in Git
    if managed:
        carrier = old if context.operation == "DELETE" else new
        facts = _claimed(old or new)
        base = replace(base, provenance=facts)
        reason_text = _break_glass_reason(carrier)
        groups = request["userInfo"]["groups"]
        break_glass = any(g in context.settings.break_glass_groups for g in groups)
        if reason_text and break_glass:
            base = replace(base, break_glass_reason=reason_text)
            return _with_policies(context, base, facts, (f"break-glass: {reason_text}",))
        if break_glass and context.operation == "UPDATE" and _ends_break_glass(new, old):
            # The incident is over: taking the annotation off changes nothing else.
            ended = _break_glass_reason(old)
            base = replace(base, break_glass_reason=f"ended: {ended}")
            return _with_policies(context, base, facts, (f"break-glass ended: {ended}",))
        reason = (
            f"it is managed from Git and {username} is not the reconciler; a change must come "
            "from a verified commit"
        )
        return _deny(context, base, reason, where=_where(context, old or new))
    if context.operation == "CREATE" and _matches(context.key.kind, context.settings.guarded_kinds):
        # An owner reference is the requester's own claim: only Kubernetes' controllers
        # (a ReplicaSet's Pods, a Job's Pods) create guarded kinds for their owners, and
        # the policies still apply to what they create.
        if _controller_owned(new) and _matches(username, context.settings.controller_users):
            reasons = ("created by a controller for its owner",)
            return _with_policies(context, base, ProvenanceFacts(), reasons)
        reason = (
            f"in guarded namespace {context.key.namespace or '(cluster scope)'}, "
            f"{context.key.kind} objects are created only by the reconciler"
        )
        return _deny(context, base, reason, where="add it to Git so the reconciler applies it")
    if context.operation == "DELETE":
        return replace(base, reasons=("unmanaged object",))
    return _with_policies(context, base, ProvenanceFacts(), ("unmanaged object",))


def _with_policies(
    context: _Context, base: Verdict, facts: ProvenanceFacts, reasons: tuple[str, ...]
) -> Verdict:
    """Apply the policies to an object that passed the Git requirement (or was let through)."""
    if context.operation == "DELETE":
        return replace(base, reasons=reasons, event_kind=_allowed_kind(context, base))
    outcome = context.policies.evaluate(context.request, facts)
    lifted = context.settings.break_glass_lifts if base.break_glass_reason else []
    blocking = [f for f in outcome.findings if f.action == "deny" and f.policy not in lifted]
    warnings = _shown([f for f in outcome.findings if f.action == "warn"], "warnings")
    base = replace(
        base, findings=outcome.findings, warnings=warnings, policy_version=outcome.version
    )
    if blocking:
        why = "; ".join(_shown(blocking, "denials"))
        where = _where(context, context.request["object"]) if base.managed else ""
        return _deny(context, base, f"policy: {why}", where=where)
    return replace(base, reasons=reasons, event_kind=_allowed_kind(context, base))


def _shown(findings: list[PolicyFinding], what: str) -> tuple[str, ...]:
    """The first findings as `[policy] message`, each message cut to a readable length,
    then how many more there are: an object that breaks a policy a thousand times makes a
    short answer (the audit record keeps its own bounded list: `Verdict.event`)."""
    shown = tuple(
        f"[{f.policy}] {shorten(f.message, _SHOWN_MESSAGE_CHARACTERS)}"
        for f in findings[:_SHOWN_FINDINGS]
    )
    more = len(findings) - len(shown)
    return (*shown, f"... and {more} more {what}") if more else shown


def _allowed_kind(context: _Context, verdict: Verdict) -> str:
    """`breakglass` for a change made under break-glass; a dry run changes nothing, so it
    is an `admission.allowed` (its payload keeps the reason and `dry_run`)."""
    if verdict.break_glass_reason and not context.request["dryRun"]:
        return events.BREAKGLASS
    return events.ADMISSION_ALLOWED


def _deny(context: _Context, base: Verdict, reason: str, *, where: str | None = None) -> Verdict:
    if where is None:
        where = _where(context, context.request["oldObject"] or context.request["object"])
    message = f"{context.what} refused: {reason}."
    if where:
        message += f" {where[:1].upper()}{where[1:]}."
    return replace(
        base,
        allowed=False,
        event_kind=events.ADMISSION_DENIED,
        reasons=(reason,),
        message=message,
    )


def _where(context: _Context, obj: Mapping[str, Any] | None) -> str:
    """Where the change must be made instead: the source and path in Git, from the ledger."""
    meta = contract.read(obj)
    if meta is None:
        return ""
    try:
        recorded = context.ledger.desired(meta.source, meta.commit, context.key)
    except Exception:  # a hint must never turn a refusal into no decision at all
        recorded = None
    path = recorded[1] if recorded else "(not recorded in the ledger)"
    return (
        f"change it in Git instead: source {meta.source}, path {path} "
        f"(last applied from commit {meta.commit[:12]})"
    )


def _without_marks(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    """`contract.strip(obj)` for reading only: the object without the label and annotations
    provenance adds, sharing every value but the maps on the way to them (a deep copy of a
    Deployment costs about a tenth of a decision)."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, Mapping):
        return obj
    metadata = dict(metadata)
    labels = metadata.get("labels")
    if isinstance(labels, Mapping):
        labels = {k: v for k, v in labels.items() if k != contract.MANAGED_LABEL}
        if labels:
            metadata["labels"] = labels
        else:
            del metadata["labels"]
    annotations = metadata.get("annotations")
    if isinstance(annotations, Mapping):
        annotations = {
            k: v for k, v in annotations.items() if k not in contract.PROVENANCE_ANNOTATIONS
        }
        if annotations:
            metadata["annotations"] = annotations
        else:
            del metadata["annotations"]
    return {**obj, "metadata": metadata}


def _marks_dict(obj: Mapping[str, Any] | None) -> dict[str, str]:
    metadata = (obj or {}).get("metadata") or {}
    labels = metadata.get("labels") or {}
    annotations = metadata.get("annotations") or {}
    found = {}
    if contract.MANAGED_LABEL in labels:
        found[contract.MANAGED_LABEL] = labels[contract.MANAGED_LABEL]
    for key in contract.PROVENANCE_ANNOTATIONS:
        if key in annotations:
            found[key] = annotations[key]
    return found


def _marks(obj: Mapping[str, Any] | None) -> tuple[str | None, ...]:
    found = _marks_dict(obj)
    return tuple(found.get(key) for key in _MARKS)


def _claimed(obj: Mapping[str, Any] | None) -> ProvenanceFacts:
    """The source and commit an object's provenance annotations name (unverified), so that
    what is recorded of a refused change can be found by that commit."""
    marks = _marks_dict(obj)  # strings: the review's annotations were checked so
    return ProvenanceFacts(
        source=marks.get(contract.SOURCE_ANNOTATION, ""),
        commit=marks.get(contract.COMMIT_ANNOTATION, ""),
    )


def _break_glass_reason(obj: Mapping[str, Any] | None) -> str:
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    value = annotations.get(contract.BREAK_GLASS_ANNOTATION)
    return value.strip() if isinstance(value, str) else ""


def _ends_break_glass(new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> bool:
    """Whether an UPDATE only takes the break-glass annotation off: the stored object has
    one, the new one none, and nothing else differs (bookkeeping the server keeps aside)."""
    if not _break_glass_reason(old) or _break_glass_reason(new) or new is None or old is None:
        return False

    def content(obj: Mapping[str, Any]) -> tuple[Any, ...]:
        metadata = obj.get("metadata") or {}
        annotations = {
            k: v
            for k, v in (metadata.get("annotations") or {}).items()
            if k != contract.BREAK_GLASS_ANNOTATION
        }
        kept = ("labels", "ownerReferences", "finalizers", "name", "namespace")
        body = {k: v for k, v in obj.items() if k not in ("metadata", "status")}
        return (body, annotations, *(metadata.get(k) for k in kept))

    return content(new) == content(old)


def _derived(obj: Mapping[str, Any] | None) -> bool:
    """Made by a controller from a managed object: owned by a controller and carrying
    provenance annotations, which Kubernetes copies from the owner (a Deployment's onto its
    ReplicaSets). Such marks claim nothing; the object is locked as its owner is."""
    if not _controller_owned(obj):
        return False
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    return any(key in annotations for key in contract.PROVENANCE_ANNOTATIONS)


def _made_by_controller(
    operation: str, new: Mapping[str, Any] | None, old: Mapping[str, Any] | None, *, managed: bool
) -> bool:
    """Whether the object under review was made by a controller from a managed object.

    Judged on what is stored when there is a stored object (an UPDATE's or a DELETE's
    `oldObject`): the requester writes the new object, and an owner reference added to it
    would claim the object for a controller. An object carrying the managed label is the
    reconciler's own, never a controller's, whatever owners it names."""
    if managed:
        return False
    return _derived(new if operation == "CREATE" else old)


def _controller_owned(obj: Mapping[str, Any] | None) -> bool:
    references = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(r, Mapping) and r.get("controller") is True for r in references)


def _matches(value: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)


def undecided(request: AdmissionRequest, *, settings: AdmissionSettings, cause: str) -> Verdict:
    """The answer when no decision could be made or recorded (`cause` says why).

    Exempt requests stay allowed; managed objects are refused (fail closed); the others
    follow `admission.failClosed`.
    """
    new, old = request["object"], request["oldObject"]
    marks_changed = False
    try:
        key = object_key(request)
        # Locked like a managed object: one made from it by a controller (`_derived`).
        managed = any(contract.is_managed(o) or _derived(o) for o in (new, old))
        if request["subResource"] and request["operation"] in ("CREATE", "UPDATE"):
            marks_changed = bool(_changed_mark(new, old))
    except Exception:  # what failed may be this very reading: fall back to the request
        key, managed, marks_changed = _request_key(request), True, True
    if new is None and old is None and request["operation"] == "DELETE":
        managed = True  # cannot be told: as if it were
    base = Verdict(subject=str(key), managed=managed)
    # A subresource write that changes provenance is refused whatever exemptSubresources
    # says (`review`): the subresource exemption cannot let it through here either.
    exemption = _exemption(request, settings, subresources=not marks_changed)
    if exemption:
        return replace(base, reasons=(exemption, f"unchecked: {cause}"))
    if not managed and not settings.fail_closed:
        return replace(
            base,
            reasons=(f"allowed unchecked: {cause}",),
            warnings=(f"gatekeeper could not check this request: {cause}",),
        )
    scope = "managed objects" if managed else "all guarded objects (failClosed)"
    reason = f"{cause}; changes to {scope} are refused until it can"
    return replace(
        base,
        allowed=False,
        event_kind=events.ADMISSION_DENIED,
        reasons=(reason,),
        message=f"{request['operation']} of {key} refused: {reason}.",
    )
