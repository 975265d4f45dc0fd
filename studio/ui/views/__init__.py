"""Views: widgets that show values and say what the user asked for, by signals.

A view imports neither another view nor the job layer (import-linter checks both): it is
given what it shows (`show_…`/`set_…` calls, or a `ViewState` it subscribes to) and
emits signals; `studio.ui.main_window` wires views to the workbench and to each other.
"""
