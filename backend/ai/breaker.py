"""A circuit breaker around Gemini whose state every web process shares through one Redis hash.

closed --N failures within the window--> open --reset time passed, one caller--> half-open (that caller
is the probe) --probe succeeds--> closed, --probe fails--> open again.

Every transition is one Lua script, so it is atomic across processes: when the reset time has passed and
several requests arrive together, exactly one of them gets the probe. Time is Redis's clock (TIME), so the
processes' own clocks do not matter. A probe that never reports (its process died) holds the half-open
state only for a lease, after which the next caller probes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger(__name__)

BreakerState = Literal["closed", "open", "half_open"]

_SCRIPT = """
local key, op = KEYS[1], ARGV[1]
local threshold, reset = tonumber(ARGV[2]), tonumber(ARGV[3])
local window, lease = tonumber(ARGV[4]), tonumber(ARGV[5])
local probe = ARGV[6] == '1'
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HGET', key, 'state') or 'closed'
local function keep()
  redis.call('PEXPIRE', key, math.max(window, reset + lease) + 60000)
end
local function open()
  redis.call('HSET', key, 'state', 'open', 'until', now + reset)
  redis.call('HDEL', key, 'failures', 'first_failure')
  keep()
end

if op == 'acquire' then
  if state == 'closed' then return 'call' end
  if now < tonumber(redis.call('HGET', key, 'until') or 0) then return 'refuse' end
  -- open and its reset time has passed, or half-open with an expired probe lease: this caller probes
  redis.call('HSET', key, 'state', 'half_open', 'until', now + lease)
  keep()
  return 'probe'
elseif op == 'success' then
  if (probe and state == 'half_open') or state == 'closed' then redis.call('DEL', key) end
  return 'closed'
elseif op == 'failure' then
  if probe and state == 'half_open' then
    open()
  elseif state == 'closed' then
    local first = tonumber(redis.call('HGET', key, 'first_failure') or 0)
    local failures = 1
    if now - first <= window then failures = tonumber(redis.call('HGET', key, 'failures') or 0) + 1
    else redis.call('HSET', key, 'first_failure', now) end
    if failures >= threshold then open() else redis.call('HSET', key, 'failures', failures); keep() end
  end
  return redis.call('HGET', key, 'state') or 'closed'
end
local remaining = math.max(0, tonumber(redis.call('HGET', key, 'until') or now) - now)
return {state, tonumber(redis.call('HGET', key, 'failures') or 0), remaining}
"""


@dataclass(frozen=True)
class Ticket:
    """Permission for one call; `probe` when it is the single half-open trial."""

    probe: bool


class Breaker:
    def __init__(
        self,
        redis: Redis,
        *,
        key: str,
        failures: int,
        reset_seconds: float,
        window_seconds: float,
        lease_seconds: float,
    ) -> None:
        self._redis = redis
        self._key = key
        self._script = redis.register_script(_SCRIPT)
        self._limits = [
            failures,
            int(reset_seconds * 1000),
            int(window_seconds * 1000),
            int(lease_seconds * 1000),
        ]

    async def _run(self, op: str, *, probe: bool = False) -> Any:
        answer = await self._script(keys=[self._key], args=[op, *self._limits, "1" if probe else "0"])
        return answer.decode() if isinstance(answer, bytes) else answer

    async def acquire(self) -> Ticket | None:
        """A ticket to call upstream, or None (open, a probe in flight, or Redis unreachable: the caller
        answers locally rather than guess)."""
        try:
            verdict = await self._run("acquire")
        except RedisError as exc:
            log.warning("ai.breaker_unreachable", error=type(exc).__name__)
            return None
        if verdict == "refuse":
            return None
        return Ticket(probe=verdict == "probe")

    async def record(self, ticket: Ticket, *, ok: bool) -> None:
        try:
            state = await self._run("success" if ok else "failure", probe=ticket.probe)
        except RedisError as exc:
            log.warning("ai.breaker_unreachable", error=type(exc).__name__)
            return
        if not ok and state == "open":
            log.warning("ai.breaker_open", key=self._key)

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def state(self) -> dict[str, Any]:
        """{"state": closed|open|half_open, "failures": n, "retry_in_seconds": s} for health reports."""
        state, failures, remaining = await self._run("state")
        state = state.decode() if isinstance(state, bytes) else state
        return {"state": state, "failures": int(failures), "retry_in_seconds": remaining / 1000}
