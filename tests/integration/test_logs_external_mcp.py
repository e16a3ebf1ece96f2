"""`modeldeploy logs query`: tools of MCP servers the user configures, called through langchain-mcp-adapters.

A real stand-in "company log server" (tests/support/company_log_server.py, FastMCP over stdio)
is configured through the JSON file (MultiServerMCPClient format); it needs a token that the
configuration takes from an environment variable (`${VAR}`), and returns a real vLLM start-up
failure (CUDA out of memory). The command runs through the main CLI's entry point
(`modeldeploy.cli.main.run`, in this process: its error mapping is what users see); it is
registered under `logs query` here if the logs app does not have it yet.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from company_log_server import TOKEN
from proc_tree import carrying

from modeldeploy.cli.logs import app as logs_app
from modeldeploy.cli.logs_external import logs_query_command

ROOT = Path(__file__).resolve().parents[2]
SERVER_SCRIPT = ROOT / "tests" / "support" / "company_log_server.py"
OOM_LOG = ROOT / "tests" / "fixtures" / "logs" / "vllm_oom.log"
FATAL = "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 448.00 MiB"
TOKEN_VAR = "MD_TEST_COMPANY_LOGS_TOKEN"

if not any(c.name == "query" for c in logs_app.registered_commands):
    logs_app.command("query")(logs_query_command)


def company_logs(**extra) -> dict:
    return {"transport": "stdio", "command": sys.executable, "args": [str(SERVER_SCRIPT)],
            "env": {"COMPANY_LOGS_TOKEN": "${%s}" % TOKEN_VAR}, **extra}


@pytest.fixture
def configure(tmp_path, monkeypatch):
    """Write a servers file and point MODELDEPLOY_MCP_SERVERS at it; the token is in the environment."""
    monkeypatch.setenv(TOKEN_VAR, TOKEN)

    def write(servers: dict | str) -> Path:
        path = tmp_path / "mcp_servers.json"
        path.write_text(servers if isinstance(servers, str) else json.dumps(servers))
        monkeypatch.setenv("MODELDEPLOY_MCP_SERVERS", str(path))
        return path

    return write


@pytest.fixture
def modeldeploy(capsys, monkeypatch):
    """Run `modeldeploy ARGS` through the console entry point; returns (exit code, stdout, stderr)."""
    from modeldeploy.cli.main import run

    def invoke(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["modeldeploy", *args])
        with pytest.raises(SystemExit) as exited:
            run()
        out, err = capsys.readouterr()
        return exited.value.code, out, err

    yield invoke
    assert not carrying(f"COMPANY_LOGS_TOKEN={TOKEN}"), "a company log server outlived the command"


def test_lists_the_servers_of_the_default_file_and_the_tools_of_one(modeldeploy, isolated_home, monkeypatch):
    monkeypatch.setenv(TOKEN_VAR, TOKEN)
    monkeypatch.delenv("MODELDEPLOY_MCP_SERVERS", raising=False)
    isolated_home.mkdir(parents=True, exist_ok=True)
    (isolated_home / "mcp_servers.json").write_text(json.dumps({
        "company-logs": company_logs(),
        "loki": {"transport": "streamable_http", "url": "https://user:pa55word-x@logs.example/mcp?key=k3y-query",
                 "headers": {"Authorization": "Bearer hdr-secret-0001"}}}))

    code, out, err = modeldeploy("logs", "query", "--json")
    assert code == 0, err
    assert json.loads(out) == {"servers": [
        {"name": "company-logs", "transport": "stdio", "target": sys.executable},
        {"name": "loki", "transport": "streamable_http", "target": "https://logs.example/mcp"}]}
    assert not any(secret in out for secret in (TOKEN, "pa55word-x", "k3y-query", "hdr-secret-0001"))

    code, out, err = modeldeploy("logs", "query", "company-logs", "--json")
    assert code == 0, err
    tools = {t["name"]: t for t in json.loads(out)["tools"]}
    assert set(tools) == {"list_services", "query_logs"}
    assert tools["query_logs"]["input_schema"]["required"] == ["service"]
    assert set(tools["query_logs"]["input_schema"]["properties"]) == {"service", "since_minutes"}

    code, out, _ = modeldeploy("logs", "query", "company-logs")
    assert code == 0 and "query_logs(service: string, since_minutes?: integer)" in out


def test_digest_of_the_company_log_shows_the_fatal_line_and_the_signature(modeldeploy, configure):
    configure({"company-logs": company_logs()})

    code, out, err = modeldeploy("logs", "query", "company-logs", "query_logs", "--arg", "service=llm-inference",
                                 "--arg", "since_minutes=30", "--digest", "--budget", "400", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["source"] == "mcp company-logs/query_logs" and doc["total_lines"] == 140
    assert FATAL in doc["fatal"] and doc["fatal_line"] == 93
    assert "cuda_oom" in doc["signatures"]
    assert doc["tokens"] <= 400 and doc["budget_tokens"] == 400

    code, out, err = modeldeploy("logs", "query", "company-logs", "query_logs", "--arg", "service=llm-inference",
                                 "--digest", "--budget", "400")
    assert code == 0, err
    assert "cuda_oom" in out.splitlines()[1] and "fatal (line 93" in out and FATAL in out
    assert len(out) <= 400 * 4 + 1


def test_without_digest_the_tools_text_comes_back_verbatim(modeldeploy, configure):
    configure({"company-logs": company_logs()})
    code, out, err = modeldeploy("logs", "query", "company-logs", "query_logs", "--arg", "service=llm-inference")
    assert code == 0, err
    assert out == OOM_LOG.read_text()

    code, out, err = modeldeploy("logs", "query", "company-logs", "list_services", "--json")
    assert code == 0, err
    assert json.loads(out) == {"server": "company-logs", "tool": "list_services", "text": "gateway\nllm-inference"}


def test_a_tool_error_is_one_line_and_exit_1(modeldeploy, configure):
    configure({"company-logs": company_logs()})
    code, out, err = modeldeploy("logs", "query", "company-logs", "query_logs", "--arg", "service=billing")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: tool 'query_logs' of MCP server 'company-logs' failed")
    assert "unknown service 'billing'" in err


def test_credentials_reach_the_server_from_the_config_and_never_show(modeldeploy, configure, monkeypatch):
    configure({"company-logs": company_logs()})
    monkeypatch.setenv(TOKEN_VAR, "wrong-token-5c1e")        # the server echoes a refused token back
    code, out, err = modeldeploy("logs", "query", "company-logs", "query_logs", "--arg", "service=llm-inference")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert "rejected by company-logs" in err and "wrong-token-5c1e" not in err and "'***'" in err

    configure({"loki": {"transport": "streamable_http", "url": "http://127.0.0.1:1/mcp",
                        "headers": {"Authorization": "Bearer hdr-secret-0002", "X-Org": "org-secret-0003"}}})
    code, out, err = modeldeploy("logs", "query", "loki", "query_range")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("error: cannot talk to MCP server 'loki' (streamable_http)")
    assert "hdr-secret-0002" not in err and "org-secret-0003" not in err


def test_a_server_that_never_answers_times_out_and_is_stopped(modeldeploy, configure):
    marker = "MD_TEST_SILENT_SERVER=1"
    configure({"silent": {"transport": "stdio", "command": sys.executable,
                          "args": ["-c", "import sys; sys.stdin.read()"], "env": {"MD_TEST_SILENT_SERVER": "1"}}})
    code, out, err = modeldeploy("logs", "query", "silent", "--timeout", "1")
    assert code == 1 and out == ""
    assert err == "error: MCP server 'silent' (stdio) did not answer within 1 s\n"
    assert not carrying(marker)


BAD_INPUT = {
    "invalid-json": ('{"company-logs": {', [], "is not valid JSON: "),
    "not-an-object": ("[1, 2]", [], "must hold a JSON object"),
    "no-servers": ("{}", [], "configures no MCP servers"),
    "no-transport": ({"x": {"command": "srv"}}, [], "server 'x' has no \"transport\""),
    "unknown-transport": ({"x": {"transport": "carrier-pigeon", "url": "http://h"}}, [], "unknown transport 'carrier-pigeon'"),
    "typo-key": ({"x": {"transport": "streamable_http", "url": "http://h/mcp", "header": {}}}, [], "unknown key(s) 'header'"),
    "stdio-without-command": ({"x": {"transport": "stdio", "args": []}}, [], "needs \"command\""),
    "http-without-url": ({"x": {"transport": "streamable_http"}}, [], "needs \"url\""),
    "headers-not-strings": ({"x": {"transport": "sse", "url": "http://h", "headers": {"A": 1}}}, [],
                            "headers must be an object of strings"),
    "unset-variable": ({"x": {"transport": "stdio", "command": "srv", "env": {"T": "${MD_TEST_NOT_SET_ANYWHERE}"}}},
                       [], "uses ${MD_TEST_NOT_SET_ANYWHERE}, which is not set"),
    "unknown-server": ("company", ["billing"], "unknown MCP server 'billing' (configured: company-logs)"),
    "unknown-tool": ("company", ["company-logs", "grep_logs"],
                     "MCP server 'company-logs' has no tool 'grep_logs' (tools: list_services, query_logs)"),
    "missing-argument": ("company", ["company-logs", "query_logs"], "needs --arg service=VALUE"),
    "unknown-argument": ("company", ["company-logs", "query_logs", "--arg", "service=x", "--arg", "grep=oom"],
                         "has no argument 'grep' (arguments: service, since_minutes)"),
    "arg-without-value": ("company", ["company-logs", "query_logs", "--arg", "service"], "--arg wants NAME=VALUE"),
    "digest-without-tool": ("company", ["company-logs", "--digest"], "--arg and --digest need a TOOL"),
    "command-not-found": ({"x": {"transport": "stdio", "command": "md-no-such-log-server"}}, ["x", "t"],
                          "command not found: md-no-such-log-server"),
}


@pytest.mark.parametrize("config,args,message", BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_is_one_line_and_exit_2(modeldeploy, configure, config, args, message):
    configure({"company-logs": company_logs()} if config == "company" else config)
    code, out, err = modeldeploy("logs", "query", *args)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err


def test_no_configuration_at_all_says_where_to_put_it(modeldeploy, isolated_home, monkeypatch):
    monkeypatch.delenv("MODELDEPLOY_MCP_SERVERS", raising=False)
    code, out, err = modeldeploy("logs", "query")
    assert code == 2 and out == ""
    assert err == (f"error: no MCP servers configured: write {isolated_home / 'mcp_servers.json'} "
                   "(or set MODELDEPLOY_MCP_SERVERS to a JSON file); see docs/mcp.md\n")
    monkeypatch.setenv("MODELDEPLOY_MCP_SERVERS", str(isolated_home / "nowhere.json"))
    code, _, err = modeldeploy("logs", "query")
    assert code == 2 and err == f"error: MODELDEPLOY_MCP_SERVERS names {isolated_home / 'nowhere.json'}, which is not a file\n"
