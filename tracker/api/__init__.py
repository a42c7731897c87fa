"""JSON API under /api/v1 for integrations and scripts: bearer tokens, the same access rules as pages."""
