"""The writers of the demo recordings (``extract/recordings/<source>/<millésime>/``): real formats, synthetic values
(INSEE's real QPV populations for one millésime). Test-data code: it lives with the tests, out of the installed
packages, and may import any layer. Regenerate with ``python -m tests.recordings.generate``."""
