"""``ioc``: the administrators' command line (keys, units, migrations, demo data).

Examples::

    ioc migrate
    ioc keys create --role ward_app --unit 06652 --name "Ứng dụng phường Hà Phong"
    ioc keys list
    ioc keys revoke 3f0c…
    ioc units import units.csv
    ioc people create --login ha-phong --name "Nguyễn Thị Lan" --role unit --unit 06652
    ioc people list
    ioc seed demo --keys --people
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from services.api import migrations
from services.api.keys import service as keys_service
from services.api.keys.schemas import KeyCreate
from services.api.people import service as people_service
from services.api.people.schemas import PersonCreate
from services.api.seed.demo import demo_keys, demo_people, seed_demo
from services.api.settings import get_settings
from services.api.units import service as units_service
from services.api.units.importer import import_units
from shared.auth import Role
from shared.db import create_engine, ensure_database, session_factory
from shared.problems import AppError, describe
from shared.timeutil import to_vietnam

app = typer.Typer(
    help="Administration of the IOC Hạ Long registry.", no_args_is_help=True, pretty_exceptions_enable=False
)
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
units_app = typer.Typer(help="The unit directory.", no_args_is_help=True)
seed_app = typer.Typer(help="Demo data.", no_args_is_help=True)
people_app = typer.Typer(help="People's accounts: create, list, disable, reset-password.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(people_app, name="people")
app.add_typer(units_app, name="units")
app.add_typer(seed_app, name="seed")

T = TypeVar("T")
# Messages in Vietnamese unless `ioc --lang en …` (the same texts the HTTP API answers with).
_language = {"english": False}


@app.callback()
def _options(
    lang: Annotated[str, typer.Option("--lang", help="language of messages: vi (default) or en")] = "vi",
) -> None:
    if lang not in ("vi", "en"):
        raise typer.BadParameter("vi or en", param_hint="--lang")
    _language["english"] = lang == "en"


def _fail(exc: AppError | ValidationError, code: int = 1) -> typer.Exit:
    typer.secho(describe(exc, english=_language["english"]), fg="red", err=True)
    return typer.Exit(code)


def _when(at: datetime | None) -> str:
    """A time in the lists, in Vietnam time to the minute; "-" for none."""
    return to_vietnam(at).strftime("%Y-%m-%d %H:%M") if at else "-"


def _run(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(sessions)`` against the configured database, then close the pool."""

    async def main() -> T:
        engine = create_engine(get_settings(), pool_size=2, max_overflow=0)
        try:
            return await work(session_factory(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except AppError as exc:
        raise _fail(exc) from None


async def _with_session(sessions: Any, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    async with sessions() as session:
        return await work(session)


@app.command()
def migrate(
    create_database: Annotated[bool, typer.Option(help="create the database first if it does not exist")] = False,
) -> None:
    """Bring the registry's schemas (registry, auth) to the latest migration."""
    url = get_settings().database_url
    if create_database and asyncio.run(ensure_database(url)):
        typer.echo(f"created database {url.rsplit('/', 1)[-1]}")
    migrations.upgrade(url)
    typer.echo("registry schema is up to date")


@keys_app.command("create")
def keys_create(
    role: Annotated[Role, typer.Option(help="office, ward_app, ops_centre or app_backend")],
    name: Annotated[str, typer.Option(help="who uses the key, e.g. the app's name")],
    unit: Annotated[str | None, typer.Option(help="unit code; required for ward_app")] = None,
    rate_limit: Annotated[int | None, typer.Option(help="requests per minute (default: the role's)")] = None,
) -> None:
    """Create a key. The secret is printed alone on the last line, once; only its hash is stored."""
    try:
        data = KeyCreate(name=name, role=role, unit_code=unit, rate_limit_per_minute=rate_limit)
    except ValidationError as exc:
        raise _fail(exc, 2) from None
    created = _run(lambda s: _with_session(s, lambda session: keys_service.create_key(session, data)))
    typer.echo(
        f"id:    {created.id}\nrole:  {created.role.value}\nunit:  {created.unit_code or '-'}\n"
        f"name:  {created.name}\nStore this key now; it cannot be shown again:"
    )
    typer.echo(created.key)


@keys_app.command("list")
def keys_list() -> None:
    """Every key (no secrets): id, role, unit, hint, created, revoked."""
    rows = _run(lambda s: _with_session(s, keys_service.list_keys))
    typer.echo(f"{'id':36}  {'role':11}  {'unit':8}  {'hint':10}  {'created':16}  {'revoked':16}  name")
    for k in rows:
        created, revoked = _when(k.created_at), _when(k.revoked_at)
        typer.echo(
            f"{k.id!s:36}  {k.role:11}  {k.unit_code or '-':8}  {k.key_hint:10}  {created:16}  {revoked:16}  {k.name}"
        )


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[uuid.UUID, typer.Argument(help="the key's id (see `ioc keys list`)")]) -> None:
    """Revoke a key: requests with it answer 401 from now on."""
    key = _run(lambda s: _with_session(s, lambda session: keys_service.revoke_key(session, key_id)))
    typer.echo(f"revoked {key.id} ({key.name})")


@units_app.command("import")
def units_import(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]) -> None:
    """Import units from a CSV file (GSO list or code,name,kind,parent_code,email,phone,staff_headcount)."""
    try:
        report = _run(lambda s: _with_session(s, lambda session: import_units(session, file, by="ioc units import")))
    except ValueError as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}, "
        f"rejected {len(report.errors)}"
    )
    for row in report.errors:
        problem = describe(row.error, english=_language["english"])
        typer.secho(
            f"  {'row' if _language['english'] else 'dòng'} {row.line} ({row.code}): {problem}", fg="yellow", err=True
        )
    if report.errors:
        raise typer.Exit(1)


