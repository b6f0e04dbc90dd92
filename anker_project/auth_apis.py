"""Login for API clients (JWT) and the browser (the same call also sets the session cookie); one
class per operation, bodies rendered by the output serializers the schema shows."""

import contextlib
from typing import Any

from django.contrib.auth import authenticate, login, logout
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from .auth_tokens import TokenRevokedError, refresh_rotate
from .envelope import ok
from .errors import ApplicationError
from .login_limits import client_address, login_failure_record, login_success_record, login_throttle_check
from .parsers import BoundedJSONParser


class AuthenticationFailedError(ApplicationError):
    status = 401


class JsonOnlyError(ApplicationError):
    status = 415


class UserSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    is_staff = serializers.BooleanField()

    class Meta:
        ref_name = "User"


class TokensSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField()

    class Meta:
        ref_name = "Tokens"


class LoginTokensSerializer(TokensSerializer):
    user = UserSerializer()

    class Meta:
        ref_name = "LoginTokens"


def user_payload(user: Any) -> dict[str, Any]:
    return {"id": user.pk, "username": user.get_username(), "email": user.email, "is_staff": user.is_staff}


def _tokens(refresh: RefreshToken) -> dict[str, str]:
    return {"access_token": str(refresh.access_token), "refresh_token": str(refresh), "token_type": "bearer"}


class LoginApi(APIView):
    """JSON only: a form another site's page posts (login CSRF: logging the victim's browser
    into the attacker's account) cannot be JSON without a CORS preflight, which is refused."""

    permission_classes = [AllowAny]
    authentication_classes: list[type] = []
    parser_classes = [BoundedJSONParser]

    class Input(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        password = serializers.CharField(max_length=4096, trim_whitespace=False)

    @extend_schema(
        summary="Log in: JWT pair, and a session cookie for the browser", request=Input, responses=LoginTokensSerializer
    )
    def post(self, request: Request) -> Response:
        if (request.content_type or "").split(";")[0].strip().lower() != "application/json":
            raise JsonOnlyError("Log in with a JSON body: Content-Type: application/json.")
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        address, username = client_address(request._request), serializer.validated_data["username"]
        login_throttle_check(address=address, username=username)  # 429 before the password is tried
        user = authenticate(request._request, **serializer.validated_data)
        if user is None:
            login_failure_record(address=address, username=username)
            raise AuthenticationFailedError("Invalid username or password.")
        login_success_record(username=username)
        login(request._request, user)
        refresh = RefreshToken.for_user(user)
        return ok(LoginTokensSerializer({**_tokens(refresh), "user": user_payload(user)}).data)


class RefreshApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes: list[type] = []

    class Input(serializers.Serializer):
        refresh_token = serializers.CharField()

    @extend_schema(summary="Exchange a refresh token for a new pair", request=Input, responses=TokensSerializer)
    def post(self, request: Request) -> Response:
        serializer = self.Input(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            refresh = refresh_rotate(serializer.validated_data["refresh_token"])
        except TokenError as exc:
            raise AuthenticationFailedError("The refresh token is invalid or expired; log in again.") from exc
        except TokenRevokedError as exc:
            raise AuthenticationFailedError(f"The refresh token was revoked ({exc}); log in again.") from exc
        return ok(TokensSerializer(_tokens(refresh)).data)


class MeApi(APIView):
    @extend_schema(summary="The logged-in user", responses=UserSerializer)
    def get(self, request: Request) -> Response:
        return ok(UserSerializer(user_payload(request.user)).data)


class LogoutApi(APIView):
    class Input(serializers.Serializer):
        refresh_token = serializers.CharField(required=False)

    @extend_schema(
        summary="Log out: ends the cookie session and revokes the refresh token", request=Input, responses=None
    )
    def post(self, request: Request) -> Response:
        serializer = self.Input(data=request.data if isinstance(request.data, dict) else {})
        serializer.is_valid(raise_exception=True)
        raw = serializer.validated_data.get("refresh_token")
        if raw:
            with contextlib.suppress(TokenError):  # already invalid: nothing to revoke
                RefreshToken(raw).blacklist()  # type: ignore[arg-type]
        logout(request._request)
        return ok(None)
