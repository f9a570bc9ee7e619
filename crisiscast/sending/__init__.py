"""Getting every planned send out once: delivery claims, the SMS fan-out, the reconciler, the shared throttle and circuit breaker."""
