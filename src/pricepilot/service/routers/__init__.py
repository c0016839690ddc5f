"""One router per resource: offers, events, policies, health."""
