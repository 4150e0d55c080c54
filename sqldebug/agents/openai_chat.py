"""``openai``: an agent backed by any OpenAI-compatible chat-completions endpoint.

Each ``act`` POSTs ``{base_url}/chat/completions`` (``model``, ``messages``, ``temperature``,
``max_tokens``) with httpx and submits the SQL found in the reply.

The conversation is kept within an episode, in a bounded window. The first user message is the
observation's whole ``prompt`` (task, schema, sample rows, broken query); on later steps the user
message is only what changed -- the observation's dynamic part (the last action, its result or
error, review findings, hints, steps left; see :func:`sqldebug.prompt.dynamic_part`) -- since
resending the whole prompt every turn would repeat the schema and samples. A request carries the
system prompt (if any), the first user message and the last ``history_turns`` exchanges, so token
use stays flat however long the episode.

The SQL is taken from the reply by :func:`extract_sql`, which applies the one reader every trainer
integration uses too (:func:`sqldebug.integrations.extract.extract_sql`: its rules are in that
module), so a model is scored by bench exactly as it is trained. A reply with no SQL in it is
submitted anyway, as written: the environment grades it (a syntax error observation), which tells
the model more than an AgentError would.

Connection errors, timeouts, HTTP 429 and 5xx are retried ``retries`` times with exponential
backoff (``backoff * 2**n`` seconds, or the server's ``Retry-After``, capped at
:data:`RETRY_AFTER_CAP`); after that, and at once for any other 4xx or a body without
``choices[0].message.content``, :class:`~sqldebug.agents.base.AgentError`. The API key is read
from the environment variable ``api_key_env`` at each request (none is sent if it is unset, as a
local server needs none); it is never stored, recorded or shown in an error.
"""

from __future__ import annotations

import os
import time
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn

import httpx

from sqldebug import prompt as prompt_text
from sqldebug.agents.base import AgentError, BaseAgent
from sqldebug.integrations.extract import extract_sql as extracted
from sqldebug.models import Action, Observation

#: The longest a server's Retry-After is honoured, in seconds.
RETRY_AFTER_CAP = 60.0
_EXCERPT = 200


class OpenAIAgent(BaseAgent):
    """Asks a chat model for the fixed SQL, with the environment's feedback as the conversation."""

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str = "OPENAI_API_KEY",
        timeout: float = 60.0,
        retries: int = 3,
        backoff: float = 1.0,
        temperature: float = 0.0,
        max_tokens: int = 1024,
        system_prompt: str | None = None,
        *,
        history_turns: int = 4,
    ) -> None:
        if int(history_turns) < 1:
            raise AgentError("history_turns must be at least 1 (the last feedback is always sent)")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.system_prompt = system_prompt
        self.history_turns = int(history_turns)
        self._client: httpx.Client | None = None
        self._first: str | None = None  # the episode's first user message (the whole prompt)
        self._turns: list[dict[str, str]] = []  # then assistant, user, assistant, user, ...
        self._usage = _empty_usage()

    # -- the protocol ------------------------------------------------------------------------

    def reset(self, obs: Observation, info: dict[str, Any]) -> None:
        self._first = None
        self._turns = []
        self._usage = _empty_usage()

    def act(self, obs: Observation) -> Action | dict[str, Any] | str:
        first = self._first if self._first is not None else obs.prompt
        new = [] if self._first is None else [{"role": "user", "content": _feedback(obs)}]
        reply = self._complete(self._messages(first, self._turns + new))
        # Only a completed exchange joins the conversation, so it always alternates.
        self._first = first
        self._turns += [*new, {"role": "assistant", "content": reply}]
        return extract_sql(reply)

    def usage(self) -> dict[str, Any]:
        return dict(self._usage)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- the endpoint --------------------------------------------------------------------------

    def _messages(self, first: str, turns: list[dict[str, str]]) -> list[dict[str, str]]:
        """The system prompt, the first prompt, then the last exchanges (each an assistant reply
        and the feedback on it), ending with the newest user message."""
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        messages.append({"role": "user", "content": first})
        return messages + turns[-2 * self.history_turns :]

    def _complete(self, messages: list[dict[str, str]]) -> str:
        """The reply's text, retrying what is worth retrying."""
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        key = os.environ.get(self.api_key_env) or None
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        if self._client is None:
            self._client = httpx.Client(timeout=self.timeout)
        for attempt in range(self.retries + 1):
            if attempt:
                self._usage["retries"] += 1
            self._usage["calls"] += 1
            last = attempt == self.retries
            try:
                response = self._client.post(self.url, json=body, headers=headers)
            except httpx.TransportError as exc:  # connection errors and timeouts
                problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if last:
                    self._give_up(problem, key)
                time.sleep(self.backoff * 2**attempt)
                continue
            if response.status_code == 429 or response.status_code >= 500:
                if last:
                    self._give_up(_status(response), key)
                delay = _retry_after(response)
                time.sleep(self.backoff * 2**attempt if delay is None else delay)
                continue
            if not response.is_success:
                raise AgentError(_redact(f"{self.url} answered {_status(response)}", key))
            return self._content(response, key)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _content(self, response: httpx.Response, key: str | None) -> str:
        try:
            data = response.json()
            content = data["choices"][0]["message"]["content"]
        except (ValueError, LookupError, TypeError):
            raise AgentError(
                _redact(
                    f"{self.url} answered without choices[0].message.content: "
                    f"{_excerpt(response.text)}",
                    key,
                )
            ) from None
        if not isinstance(content, str):
            raise AgentError(
                f"{self.url} answered with a choices[0].message.content that is not text "
                f"({type(content).__name__})"
            )
        usage = data.get("usage") if isinstance(data, dict) else None
        if isinstance(usage, dict):
            for field in ("prompt_tokens", "completion_tokens", "total_tokens"):
                value = usage.get(field)
                if isinstance(value, int):
                    self._usage[field] += value
        return content

    def _give_up(self, problem: str, key: str | None) -> NoReturn:
        tries = self.retries + 1
        raise AgentError(_redact(f"{self.url} failed {tries} time(s); the last: {problem}", key))


def extract_sql(reply: str) -> str:
    """The SQL in a model's reply, read by the shared extractor; a reply without any is submitted
    as written (stripped)."""
    found = extracted(reply)
    return reply.strip() if found is None else found


def _feedback(obs: Observation) -> str:
    """What a later step adds to the conversation: the observation without its static part."""
    return prompt_text.dynamic_part(obs)


def _empty_usage() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "calls": 0, "retries": 0}


def _retry_after(response: httpx.Response) -> float | None:
    """The server's Retry-After in seconds (a number or an HTTP date), capped; None if absent."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), RETRY_AFTER_CAP)


def _status(response: httpx.Response) -> str:
    return f"HTTP {response.status_code}: {_excerpt(response.text)}"


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= _EXCERPT else text[:_EXCERPT] + "...")


def _redact(text: str, key: str | None) -> str:
    """The text with the API key blanked out, in case a server echoed it back."""
    return text.replace(key, "***") if key else text
