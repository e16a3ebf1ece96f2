"""Request bodies of the API as pydantic models: what is accepted, what is refused with a 4xx and why."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

StreamModeName = Literal["values", "updates", "custom", "messages", "messages-tuple", "debug", "checkpoints", "tasks"]
STREAM_MODES = set(StreamModeName.__args__)


class Body(BaseModel):
    """Fields the protocol defines that do not apply here are ignored unless they would change behaviour."""

    model_config = ConfigDict(extra="ignore")


class CommandBody(Body):
    resume: Any = None
    update: dict[str, Any] | list | None = None
    goto: str | list[str] | None = None


class Checkpoint(Body):
    thread_id: str | None = None
    checkpoint_ns: str = ""
    checkpoint_id: str | None = None


class RunCreate(Body):
    """POST /threads/{id}/runs[/stream|/wait], POST /runs[/stream|/wait]."""

    assistant_id: str
    input: dict[str, Any] | None = None
    command: CommandBody | None = None
    stream_mode: StreamModeName | list[StreamModeName] = "values"
    stream_subgraphs: bool = False
    stream_resumable: bool = True
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: Checkpoint | None = None
    checkpoint_id: str | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    multitask_strategy: Literal["reject", "enqueue", "interrupt", "rollback"] = "enqueue"
    if_not_exists: Literal["create", "reject"] = "reject"
    on_disconnect: Literal["cancel", "continue"] = "continue"
    on_completion: Literal["delete", "keep"] = "delete"
    durability: Literal["sync", "async", "exit"] | None = None
    webhook: str | None = None
    after_seconds: int | None = None

    @field_validator("webhook")
    @classmethod
    def _no_webhook(cls, value: str | None) -> None:
        if value:
            raise ValueError("webhooks are not supported by this server")
        return None

    @field_validator("after_seconds")
    @classmethod
    def _no_delay(cls, value: int | None) -> None:
        if value:
            raise ValueError("delayed runs (after_seconds) are not supported by this server")
        return None

    @field_validator("multitask_strategy")
    @classmethod
    def _no_rollback(cls, value: str) -> str:
        if value == "rollback":
            raise ValueError("rollback is not supported: use interrupt (cancel the running run, keep its checkpoints)")
        return value

    @model_validator(mode="after")
    def _input_or_command(self) -> "RunCreate":
        if self.input is not None and self.command is not None:
            raise ValueError("give input or command, not both")
        return self

    def modes(self) -> list[str]:
        modes = [self.stream_mode] if isinstance(self.stream_mode, str) else list(self.stream_mode)
        return list(dict.fromkeys(modes)) or ["values"]

    def checkpoint_ref(self) -> str | None:
        return self.checkpoint_id or (self.checkpoint.checkpoint_id if self.checkpoint else None)


class ThreadCreate(Body):
    thread_id: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[str, Any] = Field(default_factory=dict)
    if_exists: Literal["raise", "do_nothing"] = "raise"


class ThreadPatch(Body):
    metadata: dict[str, Any] = Field(default_factory=dict)


class ThreadSearch(Body):
    metadata: dict[str, Any] | None = None
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    ids: list[str] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_order: Literal["asc", "desc"] = "desc"


class StateUpdate(Body):
    values: dict[str, Any] | list | None = None
    as_node: str | None = None
    checkpoint: Checkpoint | None = None
    checkpoint_id: str | None = None


class StateAt(Body):
    checkpoint: Checkpoint
    subgraphs: bool = False


class HistoryQuery(Body):
    limit: int = Field(default=10, ge=1, le=1000)
    before: Checkpoint | str | None = None
    metadata: dict[str, Any] | None = None
    checkpoint: Checkpoint | None = None


class AssistantSearch(Body):
    graph_id: str | None = None
    name: str | None = None
    metadata: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
