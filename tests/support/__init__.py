"""Helpers shared by the test tiers: real server processes and test databases."""
