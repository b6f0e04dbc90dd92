"""The models users may pick (`GET /models`) and a session's model (`GET/PUT /sessions/{id}/model`)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from anker_project.envelope import ok
from anker_project.principal import request_principal
from sessions.selectors import session_get

from .model_choice import default_model_name, models_listing, session_model, session_model_set
from .reach.apis import IsPersonal


class ModelItemSerializer(serializers.Serializer):
    name = serializers.CharField()
    provider = serializers.CharField()
    default = serializers.BooleanField()


class ModelListApi(APIView):
    class Output(serializers.Serializer):
        models = ModelItemSerializer(many=True)
        default = serializers.CharField()

        class Meta:
            ref_name = "ModelList"

    @extend_schema(summary="The models a session or job may pick (MODEL_NAME, then LLM_MODELS)", responses=Output)
    def get(self, request: Request) -> Response:
        return ok(self.Output({"models": models_listing(), "default": default_model_name()}).data)


class SessionModelOutput(serializers.Serializer):
    model = serializers.CharField(help_text="the model the session's next turns use")
    default = serializers.BooleanField(help_text="true when the session uses the default model")


def _session_model(name: str) -> dict[str, Any]:
    return SessionModelOutput({"model": name or default_model_name(), "default": not name}).data


class SessionModelGetApi(APIView):
    permission_classes = [IsPersonal]

    @extend_schema(summary="The model this session uses", responses=SessionModelOutput)
    def get(self, request: Request, session_id: str) -> Response:
        session = session_get(principal=request_principal(request), session_id=session_id)
        return ok(_session_model(session_model(session_id=session.id)))


class SessionModelSetApi(APIView):
    permission_classes = [IsPersonal]

    class Input(serializers.Serializer):
        model = serializers.CharField(
            max_length=200, allow_blank=True, help_text="a name from GET /models; empty = the default model"
        )

        class Meta:
            ref_name = "SessionModelInput"  # the schema's name before the split: clients keep it

    @extend_schema(
        summary="Pick the model for this session's next turns (422 for a model not offered)",
        request=Input,
        responses=SessionModelOutput,
    )
    def put(self, request: Request, session_id: str) -> Response:
        session = session_get(principal=request_principal(request), session_id=session_id)
        serializer = self.Input(data=request.data if isinstance(request.data, dict) else {})
        serializer.is_valid(raise_exception=True)
        return ok(_session_model(session_model_set(session_id=session.id, model=serializer.validated_data["model"])))
