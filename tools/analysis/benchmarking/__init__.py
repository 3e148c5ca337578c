"""Code shared by the benchmark scripts of ``tools/analysis``: synthetic
batches, the release's train step and the timing against it."""
