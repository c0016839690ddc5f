"""``/v1/policies``: list, register, promote and roll back versions of the registry (admin scope).

Promoting runs the promotion gate of ``pricepilot evaluate`` first
(:func:`pricepilot.evaluation.check_promotion`, doubly robust, 95%): the candidate and the current
active version are both evaluated on the offers the service logged with outcomes (every version of the
name whose offers carry the features both policies read, on the same ladder; the most recent
:data:`GATE_MAX_ROUNDS`). The candidate is promoted only when the gate says so; otherwise the answer is
a 409 with the gate's evidence (estimates, intervals, paired gain, diagnostics, reasons). Fewer than
``min_ess`` (100) logged outcomes is a 409 too: there is no evidence yet. The first promotion of a name
(nothing active) needs no gate. ``force=true`` skips the gate; the answer says so and the service logs
a warning naming the key.
"""

from __future__ import annotations

import base64
import binascii
import copy
import dataclasses
import logging
import math
from typing import Annotated

import numpy as np
from fastapi import APIRouter, HTTPException, Query, status

from pricepilot.data.logged import LoggedData
from pricepilot.evaluation.estimators import Estimate
from pricepilot.evaluation.gate import GateConfig, GateDecision, check_promotion
from pricepilot.guardrails import Guardrails
from pricepilot.policies import PolicyBase
from pricepilot.service.deps import AdminKey, Services, ServicesDep
from pricepilot.service.errors import AUTH_ERRORS, BODY_ERRORS, FieldError, Problem
from pricepilot.service.schemas import (
    EstimateOut,
    GateOut,
    PolicyIn,
    PolicyList,
    PolicyOut,
    PromotionOut,
    PromotionRefused,
)
from pricepilot.service.state import build_artifact, read_artifact
from pricepilot.store import PolicyRegistry, PolicyVersion, SnapshotStore, StoreError, export_logged
from pricepilot.types import ContextBatch, FloatArray, PriceLadder

router = APIRouter(prefix="/v1/policies", tags=["policies"], responses=AUTH_ERRORS)
logger = logging.getLogger("pricepilot.service")

#: how the promote route's gate decides (the defaults of ``pricepilot evaluate``)
GATE = GateConfig()
#: the most recent logged outcomes the gate reads
GATE_MAX_ROUNDS = 100_000


def _out(v: PolicyVersion) -> PolicyOut:
    return PolicyOut(
        name=v.name,
        version=v.version,
        tag=v.tag,
        status=v.status,
        created_at=v.created_at,
        activated_at=v.activated_at,
    )


def _parse_tag(policy_id: str) -> tuple[str, int]:
    name, _, version = policy_id.partition("@")
    if not name or "\x00" in name or not (version.isascii() and version.isdigit()) or len(version) > 9:
        raise FieldError(("policy_id",), f"expected 'name@version', got {policy_id!r}", source="path")
    return name, int(version)


def _after_change(services: Services, name: str) -> None:
    if name == services.settings.policy_name:
        services.state.reload()


@router.get("", response_model=PolicyList)
def list_policies(services: ServicesDep, _key: AdminKey) -> PolicyList:
    """Every registered version of every policy."""
    registry = PolicyRegistry(services.engine)
    return PolicyList(policies=[_out(v) for n in registry.names() for v in registry.versions(n)])


@router.post("", response_model=PolicyOut, status_code=status.HTTP_201_CREATED, responses=BODY_ERRORS)
def register_policy(body: PolicyIn, services: ServicesDep, _key: AdminKey) -> PolicyOut:
    """Register a trained policy as the next version of ``name`` (status ``registered``)."""
    try:
        data = base64.b64decode(body.artifact, validate=True)
        policy, names, _ = read_artifact(data)
    except (binascii.Error, ValueError) as err:
        raise FieldError(("artifact",), f"not a base64 packed saved policy: {err}") from err
    if body.feature_names is not None:
        names = tuple(body.feature_names)
    protected = Guardrails(services.settings.guardrails).protected_columns(names)
    if protected:
        raise FieldError(
            ("feature_names",),
            f"features {[names[j] for j in protected]} are protected attributes; a policy may not read them",
        )
    version = PolicyRegistry(services.engine).register(body.name, build_artifact(policy, names))
    return _out(version)


