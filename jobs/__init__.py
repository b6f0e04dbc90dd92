"""Jobs for other systems: API keys, the jobs API, fair dispatch and signed webhooks."""
