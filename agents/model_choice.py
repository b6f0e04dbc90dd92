"""A model per session: `LLM_MODELS` lists the models users may pick (name, provider, base URL,
key variable); a session or job names one; turns then talk to it, and the turn records which
model it used (the usage ledger's per-model breakdown).

MODEL_NAME with the LLM_PROVIDER/API_BASE/API_KEY settings stays the default and is always allowed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from anker_project.errors import ApplicationError

from .llm import LLM, PROVIDER_BASES, LLMConfig, LLMConfigError, llm_config
from .models import Turn
from .reach.models import SessionReach


class ModelInvalidError(ApplicationError):
    status = 422


@dataclass(frozen=True)
class ModelOption:
    name: str  # what users pick and the usage ledger shows
    provider: str
    base_url: str
    key_env: str  # the environment variable holding its API key ("" for keyless local servers)
    model: str  # the provider's model id


def model_options() -> list[ModelOption]:
    """The pickable models from LLM_MODELS, in their order; entries without a name are skipped."""
    options: list[ModelOption] = []
    raw = settings.LLM_MODELS if isinstance(settings.LLM_MODELS, list) else []
    for entry in raw:
        if not isinstance(entry, dict) or not str(entry.get("name") or "").strip():
            continue
        name = str(entry["name"]).strip()
        options.append(
            ModelOption(
                name=name,
                provider=str(entry.get("provider") or "compatible").strip().lower(),
                base_url=str(entry.get("base_url") or "").strip(),
                key_env=str(entry.get("key_env") or "").strip(),
                model=str(entry.get("model") or name).strip(),
            )
        )
    return options


def default_model_name() -> str:
    return str(settings.MODEL_NAME)


def model_names() -> list[str]:
    names = [default_model_name()]
    return names + [o.name for o in model_options() if o.name not in names]


def model_check(name: str) -> str:
    """`name` if users may pick it ("" means the default); else a 422 listing the choices."""
    name = (name or "").strip()
    if name and name not in model_names():
        raise ModelInvalidError(
            f"model '{name[:100]}' is not offered here; choose one of: {', '.join(model_names())}",
            extra={"models": model_names()},
        )
    return name


def models_listing() -> list[dict[str, Any]]:
    default = default_model_name()
    items = [{"name": default, "provider": settings.LLM_PROVIDER, "default": True}]
    items += [{"name": o.name, "provider": o.provider, "default": False} for o in model_options() if o.name != default]
    return items


def llm_for_model(name: str) -> LLM:
    """The LLM client for a picked model; the default (or a name no longer listed) uses the settings."""
    option = next((o for o in model_options() if o.name == name), None) if name else None
    if option is None:
        return LLM(llm_config())
    url = option.base_url or PROVIDER_BASES.get(option.provider, "")
    if not url:
        raise LLMConfigError(
            f"The model '{option.name}' in LLM_MODELS has no base_url and its provider '{option.provider}' "
            "has no known URL. Set its base_url in LLM_MODELS and restart."
        )
    key = os.environ.get(option.key_env, "").strip() if option.key_env else ""
    if not key:
        if option.provider in PROVIDER_BASES:
            raise LLMConfigError(
                f"No API key for the model '{option.name}': set {option.key_env or 'its key_env variable'} "
                "in .env and restart Anker."
            )
        key = "not-needed"
    return LLM(
        LLMConfig(
            provider=option.provider,
            base_url=url,
            api_key=key,
            model=option.model,
            temperature=settings.TEMPERATURE,
            max_tokens=settings.MAX_TOKENS,
            timeout=settings.LLM_TIMEOUT_SECONDS,
            max_retries=settings.LLM_MAX_RETRIES,
            retry_base=settings.LLM_RETRY_BASE_SECONDS,
        )
    )


def session_model(*, session_id: str) -> str:
    """The model the session picked, or "" for the default."""
    return SessionReach.objects.filter(session_id=session_id).values_list("model", flat=True).first() or ""


def session_model_set(*, session_id: str, model: str) -> str:
    """Pick the session's model for its next turns ("" = the default); 422 for a model not offered."""
    name = model_check(model)
    SessionReach.objects.update_or_create(session_id=session_id, defaults={"model": name})
    return name


def llm_for_turn(*, session_id: str, turn_id: str) -> LLM:
    """The session's model's client; the turn records the model's name for the usage ledger."""
    name = session_model(session_id=session_id)
    llm = llm_for_model(name)
    Turn.objects.filter(pk=turn_id).update(model=name if name in model_names() else default_model_name())
    return llm
