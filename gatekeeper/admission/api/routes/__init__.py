"""One router per concern: review, health, metrics."""
