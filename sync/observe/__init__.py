"""What an operator watches: ``/metrics``, ``/healthz`` and ``/readyz``, JSON logs with secrets
redacted, and alerts by webhook.

Imported by the CLI only, above the runner: it observes the :class:`sync.runner.RunReport` each
cycle returns and the connectors' call meter, and changes nothing the cycle does. ``logs``
(format and redaction), ``metrics`` (the Prometheus registry), ``server`` (the HTTP endpoint and
the readiness rule), ``alerts`` (the webhook payloads) and ``observer`` (what the CLI calls
around each cycle).
"""
