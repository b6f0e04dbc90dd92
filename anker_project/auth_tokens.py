"""JWTs that die with the password, and with the account.

Every token carries simplejwt's revocation claim (`CHECK_REVOKE_TOKEN`: a digest of the
user's password hash), so a password change — by any path: the admin, `changepassword`,
`set_password` in a shell — invalidates every access and refresh token issued before it.
A refresh is refused for an inactive user, and deactivating a user (or changing their
password) blacklists every refresh token they still hold, so reactivating them does not bring
old tokens back.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken, Token
from rest_framework_simplejwt.utils import get_md5_hash_password


class TokenRevokedError(Exception):
    """The token is well-formed and unexpired, but its user can no longer use it."""


def token_user(token: Token) -> Any:
    """The active user a token was issued to, if the token still speaks for them."""
    user_id = token.get(api_settings.USER_ID_CLAIM)
    user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first() if user_id else None
    if user is None or not user.is_active:
        raise TokenRevokedError("the account is inactive or gone")
    if token.get(api_settings.REVOKE_TOKEN_CLAIM) != get_md5_hash_password(user.password):
        raise TokenRevokedError("the password changed since this token was issued")
    return user


def refresh_rotate(raw: str) -> RefreshToken:
    """A new refresh token for a valid one, which is blacklisted. Raises TokenError or
    TokenRevokedError (then the presented token is blacklisted too)."""
    old = RefreshToken(raw)  # type: ignore[arg-type]  # signature, expiry, blacklist
    try:
        user = token_user(old)
    finally:
        old.blacklist()
    return RefreshToken.for_user(user)


def user_refresh_tokens_revoke(*, user_id: int) -> int:
    """Blacklist every refresh token of the user still outstanding. Returns how many."""
    outstanding = OutstandingToken.objects.filter(user_id=user_id, blacklistedtoken__isnull=True)
    created = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )
    return len(created)


def revoke_on_deactivation_or_password_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """post_save of the user model (we do not own it, so a receiver is the one hook every
    path — the admin, a shell, a management command — goes through)."""
    # AbstractBaseUser keeps the raw password in `_password` between set_password() and save().
    password_changed = getattr(instance, "_password", None) is not None
    if not created and (not instance.is_active or password_changed):
        user_refresh_tokens_revoke(user_id=instance.pk)


def access_token_user(raw: str) -> Any:
    """The user of a raw access token (WebSockets' `?token=`), or None."""
    try:
        return token_user(AccessToken(raw))  # type: ignore[arg-type]
    except (TokenError, TokenRevokedError):
        return None
