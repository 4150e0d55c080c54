"""The agents that live outside the process: ``command`` (a program over JSON lines) and ``openai``
(a chat-completions endpoint, played here by a real HTTP server on loopback)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

import sqldebug
from sqldebug.agents.base import Agent, AgentError
from sqldebug.agents.command import CommandAgent
from sqldebug.agents.openai_chat import OpenAIAgent, extract_sql
from sqldebug.integrations.extract import extract_sql as shared_extract_sql
from sqldebug.models import Action, Observation

TASK = "shop/top-products-ties"
SOLUTION = next(t.solution for t in sqldebug.load_tasks() if t.id == TASK)
SCRIPT = Path(__file__).parent / "fixtures" / "json_lines_agent.py"


def play(agent: Agent, seed: int = 0) -> tuple[list[Action], Observation]:
    """One whole episode of TASK driven by the agent: the actions it took and the last obs."""
    env = sqldebug.make(TASK)
    obs, info = env.reset(seed=seed)
    agent.reset(obs, info)
    actions: list[Action] = []
    while not obs.done:
        action = sqldebug.parse_action(agent.act(obs))
        actions.append(action)
        obs, _reward, _terminated, _truncated, _info = env.step(action)
    return actions, obs


def first_obs() -> tuple[Observation, dict[str, Any]]:
    return sqldebug.make(TASK).reset(seed=0)


# -- command ---------------------------------------------------------------------------------


def command(mode: str, **options: Any) -> CommandAgent:
    return CommandAgent([sys.executable, str(SCRIPT), mode], **options)


@pytest.fixture
def agents() -> Iterator[list[CommandAgent]]:
    """Agents made by a test, closed afterwards even when it fails (no stray processes)."""
    made: list[CommandAgent] = []
    yield made
    for agent in made:
        agent.close()


def test_command_plays_whole_episodes_with_one_program(agents: list[CommandAgent]) -> None:
    agent = command("echo")
    agents.append(agent)
    actions, last = play(agent)
    assert last.done and not last.solved and last.step == last.max_steps
    assert {a.sql for a in actions} == {last.broken_query}
    assert all(a.type == "submit" for a in actions)
    assert agent.proc is not None
    pid = agent.proc.pid
    play(agent, seed=1)
    assert agent.proc is not None and agent.proc.pid == pid  # kept alive across episodes


def test_command_accepts_action_objects(agents: list[CommandAgent]) -> None:
    agent = command("probe")
    agents.append(agent)
    obs, info = first_obs()
    agent.reset(obs, info)
    assert agent.act(obs) == Action(type="probe", sql=obs.broken_query)


def test_command_spells_out_the_protocol(tmp_path: Path, agents: list[CommandAgent]) -> None:
    """The program reads exactly: reset (with observation and info), act, close."""
    log = tmp_path / "messages.jsonl"
    recorder = (
        "import json, sys\n"
        f"log = open({str(log)!r}, 'w')\n"
        "for line in sys.stdin:\n"
        "    m = json.loads(line); log.write(line); log.flush()\n"
        "    if m['type'] == 'act': print(json.dumps('SELECT 1'), flush=True)\n"
    )
    agent = CommandAgent([sys.executable, "-c", recorder])
    agents.append(agent)
    obs, info = first_obs()
    agent.reset(obs, info)
    assert agent.act(obs) == Action(type="submit", sql="SELECT 1")
    agent.close()
    reset, act, close = (json.loads(line) for line in log.read_text().splitlines())
    assert reset["type"] == "reset" and reset["info"]["task_id"] == TASK
    assert reset["observation"] == act["observation"] == obs.model_dump(mode="json")
    assert set(act) == {"type", "observation"} and act["type"] == "act"
    assert close == {"type": "close"}


def test_command_crash_quotes_stderr_and_restarts_on_reset(agents: list[CommandAgent]) -> None:
    agent = command("crash")
    agents.append(agent)
    obs, info = first_obs()
    agent.reset(obs, info)
    agent.act(obs)
    crashed = agent.proc
    with pytest.raises(AgentError) as caught:
        agent.act(obs)
    message = str(caught.value)
    assert "exited before answering" in message and "exit code 3" in message
    assert "boom: the agent fell over" in message
    assert crashed is not None and crashed.poll() == 3
    with pytest.raises(AgentError, match="not running"):
        agent.act(obs)  # no silent restart mid-episode
    agent.reset(obs, info)
    assert agent.proc is not None and agent.proc.pid != crashed.pid
    assert agent.act(obs) == Action(type="submit", sql=obs.broken_query)


@pytest.mark.parametrize(
    ("mode", "problem"),
    [("garbage", "not JSON: 'this is not json'"), ("number", "not an action")],
)
def test_command_nonsense_is_an_error(mode: str, problem: str, agents: list[CommandAgent]) -> None:
    agent = command(mode)
    agents.append(agent)
    obs, info = first_obs()
    agent.reset(obs, info)
    program = agent.proc
    with pytest.raises(AgentError, match=problem) as caught:
        agent.act(obs)
    assert "got act" in str(caught.value)  # its stderr is quoted
    assert program is not None and program.poll() is not None
    assert agent.proc is None


def test_command_timeout_stops_the_program(agents: list[CommandAgent]) -> None:
    agent = command("silent", timeout=0.5)
    agents.append(agent)
    obs, info = first_obs()
    agent.reset(obs, info)
    program = agent.proc
    with pytest.raises(AgentError, match=r"did not answer within 0\.5 s"):
        agent.act(obs)
    assert program is not None and program.poll() is not None


def test_command_exit_between_episodes_is_reported(agents: list[CommandAgent]) -> None:
    agent = CommandAgent([sys.executable, "-c", "import sys; sys.stderr.write('bye')"])
    agents.append(agent)
    obs, info = first_obs()
    agent.reset(obs, info)
    assert agent.proc is not None
    agent.proc.wait()
    with pytest.raises(AgentError, match="exited between episodes") as caught:
        agent.reset(obs, info)
    assert "bye" in str(caught.value)


@pytest.mark.parametrize("mode", ["echo", "stubborn"])
def test_command_close_leaves_no_process(mode: str) -> None:
    agent = command(mode, grace=0.2)
    obs, info = first_obs()
    agent.reset(obs, info)
    program = agent.proc
    agent.close()
    assert program is not None and program.poll() is not None
    assert agent.proc is None
    agent.close()  # twice is fine


def test_command_missing_program_is_an_error() -> None:
    agent = CommandAgent("no-such-program-for-sqldebug --flag")
    assert agent.argv == ["no-such-program-for-sqldebug", "--flag"]
    with pytest.raises(AgentError, match="cannot start the agent program"):
        agent.reset(*first_obs())


# -- openai: a scripted chat-completions server on loopback ---------------------------------


@dataclass
class Reply:
    """What the server answers to one request."""

    content: str | None = None  # a completion with this text
    status: int = 200
    body: str | None = None  # a raw body instead of a completion
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    echo_auth: bool = False  # put the request's Authorization header in the body


@dataclass
class Hit:
    headers: dict[str, str]
    body: dict[str, Any]


class ChatServer:
    """Answers POST /v1/chat/completions from a script (the last reply repeats) and records hits."""

    USAGE: ClassVar[dict[str, int]] = {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
    }

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.hits: list[Hit] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length))
                owner.hits.append(Hit(dict(self.headers.items()), body))
                index = min(len(owner.hits), len(owner.script)) - 1
                reply = owner.script[index]
                if self.path != "/v1/chat/completions":
                    reply = Reply(status=404, body="no such path")
                time.sleep(reply.delay)  # the slow server under test, not synchronisation
                text = reply.body
                if reply.echo_auth:
                    text = f"bad key: {self.headers.get('authorization')}"
                if text is None:
                    message = {"role": "assistant", "content": reply.content}
                    completion = {"choices": [{"index": 0, "message": message}]}
                    text = json.dumps({**completion, "usage": owner.USAGE})
                data = text.encode()
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client timed out and left

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def agent(self, **options: Any) -> OpenAIAgent:
        options = {"timeout": 5.0, "retries": 2, "backoff": 0.01, **options}
        return OpenAIAgent(self.base_url, "test-model", **options)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[ChatServer]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    chat = ChatServer()
    thread = threading.Thread(target=chat.httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield chat
    chat.httpd.shutdown()
    chat.httpd.server_close()
    thread.join()


def test_openai_solves_with_a_sql_block_and_counts_tokens(server: ChatServer) -> None:
    server.script = [Reply(f"The tie is dropped by LIMIT.\n\n```sql\n{SOLUTION}\n```\nDone.")]
    agent = server.agent(system_prompt="You fix SQL.")
    actions, last = play(agent)
    assert last.solved and last.step == 1
    assert actions == [Action(type="submit", sql=SOLUTION.strip())]
    assert agent.usage() == {
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "calls": 1,
        "retries": 0,
    }
    (hit,) = server.hits
    assert "authorization" not in {name.lower() for name in hit.headers}
    assert hit.body["model"] == "test-model"
    assert hit.body["temperature"] == 0.0 and hit.body["max_tokens"] == 1024
    first, _ = first_obs()
    assert hit.body["messages"] == [
        {"role": "system", "content": "You fix SQL."},
        {"role": "user", "content": first.prompt},
    ]
    agent.reset(*first_obs())
    assert agent.usage()["total_tokens"] == 0
    agent.close()


def test_openai_sends_only_feedback_after_the_first_step(server: ChatServer) -> None:
    server.script = [Reply("```sql\nSELECT 1\n```"), Reply("```sql\nSELECT 2\n```")]
    agent = server.agent(history_turns=1)
    actions, last = play(agent)
    assert last.done and not last.solved
    assert [a.sql for a in actions] == ["SELECT 1"] + ["SELECT 2"] * (last.max_steps - 1)
    assert agent.usage()["calls"] == last.max_steps
    assert agent.usage()["total_tokens"] == 120 * last.max_steps
    second, third = server.hits[1].body["messages"], server.hits[2].body["messages"]
    first, _ = first_obs()
    assert [m["role"] for m in second] == ["user", "assistant", "user"]
    assert second[0]["content"] == first.prompt
    assert second[1]["content"] == "```sql\nSELECT 1\n```"
    feedback = second[2]["content"]
    assert "## Schema" not in feedback and "SELECT 1" in feedback and "Step 1 of" in feedback
    # history_turns=1: the first prompt and the newest exchange only
    assert [m["role"] for m in third] == ["user", "assistant", "user"]
    assert third[0]["content"] == first.prompt and "Step 2 of" in third[2]["content"]
    agent.close()


@pytest.mark.parametrize(
    ("content", "sql"),
    [
        ("```sql\nSELECT 1\n```\nor better:\n```sql\nSELECT 2\n```", "SELECT 2"),
        ("  select id from t\n", "select id from t"),
    ],
)
def test_openai_submits_the_extracted_sql(server: ChatServer, content: str, sql: str) -> None:
    server.script = [Reply(content)]
    agent = server.agent()
    obs, info = first_obs()
    agent.reset(obs, info)
    assert agent.act(obs) == sql
    agent.close()


@pytest.mark.parametrize(
    ("reply", "sql"),
    [
        ("```sql\nSELECT 1\n```\n```SQL\nSELECT 2;\n```", "SELECT 2;"),
        ("```sql\nSELECT 1\n```\n```\nnot this\n```", "SELECT 1"),
        # blocks in another language are not the answer (the trainers' reader, the same one)
        ("```\nSELECT 3\n```\n```python\nprint()\n```", "SELECT 3"),
        (
            "Here it is:\n\n   WITH t AS (SELECT 1)\nSELECT * FROM t",
            "WITH t AS (SELECT 1)\nSELECT * FROM t",
        ),
        ("I cannot help with that.", "I cannot help with that."),
        ("selection of rows\nUPDATE t SET x = 1", "UPDATE t SET x = 1"),
        ("```sql\n```\n```sql\nSELECT 4", "SELECT 4"),  # empty block skipped, unclosed kept
        ("````sql\nSELECT '```'\n````", "SELECT '```'"),
    ],
)
def test_extract_sql(reply: str, sql: str) -> None:
    assert extract_sql(reply) == sql
    # one reader for bench and training: where a reply has SQL, both take the same
    assert shared_extract_sql(reply) in (sql, None)


@pytest.mark.parametrize(
    "failure",
    [Reply(status=500, body="upstream down"), Reply(status=429, headers={"Retry-After": "0"})],
)
def test_openai_retries_server_errors_and_rate_limits(server: ChatServer, failure: Reply) -> None:
    server.script = [failure, Reply("```sql\nSELECT 1\n```")]
    agent = server.agent()
    obs, info = first_obs()
    agent.reset(obs, info)
    assert agent.act(obs) == "SELECT 1"
    assert len(server.hits) == 2
    assert agent.usage()["calls"] == 2 and agent.usage()["retries"] == 1
    agent.close()


def test_openai_gives_up_after_retries(server: ChatServer) -> None:
    server.script = [Reply(status=503, body="still down")]
    agent = server.agent(retries=2)
    obs, info = first_obs()
    agent.reset(obs, info)
    with pytest.raises(AgentError, match=r"failed 3 time\(s\).*HTTP 503.*still down"):
        agent.act(obs)
    assert len(server.hits) == 3
    agent.close()


def test_openai_timeout_is_retried_then_an_error(server: ChatServer) -> None:
    server.script = [Reply("```sql\nSELECT 1\n```", delay=1.0)]
    agent = server.agent(timeout=0.2, retries=1, backoff=0.01)
    obs, info = first_obs()
    agent.reset(obs, info)
    with pytest.raises(AgentError, match=r"failed 2 time.*Timeout"):
        agent.act(obs)
    assert len(server.hits) == 2
    agent.close()


def test_openai_unreachable_server_is_an_error() -> None:
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]  # bound, then closed: nothing listens there
    agent = OpenAIAgent(f"http://127.0.0.1:{port}", "m", retries=1, backoff=0.01)
    obs, info = first_obs()
    agent.reset(obs, info)
    with pytest.raises(AgentError, match=r"failed 2 time.*ConnectError"):
        agent.act(obs)
    assert agent.usage()["retries"] == 1


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("this is not json", "without choices\\[0\\].message.content: 'this is not json'"),
        ('{"choices": []}', "without choices"),
        ('{"choices": [{"message": {"content": null}}]}', "not text"),
    ],
)
def test_openai_malformed_reply_is_an_error_at_once(
    server: ChatServer, body: str, problem: str
) -> None:
    server.script = [Reply(body=body)]
    agent = server.agent()
    obs, info = first_obs()
    agent.reset(obs, info)
    with pytest.raises(AgentError, match=problem):
        agent.act(obs)
    assert len(server.hits) == 1
    agent.close()


def test_openai_key_from_env_is_sent_and_never_shown(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "sk-test-0123456789-secret"
    monkeypatch.setenv("SQLDEBUG_TEST_KEY", key)
    server.script = [Reply("```sql\nSELECT 1\n```"), Reply(status=401, echo_auth=True)]
    agent = server.agent(api_key_env="SQLDEBUG_TEST_KEY")
    obs, info = first_obs()
    agent.reset(obs, info)
    agent.act(obs)
    assert server.hits[0].headers["Authorization"] == f"Bearer {key}"
    with pytest.raises(AgentError, match="HTTP 401") as caught:
        agent.act(obs)
    assert len(server.hits) == 2  # a 401 is not retried
    assert "bad key: Bearer ***" in str(caught.value)
    assert key not in str(caught.value)
    assert key not in json.dumps(agent.usage()) and key not in repr(vars(agent))
    agent.close()


def test_openai_history_turns_must_be_positive() -> None:
    with pytest.raises(AgentError, match="history_turns"):
        OpenAIAgent("http://127.0.0.1:1", "m", history_turns=0)
