"""HTTP endpoints of people's accounts (Office only)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from services.api.dependencies import Office, Session
from services.api.people import service
from services.api.people.schemas import PersonCreate, PersonOut, PersonWithPassword
from shared.openapi import link, problem_responses
from shared.schemas import Uuid

router = APIRouter(prefix="/v1/people", tags=["people"])
PERSON_LINKS = {
    "Disable": link("post", "/v1/people/{person_id}/disable", "Disable it", person_id="$response.body#/id"),
    "ResetPassword": link(
        "post", "/v1/people/{person_id}/password-reset", "Reset its password", person_id="$response.body#/id"
    ),
}


@router.get("", response_model=list[PersonOut])
async def list_people(session: Session, principal: Office) -> list[PersonOut]:
    """Every account, disabled ones included, by login; never a password."""
    return [PersonOut.model_validate(p) for p in await service.list_people(session)]


@router.post(
    "",
    response_model=PersonWithPassword,
    status_code=201,
    responses={201: {"links": PERSON_LINKS}, **problem_responses({409: "The login is taken"})},
)
async def create_person(session: Session, principal: Office, body: PersonCreate) -> PersonWithPassword:
    """Make an account. Its one-time password is in this response only, and must be changed at the
    first sign-in (unless `must_change_password` is false)."""
    return await service.create_person(session, body, by=principal.actor)


@router.post("/{person_id}/disable", response_model=PersonOut, responses=problem_responses({404: "No such person"}))
async def disable_person(request: Request, session: Session, principal: Office, person_id: Uuid) -> PersonOut:
    """Disable an account: its sessions answer 401 on every service from now on. Twice changes nothing."""
    person = await service.disable_person(session, await service.get_person(session, person_id), by=principal.actor)
    request.app.state.key_cache.clear()  # other processes hear of it through PostgreSQL NOTIFY
    return PersonOut.model_validate(person)


@router.post(
    "/{person_id}/password-reset",
    response_model=PersonWithPassword,
    responses=problem_responses({404: "No such person"}),
)
async def reset_password(request: Request, session: Session, principal: Office, person_id: Uuid) -> PersonWithPassword:
    """A new one-time password, shown this once; the person's sessions end and the password must be
    changed at the next sign-in."""
    reset = await service.reset_password(session, await service.get_person(session, person_id), by=principal.actor)
    request.app.state.key_cache.clear()
    return reset
