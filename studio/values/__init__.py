"""Plain data: recipes, grids, sessions, sweep plans and recommendations, Pareto fronts,
errors, atomic writes, progress events, reports and resource paths.

Nothing here imports TensorFlow or Qt (import-linter checks it), so the window, the CLI,
the engine and the tests share these values without loading either.
"""
