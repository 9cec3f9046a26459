"""Entry point: ``python3 -m olympus_zeus PLAN_MODULE [ROOT_ACTION]``.

Started by the Olympus agent with ZEUS_MASTER_FD set; see ../README.md for
how to write a plan and worker.py / command.py for the protocol.
"""

import sys

from .worker import main

sys.exit(main(sys.argv))
