"""Operations: Prometheus metrics summed over worker processes, JSON logs, store readiness."""
