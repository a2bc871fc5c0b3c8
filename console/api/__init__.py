"""The read API for helpdesks and scripts (DRF, token auth, OpenAPI at /api/schema/)."""
