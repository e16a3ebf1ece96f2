"""The experience library: what every deployment taught, in one SQL database.

`open_database()` connects and migrates; `runs` records deployments and
failure signatures; `lessons` curates advice (strengthened when it helps,
weakened and retired when it hurts, log-derived text never trusted by
itself); `retrieval` picks the few lessons worth a prompt, and finds a
verified recipe for the same model and hardware that skips the LLM entirely.
"""

from modeldeploy.experience_store.db import Database, open_database
from modeldeploy.experience_store.deployments import get_deployment, list_deployments, upsert_deployment
from modeldeploy.experience_store.lessons import (
    add_lesson,
    apply_outcome,
    export_lessons,
    import_lessons,
    lesson_to_dict,
    list_lessons,
    promote_lesson,
    record_event,
)
from modeldeploy.experience_store.models import Deployment, FailureSignature, Lesson, LessonEvent, Run
from modeldeploy.experience_store.api_threads import ApiThread
from modeldeploy.experience_store.bench_runs import BenchRun
from modeldeploy.experience_store.eval_runs import EvalRun
from modeldeploy.experience_store.retrieval import (
    LessonScope,
    RetrievedLesson,
    estimate_tokens,
    find_verified_recipe,
    retrieve_lessons,
)
from modeldeploy.experience_store.runs import record_run, upsert_failure_signature

__all__ = [
    "ApiThread",
    "BenchRun",
    "Database",
    "Deployment",
    "EvalRun",
    "get_deployment",
    "list_deployments",
    "upsert_deployment",
    "FailureSignature",
    "Lesson",
    "LessonEvent",
    "LessonScope",
    "RetrievedLesson",
    "Run",
    "add_lesson",
    "apply_outcome",
    "estimate_tokens",
    "export_lessons",
    "find_verified_recipe",
    "import_lessons",
    "lesson_to_dict",
    "list_lessons",
    "open_database",
    "promote_lesson",
    "record_event",
    "record_run",
    "retrieve_lessons",
    "upsert_failure_signature",
]
