"""The bundle's program: the same entry point as the `tflite-studio` command."""

from studio.cli import main

raise SystemExit(main())
