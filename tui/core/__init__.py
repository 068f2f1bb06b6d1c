"""The core of comfyq: config, workflows, jobs, store, payloads, engine and backends.

Nothing under this package imports Textual, so scripts, the CLI and tests can use it headless.
"""