@router.post(
    "/{policy_id}/promote",
    response_model=PromotionOut,
    responses={
        404: {"model": Problem, "description": "no such policy version"},
        409: {
            "model": PromotionRefused,
            "description": "the promotion gate refused the candidate, or cannot judge it (too few "
            "logged outcomes, another ladder, features the logs lack); nothing was promoted",
        },
    },
)
def promote_policy(
    policy_id: str,
    services: ServicesDep,
    key: AdminKey,
    force: Annotated[
        bool, Query(description="skip the promotion gate (recorded in the answer and the service log)")
    ] = False,
) -> PromotionOut:
    """Make ``name@version`` the active version of its name (the live policy when it is the served
    name), when the promotion gate finds it better than the current version on the logged offers."""
    name, version = _parse_tag(policy_id)
    registry = PolicyRegistry(services.engine)
    try:
        registry.get(name, version)
    except StoreError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err
    current = registry.active(name)
    gate = None
    if force:
        note = "forced: the promotion gate was skipped"
        logger.warning(
            "promotion of %s@%d forced by API key %r: the promotion gate was skipped",
            name,
            version,
            key.label,
        )
    elif current is None:
        note = f"first promotion of {name!r}: no active version to compare with, no gate"
    elif current.version == version:
        note = f"{current.tag} is already the active version"
    else:
        gate = _run_gate(services, registry, name, version, current)
        note = f"the promotion gate judged {name}@{version} better than {current.tag}"
        now = registry.active(name)
        if now is None or now.version != current.version:  # promoted or rolled back meanwhile
            raise _refuse(f"{current.tag} stopped being the active version while the gate ran; try again")
    try:
        promoted = registry.promote(name, version)
    except StoreError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err
    _after_change(services, name)
    return PromotionOut(**_out(promoted).model_dump(), forced=force, gate=gate, note=note)


@router.post("/{name}/rollback", response_model=PolicyOut, responses={409: {"model": Problem}})
def rollback_policy(name: str, services: ServicesDep, _key: AdminKey) -> PolicyOut:
    """Re-activate the version of ``name`` that was live before the current one."""
    name = name.partition("@")[0]
    if "\x00" in name:
        raise FieldError(("name",), f"a policy name has no NUL character, got {name!r}", source="path")
    try:
        restored = PolicyRegistry(services.engine).rollback(name)
    except StoreError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from err
    _after_change(services, name)
    return _out(restored)


# ---------------------------------------------------------------------------- the promotion gate
@dataclasses.dataclass(frozen=True)
class _Reads:
    """A policy that reads the named feature columns of a wider context batch."""

    policy: PolicyBase
    names: tuple[str, ...]

    def action_probabilities(self, contexts: ContextBatch) -> FloatArray:
        columns = [contexts.feature_names.index(n) for n in self.names]
        narrow = dataclasses.replace(
            contexts, features=contexts.features[:, columns], feature_names=self.names
        )
        return self.policy.action_probabilities(narrow)


def _refuse(message: str, gate: GateOut | None = None) -> HTTPException:
    detail = {"message": message, "gate": None if gate is None else gate.model_dump()}
    return HTTPException(status.HTTP_409_CONFLICT, detail)


def _current_policy(
    services: Services, registry: PolicyRegistry, current: PolicyVersion
) -> tuple[PolicyBase, tuple[str, ...]]:
    """A copy of the current version as it serves now: the live policy (with what it has learned
    online), else its latest snapshot, else its registered artifact."""
    state = services.state
    if current.name == services.settings.policy_name and state.ready:
        with state.lock:
            live = state.current()
            if live.tag == current.tag:
                return copy.deepcopy(live.policy), live.feature_names
    snapshot = SnapshotStore(services.engine).latest(current.tag)
    data = snapshot.state if snapshot is not None else registry.artifact(current.name, current.version)
    policy, names, _ = read_artifact(data)
    return policy, names


