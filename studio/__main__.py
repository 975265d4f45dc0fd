"""`python -m studio` is the same as the `tflite-studio` command."""

from studio.cli import main

raise SystemExit(main())
