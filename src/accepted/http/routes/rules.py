"""Auth rules shared by the route modules."""

from __future__ import annotations

from accepted.service.auth import Access, Rule

PUBLIC = Rule(Access.PUBLIC)
