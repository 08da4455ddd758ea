"""Use cases of API keys: create (the secret is returned once), list, revoke."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.keys.schemas import KeyCreate, KeyCreated, KeyOut
from services.api.units.service import find_unit
from shared.auth import ApiKey, hash_key, new_key
from shared.problems import FieldError, InvalidFields, NotFound
from shared.timeutil import utcnow


async def create_key(session: AsyncSession, data: KeyCreate) -> KeyCreated:
    if data.unit_code is not None:
        unit = await find_unit(session, data.unit_code)
        if unit is None or not unit.active:
            raise InvalidFields(FieldError("unit_code", "unit_codes_unknown", codes=data.unit_code))
    secret = new_key()
    key = ApiKey(
        id=uuid.uuid4(),
        name=data.name,
        role=data.role.value,
        unit_code=data.unit_code,
        key_hash=hash_key(secret),
        key_hint=secret[:10],
        rate_limit_per_minute=data.rate_limit_per_minute,
    )
    session.add(key)
    await session.commit()
    await session.refresh(key)
    return KeyCreated(**KeyOut.model_validate(key).model_dump(), key=secret)


async def list_keys(session: AsyncSession, *, include_revoked: bool = True) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return list((await session.scalars(query)).all())


async def revoke_key(session: AsyncSession, key_id: uuid.UUID) -> ApiKey:
    """Revoke at once: the next request with this key answers 401. Revoking twice changes nothing."""
    key = await session.get(ApiKey, key_id)
    if key is None:
        raise NotFound("key-not-found", id=str(key_id))
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        await session.commit()
    return key
