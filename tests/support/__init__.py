"""Test-support servers for Anker: a scripted OpenAI-compatible LLM and scripted web-search providers.

Both run in-process (stdlib ``ThreadingHTTPServer``) on 127.0.0.1 and are reachable from
other processes (e.g. a Celery worker subprocess) through their ``base_url``.
"""
