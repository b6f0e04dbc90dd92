"""Anker's in-sandbox tool API: persistent shells, files and health over HTTP
JSON, guarded by a bearer token. Standard library + pydantic only."""
