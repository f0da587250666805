"""Admin console accounts: argon2 password hashes, roles, login checks."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from ground.store.admin_sessions import revoke_user
from ground.tables.console import admin_users
from ground.roles import ROLES
from ground.tables.tickets import utcnow

log = logging.getLogger(__name__)
_hasher = PasswordHasher()
MIN_PASSWORD = 8
# A hash to verify against when the user does not exist, so both cases take the same time.
_DUMMY_HASH = _hasher.hash("not a real password")


class UserError(ValueError):
    """Bad user data (unknown role, short password, duplicate name)."""


@dataclass(frozen=True)
class User:
    id: int
    username: str
    role: str
    active: bool
    created_at: datetime | None = None
    last_login_at: datetime | None = None


def _user(row) -> User:
    return User(row.id, row.username, row.role, row.active, row.created_at, row.last_login_at)


def create_user(engine: Engine, username: str, password: str, role: str) -> User:
    """A new account; raises UserError for a bad role, a short password or a taken name."""
    username = (username or "").strip()
    if not username or len(username) > 64:
        raise UserError("用户名不能为空，最长64个字符")
    if role not in ROLES:
        raise UserError(f"角色必须是 {', '.join(ROLES)} 之一")
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"密码至少{MIN_PASSWORD}位")
    try:
        with engine.begin() as conn:
            conn.execute(admin_users.insert().values(
                username=username, password_hash=_hasher.hash(password), role=role, active=True,
                created_at=utcnow()))
    except IntegrityError as exc:
        raise UserError(f"用户 {username} 已存在") from exc
    user = get_user(engine, username)
    assert user is not None
    return user


def get_user(engine: Engine, username: str) -> User | None:
    with engine.connect() as conn:
        row = conn.execute(select(admin_users).where(admin_users.c.username == username)).first()
    return _user(row) if row is not None else None


def list_users(engine: Engine) -> list[User]:
    with engine.connect() as conn:
        return [_user(r) for r in conn.execute(select(admin_users).order_by(admin_users.c.username))]


def authenticate(engine: Engine, username: str, password: str) -> User | None:
    """The active user if the password matches, else None (rehashes outdated hashes)."""
    with engine.connect() as conn:
        row = conn.execute(select(admin_users).where(admin_users.c.username == (username or "").strip())).first()
    try:
        _hasher.verify(row.password_hash if row is not None else _DUMMY_HASH, password or "")
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None or not row.active:
        return None
    values = {"last_login_at": utcnow()}
    if _hasher.check_needs_rehash(row.password_hash):
        values["password_hash"] = _hasher.hash(password)
    with engine.begin() as conn:
        conn.execute(update(admin_users).where(admin_users.c.id == row.id).values(**values))
    return _user(row)


def set_role(engine: Engine, username: str, role: str, active: bool = True) -> None:
    if role not in ROLES:
        raise UserError(f"角色必须是 {', '.join(ROLES)} 之一")
    with engine.begin() as conn:
        before = conn.execute(select(admin_users.c.role, admin_users.c.active)
                              .where(admin_users.c.username == username)).first()
        done = conn.execute(update(admin_users).where(admin_users.c.username == username)
                            .values(role=role, active=active))
        if before is not None and (before.role != role or bool(before.active) != active):
            revoke_user(conn, username)  # the new role applies from the next login
    if done.rowcount != 1:
        raise UserError(f"没有用户 {username}")


def set_password(engine: Engine, username: str, password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise UserError(f"密码至少{MIN_PASSWORD}位")
    with engine.begin() as conn:
        done = conn.execute(update(admin_users).where(admin_users.c.username == username)
                            .values(password_hash=_hasher.hash(password)))
        revoke_user(conn, username)  # whoever knew the old password is logged out everywhere
    if done.rowcount != 1:
        raise UserError(f"没有用户 {username}")
