"""Log digest: a failing server's log, compressed to what an LLM (or a person) needs to see.

`digest_log` streams a log once and returns a `LogDigest`: known failure signatures
first, the decisive (fatal) line verbatim with its line number, error and warning
lines deduplicated by masked hash (counts, first/last line numbers, one verbatim
example), templates of the remaining lines, and the last lines; `LogDigest.render()`
is a compact text that never exceeds the token budget (tokens = ceil(chars / 4)).
The full log stays on disk: `read_lines(path, start, end)` returns any line range.

Modules: `clean` (ANSI, carriage returns, progress bars, spinners), `mask`
(variable parts to placeholders), `classify` (levels, fatal phrases, wrappers),
`tracebacks` (joining Python tracebacks into one event), `mining` (groups and
the template merge), `render` (budgeted text), `digest` (the one pass),
`sources` (files, text, line ranges, container logs).
"""

from modeldeploy.tools.logs.digest import LogDigest, LogGroup, digest_log
from modeldeploy.tools.logs.mask import mask_line
from modeldeploy.tools.logs.clean import clean_line
from modeldeploy.tools.logs.render import estimate_tokens
from modeldeploy.tools.logs.sources import read_lines

__all__ = ["LogDigest", "LogGroup", "clean_line", "digest_log", "estimate_tokens", "mask_line", "read_lines"]
