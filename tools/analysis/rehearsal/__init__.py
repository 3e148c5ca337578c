"""Parts of tools/analysis/rehearse.py (synthetic data, probes, projection)."""
