"""`python -m gpuproxy.worker` runs the worker agent."""

import sys

from gpuproxy.worker.agent import main

sys.exit(main())
