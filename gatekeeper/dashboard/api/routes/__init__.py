"""One router per resource of the report API."""
