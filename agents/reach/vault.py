"""Users' secrets: Fernet-encrypted at rest, handed to the sandbox's shells as environment
variables, never shown again, never given to the model. The only module that decrypts."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import IntegrityError, transaction

from anker_project.errors import ApplicationError, NotFoundError

from .models import SECRET_NAME_RE, Secret, SessionReach

MAX_SECRET_BYTES = 64 * 1024
MIN_SECRET_CHARS = 4  # anker_project.redact: shorter values would redact ordinary words
# Names the sandbox's shells rely on: a secret may not replace them.
RESERVED_NAMES = frozenset({"HOME", "PATH", "TERM", "PAGER", "GIT_PAGER", "COLUMNS", "LINES", "LANG", "USER", "SHELL"})


class SecretInvalidError(ApplicationError):
    status = 422


@lru_cache(maxsize=4)
def _fernet(key: str, fallback: str) -> Fernet:
    if key:
        return Fernet(key.encode())
    derived = hashlib.sha256(b"anker-secrets:" + fallback.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def _cipher() -> Fernet:
    return _fernet(settings.SECRETS_ENCRYPTION_KEY, settings.SECRET_KEY)


def secret_name_check(name: str) -> str:
    if not re.fullmatch(SECRET_NAME_RE, name or ""):
        raise SecretInvalidError(
            f"secret name {name[:130]!r} is not an environment variable name: use letters, digits and _, "
            "not starting with a digit (at most 128 characters)"
        )
    if name in RESERVED_NAMES or name.startswith("TOOLAPI_"):
        raise SecretInvalidError(f"secret name {name!r} is reserved by the sandbox; pick another name")
    return name


def secret_put(*, owner_id: int, name: str, value: str) -> Secret:
    """Create or replace the owner's secret `name`."""
    secret_name_check(name)
    size = len(value.encode("utf-8"))
    if size > MAX_SECRET_BYTES:
        raise SecretInvalidError(f"secret value is {size} bytes; at most {MAX_SECRET_BYTES} bytes (64 KB)")
    if len(value) < MIN_SECRET_CHARS:
        raise SecretInvalidError(f"secret value must be at least {MIN_SECRET_CHARS} characters")
    if "\0" in value:
        raise SecretInvalidError("secret value may not contain NUL characters")
    token = _cipher().encrypt(value.encode("utf-8")).decode("ascii")
    try:
        with transaction.atomic():
            secret, created = Secret.objects.get_or_create(owner_id=owner_id, name=name, defaults={"ciphertext": token})
    except IntegrityError:  # created meanwhile by a concurrent request: replace it
        secret, created = Secret.objects.get(owner_id=owner_id, name=name), False
    if not created:
        Secret.objects.filter(pk=secret.pk).update(ciphertext=token)
    return secret


def secret_delete(*, owner_id: int, name: str) -> None:
    if not Secret.objects.filter(owner_id=owner_id, name=name).delete()[0]:
        raise NotFoundError(f"no secret named {name!r}")


def secrets_of_owner(*, owner_id: int) -> list[Secret]:
    return list(Secret.objects.filter(owner_id=owner_id).only("name", "created_at", "updated_at"))


def secret_names_check(*, owner_id: int, names: Sequence[str]) -> list[str]:
    """`names` deduplicated, each one of the owner's secrets; 422 names the missing ones."""
    wanted = list(dict.fromkeys(names))
    for name in wanted:
        secret_name_check(name)
    known = set(Secret.objects.filter(owner_id=owner_id, name__in=wanted).values_list("name", flat=True))
    missing = [n for n in wanted if n not in known]
    if missing:
        raise SecretInvalidError(f"you have no secret named {', '.join(missing)}; create it first")
    return wanted


def session_secret_names(*, session_id: str) -> list[str]:
    """The secrets chosen for the session's sandbox (none chosen: an empty list)."""
    reach = SessionReach.objects.filter(session_id=session_id).first()
    return list(reach.secret_names) if reach else []


def session_secrets_set(*, session_id: str, owner_id: int, names: Sequence[str]) -> list[str]:
    """Choose which of the owner's secrets the session's sandbox gets (from its next turn)."""
    checked = secret_names_check(owner_id=owner_id, names=names)
    SessionReach.objects.update_or_create(session_id=session_id, defaults={"secret_names": checked})
    return checked


def secret_values(*, owner_id: int, names: Sequence[str]) -> dict[str, str]:
    """Decrypted values of the owner's secrets in `names` (a deleted one is skipped)."""
    if not names:
        return {}
    out: dict[str, str] = {}
    cipher = _cipher()
    for secret in Secret.objects.filter(owner_id=owner_id, name__in=list(names)):
        try:
            out[secret.name] = cipher.decrypt(secret.ciphertext.encode("ascii")).decode("utf-8")
        except InvalidToken:  # the key changed: the secret cannot be used; the name says which
            continue
    return out
