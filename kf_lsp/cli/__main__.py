"""`python -m kf_lsp.cli ...`: kept for editor settings written before kf_lsp/ had fronts; it is
`python -m kf_lsp ...` (the launcher, kf_lsp/main.py)."""

import sys

from kf_lsp.main import main

sys.exit(main())
