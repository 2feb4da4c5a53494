"""``python -m ssooidc``."""

import sys

from ssooidc.cli import main

sys.exit(main())
