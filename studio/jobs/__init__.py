"""Running engine work in worker processes (SPEC §5).

TensorFlow's converter holds the GIL for seconds and can abort the whole process, so long
work never runs in the window's process.  This package knows nothing of Qt and imports no
TensorFlow in the calling process: jobs name their function as a "module:function"
string, which only the worker imports.
"""