@units_app.command("announce")
def units_announce() -> None:
    """Send every unit to the services that keep a copy of the directory (adoption), e.g. after deploying one."""
    count = _run(lambda s: _with_session(s, units_service.announce_all))
    typer.echo(f"announced {count} units")


@people_app.command("create")
def people_create(
    login: Annotated[str, typer.Option(help="3 to 64 letters, digits, . - _ (stored lower-case)")],
    name: Annotated[str, typer.Option(help="the person's name, as shown")],
    role: Annotated[str, typer.Option(help="office, ops_centre or unit")],
    unit: Annotated[str | None, typer.Option(help="unit code; required for role unit")] = None,
    password_change: Annotated[
        bool, typer.Option("--password-change/--no-password-change", help="ask for a new password at first sign-in")
    ] = True,
) -> None:
    """Create an account. Its one-time password is printed alone on the last line, once."""
    try:
        data = PersonCreate(
            login=login, display_name=name, role=role, unit_code=unit, must_change_password=password_change
        )
    except ValidationError as exc:
        raise _fail(exc, 2) from None
    created = _run(
        lambda s: _with_session(s, lambda session: people_service.create_person(session, data, by="ioc people create"))
    )
    typer.echo(
        f"id:    {created.id}\nlogin: {created.login}\nrole:  {created.role}\nunit:  {created.unit_code or '-'}\n"
        f"name:  {created.display_name}\n"
        + (
            "Give this password once; it must be changed at first sign-in:"
            if created.must_change_password
            else "Give this password once:"
        )
    )
    typer.echo(created.password)


@people_app.command("list")
def people_list() -> None:
    """Every account (no passwords): login, role, unit, created, disabled, name."""
    rows = _run(lambda s: _with_session(s, people_service.list_people))
    typer.echo(f"{'login':24}  {'role':10}  {'unit':8}  {'created':16}  {'disabled':16}  name")
    for p in rows:
        created, disabled = _when(p.created_at), _when(p.disabled_at)
        typer.echo(f"{p.login:24}  {p.role:10}  {p.unit_code or '-':8}  {created:16}  {disabled:16}  {p.display_name}")


@people_app.command("disable")
def people_disable(login: Annotated[str, typer.Argument(help="the person's login")]) -> None:
    """Disable an account: its sessions stop working on every service at once."""

    async def work(session: AsyncSession) -> str:
        person = await people_service.find_by_login(session, login)
        return (await people_service.disable_person(session, person, by="ioc people disable")).login

    typer.echo(f"disabled {_run(lambda s: _with_session(s, work))}")


@people_app.command("reset-password")
def people_reset_password(login: Annotated[str, typer.Argument(help="the person's login")]) -> None:
    """A new one-time password, printed alone on the last line; the person's sessions end."""

    async def work(session: AsyncSession) -> str:
        person = await people_service.find_by_login(session, login)
        return (await people_service.reset_password(session, person, by="ioc people reset-password")).password

    password = _run(lambda s: _with_session(s, work))
    typer.echo(f"New password for {login.strip().lower()}; it must be changed at first sign-in:")
    typer.echo(password)


@seed_app.command("demo")
def seed_demo_command(
    keys: Annotated[bool, typer.Option(help="also make fresh demo keys (revoking the previous ones)")] = False,
    keys_file: Annotated[Path, typer.Option(help="where --keys writes the new keys (replacing the old)")] = Path(
        ".run/demo-keys.txt"
    ),
    people: Annotated[
        bool, typer.Option(help="also give the demo people (one per role) fresh passwords, no change asked")
    ] = False,
    people_file: Annotated[
        Path, typer.Option(help="where --people writes `<role> <login> <password>` lines (replacing the old)")
    ] = Path(".run/demo-people.txt"),
) -> None:
    """Load Hạ Long's units, directive 984/UBND with its registrations, and a directive due in two weeks."""
    report = _run(seed_demo)
    typer.echo(
        f"units: {report.units_created} created, {report.units_updated} updated; "
        f"directives created: {', '.join(report.directives_created) or 'none (already there)'}; "
        f"registrations: {report.registrations}"
    )
    if keys:
        lines = [f"{name:42} {secret}" for name, secret in _run(demo_keys).items()]
        keys_file.parent.mkdir(parents=True, exist_ok=True)
        keys_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        typer.echo("\n".join(lines))
        typer.echo(f"(the previous demo keys are revoked; these are in {keys_file})")
    if people:
        lines = [f"{role} {login} {password}" for role, login, password in _run(demo_people)]
        people_file.parent.mkdir(parents=True, exist_ok=True)
        people_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        people_file.chmod(0o600)
        typer.echo("\n".join(lines))
        typer.echo(f"(demo people: role, login, password; made anew on every run, in {people_file})")


if __name__ == "__main__":
    app()
