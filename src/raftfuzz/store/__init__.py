"""Where results go: the object stores (local directory, GCS), the shared corpus,
crash upload, the fuzzing supervisor and directory checks.
"""
