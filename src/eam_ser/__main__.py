"""`python -m eam_ser` runs the `eam-ser` command (also under `torchrun -m eam_ser`)."""

import sys

from eam_ser.cli import main

sys.exit(main())
