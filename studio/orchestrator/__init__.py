"""The application model, without Qt and without TensorFlow: the session, and the jobs
that fill it.

`Orchestrator` turns "run this candidate / this sweep / measure the baseline" into jobs
on a backend (`studio.jobs`), stores what they return in the session, and tells whoever
listens through `Hook`s.  The CLI waits on its handles; the window's `Workbench`
(`studio.ui.workbench`) turns its hooks into Qt signals.  Nothing here imports Qt or
TensorFlow (`lint-imports` checks it).
"""
