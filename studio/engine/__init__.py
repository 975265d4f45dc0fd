"""The TensorFlow engine: load and check models and data, prune, cluster, quantize,
convert, measure, diagnose, and generate scripts; no Qt (checked by import-linter).

Runs in worker processes (`studio.jobs`) for the window, and in the CLI's process or its
workers for headless commands.
"""
