"""``/v1/policies``: list, register, promote and roll back versions of the registry (admin scope)."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, HTTPException, status

from pricepilot.guardrails import Guardrails
from pricepilot.service.deps import AdminKey, Services, ServicesDep
from pricepilot.service.errors import FieldError
from pricepilot.service.schemas import PolicyIn, PolicyList, PolicyOut
from pricepilot.service.state import build_artifact, read_artifact
from pricepilot.store import PolicyRegistry, PolicyVersion, StoreError

router = APIRouter(prefix="/v1/policies", tags=["policies"])


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
    if not name or not version.isdigit():
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


@router.post("", response_model=PolicyOut, status_code=status.HTTP_201_CREATED)
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


@router.post("/{policy_id}/promote", response_model=PolicyOut)
def promote_policy(policy_id: str, services: ServicesDep, _key: AdminKey) -> PolicyOut:
    """Make ``name@version`` the active version of its name (the live policy when it is the served name)."""
    name, version = _parse_tag(policy_id)
    try:
        promoted = PolicyRegistry(services.engine).promote(name, version)
    except StoreError as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(err)) from err
    _after_change(services, name)
    return _out(promoted)


@router.post("/{name}/rollback", response_model=PolicyOut)
def rollback_policy(name: str, services: ServicesDep, _key: AdminKey) -> PolicyOut:
    """Re-activate the version of ``name`` that was live before the current one."""
    name = name.partition("@")[0]
    try:
        restored = PolicyRegistry(services.engine).rollback(name)
    except StoreError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from err
    _after_change(services, name)
    return _out(restored)
