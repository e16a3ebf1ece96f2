"""Downloading a hub model's weights for a deployment: which files, how much room, resumable and verified.

`download.py` is the entry point (`allow_patterns_for`, `plan_download`, `check_disk`,
`download_weights`); `patterns.py` picks the files, `fetch.py` moves the large
(LFS) files with resume across calls, `verify.py` checks sizes and hashes, and
`schema.py` holds the plan and result models. Everything here is blocking: the
graph node runs it in `asyncio.to_thread`.
"""
