"""Admin stats (GET /api/admin/stats) and Prometheus metrics (GET /metrics): see metrics.py."""
