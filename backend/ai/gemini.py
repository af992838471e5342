"""Gemini through `google-genai`: structured JSON out, validated against our pydantic models.

One call = one breaker ticket, then attempts retried by tenacity while the error is transient (429, 5xx,
timeouts, connection errors), with exponential backoff and full jitter, all inside ONE deadline. Any
failure, an open breaker or an answer that does not validate gives None, and the caller answers locally.
Cancellation is never retried (CancelledError is not a transient error) and is re-raised.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, TypeVar

import httpx2
import structlog
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_before_delay, wait_random_exponential

from backend.ai.breaker import Breaker

log = structlog.get_logger(__name__)

Model = TypeVar("Model", bound=BaseModel)

RETRY_STATUS = frozenset({408, 429})
# Backoff: a random wait up to 0.1 s, 0.2 s, 0.4 s ... (full jitter), never more than 1 s.
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 1.0


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, genai_errors.APIError):
        return exc.code in RETRY_STATUS or 500 <= exc.code <= 599
    # google-genai talks through httpx2; its TransportError covers timeouts and connection failures.
    return isinstance(exc, httpx2.TransportError)


def _thinking(model: str) -> types.ThinkingConfig | None:
    # Thinking costs seconds, and these calls have about three. 2.5 Flash models can turn it off,
    # Gemini 3 models can keep it minimal; Pro models cannot turn it off, so they keep their default.
    if model.startswith("gemini-2.5-flash"):
        return types.ThinkingConfig(thinking_budget=0)
    if model.startswith("gemini-3") and "pro" not in model:
        return types.ThinkingConfig(thinking_level=types.ThinkingLevel.MINIMAL)
    return None


class Gemini:
    def __init__(
        self,
        *,
        api_key: str,
        model: str,
        breaker: Breaker,
        deadline_seconds: float,
        base_url: str | None = None,
    ) -> None:
        # The SDK's own retries stay off (its default): ours run inside the deadline.
        self._client = genai.Client(api_key=api_key, http_options=types.HttpOptions(base_url=base_url))
        self._model = model
        self._deadline = deadline_seconds
        self.breaker = breaker

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        await self.breaker.aclose()

    async def generate(self, *, system: str, prompt: str, schema: type[Model]) -> Model | None:
        """The model's answer as `schema`, or None. Returns within the deadline (plus a Redis round trip)."""
        started = time.monotonic()
        ticket = await self.breaker.acquire()
        if ticket is None:
            return None
        try:
            async with asyncio.timeout(self._deadline - (time.monotonic() - started)):
                text = await self._call(system=system, prompt=prompt, schema=schema)
        except asyncio.CancelledError:
            raise  # the caller gave up: not Gemini's failure, and never retried (the probe lease expires)
        except Exception as exc:  # every upstream failure is answered locally; none may become a 500
            log.warning("ai.gemini_failed", error=type(exc).__name__, detail=str(exc)[:200])
            await self.breaker.record(ticket, ok=False)
            return None
        try:
            answer = schema.model_validate_json(text or "")
        except ValidationError as exc:
            # An answer we cannot use is a failure too: a model that keeps sending it must open the breaker.
            log.warning("ai.gemini_invalid", errors=exc.error_count())
            await self.breaker.record(ticket, ok=False)
            return None
        await self.breaker.record(ticket, ok=True)
        return answer

    async def _call(self, *, system: str, prompt: str, schema: type[BaseModel]) -> str | None:
        config = types.GenerateContentConfig(
            system_instruction=system,
            response_mime_type="application/json",
            response_json_schema=schema.model_json_schema(),
            temperature=0,
            thinking_config=_thinking(self._model),
        )
        retrying = AsyncRetrying(
            retry=retry_if_exception(is_transient),
            wait=wait_random_exponential(multiplier=BACKOFF_FIRST, max=BACKOFF_MAX),
            # No attempt starts after the deadline; the timeout around us ends one that runs past it.
            stop=stop_before_delay(self._deadline),
            reraise=True,
        )
        response: Any = None
        async for attempt in retrying:
            with attempt:
                response = await self._client.aio.models.generate_content(
                    model=self._model, contents=prompt, config=config
                )
        return response.text if response is not None else None