def _logged_offers(
    services: Services, registry: PolicyRegistry, name: str, ladder: PriceLadder, needs: tuple[str, ...]
) -> LoggedData | None:
    """The offers of every version of ``name`` with outcomes, served on ``ladder`` with the features
    ``needs`` (columns in that order); the most recent :data:`GATE_MAX_ROUNDS`; None when there are none."""
    parts = []
    for v in registry.versions(name):
        try:
            part = export_logged(
                services.engine, policy_version=v.tag, ladder=ladder, objective=services.settings.objective
            )
        except StoreError:
            continue  # no outcomes yet, or another ladder
        if not set(needs) <= set(part.feature_names):
            continue
        columns = [part.feature_names.index(n) for n in needs]
        parts.append(dataclasses.replace(part, features=part.features[:, columns], feature_names=needs))
    if not parts:
        return None
    logged = LoggedData.concat(parts)
    return logged.take(slice(-GATE_MAX_ROUNDS, None)) if logged.n > GATE_MAX_ROUNDS else logged


def _same_ladder(a: PriceLadder, b: PriceLadder) -> bool:
    return bool(
        a.n_actions == b.n_actions
        and np.array_equal(a.multipliers, b.multipliers)
        and np.array_equal(a.coupons, b.coupons)
    )


def _run_gate(
    services: Services, registry: PolicyRegistry, name: str, version: int, current: PolicyVersion
) -> GateOut:
    """The gate's verdict on ``name@version`` against ``current``; raises a 409 unless it promotes."""
    tag = f"{name}@{version}"
    candidate, candidate_names, _ = read_artifact(registry.artifact(name, version))
    live, live_names = _current_policy(services, registry, current)
    if not _same_ladder(candidate.ladder, live.ladder):
        raise _refuse(
            f"{tag} prices on another ladder than {current.tag} ({candidate.ladder.n_actions} against "
            f"{live.ladder.n_actions} actions): the logged offers cannot evaluate it; promote with "
            "force=true to skip the gate"
        )
    needs = tuple(dict.fromkeys(live_names + candidate_names))
    logged = _logged_offers(services, registry, name, live.ladder, needs)
    rounds = 0 if logged is None else logged.n
    if logged is None or rounds < GATE.min_ess:
        raise _refuse(
            f"too few logged outcomes to judge {tag} against {current.tag}: {rounds} offers of "
            f"{name!r} with outcomes and the features {list(needs)}; the gate needs at least "
            f"{GATE.min_ess:g}. Serve {current.tag} longer (with exploration) or promote with force=true"
        )
    try:
        decision = check_promotion(logged, _Reads(candidate, candidate_names), _Reads(live, live_names), GATE)
    except ValueError as err:
        raise _refuse(f"the promotion gate cannot judge {tag} on the logged offers: {err}") from err
    verdict = _gate_out(decision, rounds)
    if not decision.promote:
        raise _refuse(f"the promotion gate refused {tag} against {current.tag}", verdict)
    return verdict


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _estimate_out(e: Estimate) -> EstimateOut:
    d = e.diagnostics
    return EstimateOut(
        value=_finite(e.value),
        ci_low=_finite(e.ci_low),
        ci_high=_finite(e.ci_high),
        std_error=_finite(e.std_error),
        effective_sample_size=_finite(d.effective_sample_size),
        max_weight=_finite(d.max_weight),
        never_taken_share=_finite(d.never_taken_share),
        warnings=list(d.warnings),
    )


def _gate_out(decision: GateDecision, rounds: int) -> GateOut:
    return GateOut(
        promote=decision.promote,
        estimator=GATE.estimator,
        alpha=GATE.alpha,
        rounds=rounds,
        candidate=_estimate_out(decision.candidate),
        current=_estimate_out(decision.current),
        difference=_finite(decision.difference),
        difference_low=_finite(decision.difference_low),
        difference_high=_finite(decision.difference_high),
        margin=decision.margin,
        reasons=list(decision.reasons),
    )
