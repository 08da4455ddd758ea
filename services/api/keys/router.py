"""HTTP endpoints of API keys (Office only)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.api.dependencies import Office, Session
from services.api.keys import service
from services.api.keys.schemas import KeyCreate, KeyCreated, KeyOut
from shared.openapi import link, problem_responses
from shared.schemas import Uuid

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.post(
    "",
    response_model=KeyCreated,
    status_code=201,
    responses={
        201: {"links": {"Revoke": link("post", "/v1/keys/{key_id}/revoke", "Revoke it", key_id="$response.body#/id")}}
    },
)
async def create_key(session: Session, principal: Office, body: KeyCreate) -> KeyCreated:
    """Make a key for an app or a team. The secret is in this response only; it is stored as a hash."""
    return await service.create_key(session, body)


@router.get("", response_model=list[KeyOut])
async def list_keys(session: Session, principal: Office) -> list[KeyOut]:
    """Every key, revoked ones included, without secrets."""
    return [KeyOut.model_validate(k) for k in await service.list_keys(session)]


@router.post("/{key_id}/revoke", response_model=KeyOut, responses=problem_responses({404: "No such key"}))
async def revoke_key(request: Request, session: Session, principal: Office, key_id: Uuid) -> KeyOut:
    """Revoke a key; requests with it answer 401 from now on."""
    revoked = KeyOut.model_validate(await service.revoke_key(session, key_id))
    request.app.state.key_cache.clear()  # other processes hear of it through PostgreSQL NOTIFY
    return revoked
