"""`python -m kf_lsp ...` is `kf ...`."""

import sys

from kf_lsp.main import main

sys.exit(main())
